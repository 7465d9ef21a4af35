"""Background jobs of the message store."""

from celery import shared_task

from mailboxes.blobstore import collect_orphan_blobs


@shared_task(name="mailboxes.sweep_orphan_blobs", ignore_result=True)
def sweep_orphan_blobs() -> int:
    """Delete blobs nothing references (left behind by crashes or rolled-back writes)."""
    return collect_orphan_blobs()


@shared_task(name="mailboxes.send_scheduled_draft", ignore_result=True)
def send_scheduled_draft(item_id: int) -> None:
    """Send a draft once its undo window has passed (does nothing if it was undone or already sent)."""
    from mailboxes.services.undo import send_due_draft

    send_due_draft(item_id=item_id)


@shared_task(name="mailboxes.send_due_messages", ignore_result=True)
def send_due_messages() -> int:
    from mailboxes.services.undo import send_due_messages as sweep

    return sweep()


@shared_task(name="mailboxes.import_mailbox", ignore_result=True)
def import_mailbox(job_id: int) -> bool:
    """Import an uploaded mbox or Maildir archive (does nothing if another run has it, or had it)."""
    from mailboxes.services.transfer import run_import_job

    return run_import_job(job_id=job_id)


@shared_task(name="mailboxes.redispatch_import_jobs", ignore_result=True)
def redispatch_import_jobs() -> int:
    from mailboxes.services.transfer import redispatch_import_jobs as redispatch

    return redispatch()


@shared_task(name="mailboxes.wake_snoozed", ignore_result=True)
def wake_snoozed() -> int:
    """Bring snoozed conversations that are due back to the Inbox (runs every minute)."""
    from mailboxes.services.snooze import wake_snoozed as wake

    return wake()


@shared_task(name="mailboxes.purge_undoable_actions", ignore_result=True)
def purge_undoable_actions() -> int:
    from mailboxes.services.undoable import purge_undoable_actions as purge

    return purge()
