"""Background jobs of search, on the ``indexing`` queue (settings route ``search.*`` there)."""

from celery import shared_task

from mailboxes.search.indexing import index_changes, purge_orphans


@shared_task(name="search.index_changes", ignore_result=True)
def index_changes_task() -> int:
    """Indexes mailbox changes since the last run (scheduled by beat every few seconds)."""
    return index_changes()


@shared_task(name="search.purge_orphans", ignore_result=True)
def purge_orphans_task() -> int:
    """Removes documents of deleted items (they are never shown, only kept), daily from beat."""
    return purge_orphans()
