"""Background jobs of the message store."""

from celery import shared_task

from mailboxes.blobstore import collect_orphan_blobs


@shared_task(name="mailboxes.sweep_orphan_blobs", ignore_result=True)
def sweep_orphan_blobs() -> int:
    """Delete blobs nothing references (left behind by crashes or rolled-back writes)."""
    return collect_orphan_blobs()
