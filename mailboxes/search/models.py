"""What the search index keeps in the database, beside the backend's own structures.

``SearchDocument`` is one indexed mailbox item: the text shown in snippets
and the item's sort key. The full-text structures themselves are not Django
fields: on PostgreSQL the table also has weighted ``tsvector`` columns with
GIN indexes, on SQLite an FTS5 table ``search_fts`` holds the terms (rowid =
item id); both are created by this app's migrations for their vendor only.
Folder, labels and flags are not copied: the database backend filters them
on ``MailboxItem`` itself, so they are never stale.
"""

from django.db import models
from django.utils import timezone

from mailboxes.models import MailboxItem


class SearchDocument(models.Model):
    # No database constraint: an item deleted before the indexer runs leaves
    # a document that no query joins to, purged by the indexer later.
    item = models.OneToOneField(
        MailboxItem,
        primary_key=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="search_document",
    )
    user_id = models.BigIntegerField(db_index=True)
    subject = models.TextField(blank=True)
    body = models.TextField(blank=True, help_text="The start of the readable text, for snippets.")
    indexed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "search_document"

    def __str__(self):
        return f"search document of item {self.item_id}"


class IndexCursor(models.Model):
    """How far the indexer has followed a feed (``MailboxChange`` ids, or item ids for the sweep)."""

    name = models.CharField(max_length=50, primary_key=True)
    position = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.name} at {self.position}"
