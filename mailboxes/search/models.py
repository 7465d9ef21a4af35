"""What the search index keeps in the database.

``SearchDocument`` is one indexed mailbox item: what is needed to match,
order and cut snippets without touching the message tables. On PostgreSQL
its ``tsvector`` columns hold the weighted terms (GIN indexes, created by a
vendor-guarded migration); on SQLite those columns stay empty and an FTS5
table ``search_fts`` (rowid = item id) holds the terms instead.

Folder, labels and flags are not copied: the database backend filters them
on ``MailboxItem`` itself, so they are never stale. What is copied (date,
size, attachments) does not change after delivery.
"""

from django.db import models
from django.db.models import Lookup
from django.utils import timezone

from mailboxes.models import MailboxItem


class TSVectorField(models.Field):
    """A PostgreSQL ``tsvector`` (an unused, untyped column on SQLite)."""

    description = "Full-text terms"

    def db_type(self, connection):
        return "tsvector"


@TSVectorField.register_lookup
class Matches(Lookup):
    """``tsv__matches=query``: ``tsv @@ query::tsquery`` with the query in tsquery input syntax.

    Not ``to_tsquery``: the terms are already made by ``mailboxes.search.text``
    and PostgreSQL's parser must not split them again.
    """

    lookup_name = "matches"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} @@ ({rhs})::tsquery", [*lhs_params, *rhs_params]

    def get_db_prep_lookup(self, value, connection):
        return ("%s", [value])


@TSVectorField.register_lookup
class Checks(Matches):
    """``tsv__checks=query``: the same test as ``matches`` by ``ts_match_vq``, which no index can answer.

    For a plan decided in advance (see the database backend): the test is made on rows reached
    otherwise, and the planner cannot swap in the GIN index.
    """

    lookup_name = "checks"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"ts_match_vq({lhs}, ({rhs})::tsquery)", [*lhs_params, *rhs_params]


class SearchDocument(models.Model):
    # No database constraint: an item deleted before the indexer runs leaves
    # a document that no query joins to, purged later (reindex --purge).
    item = models.OneToOneField(
        MailboxItem,
        primary_key=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="search_document",
    )
    user_id = models.BigIntegerField()
    received_at = models.DateTimeField(help_text="The item's, copied so that the index orders by itself.")
    size = models.BigIntegerField(default=0)
    has_attachments = models.BooleanField(default=False)
    subject = models.TextField(blank=True)
    body = models.TextField(blank=True, help_text="The start of the readable text, for snippets.")
    indexed_at = models.DateTimeField(default=timezone.now)
    tsv = TSVectorField(null=True, help_text="subject A, people B, body C, file names D")
    from_tsv = TSVectorField(null=True)
    to_tsv = TSVectorField(null=True)
    cc_tsv = TSVectorField(null=True)

    class Meta:
        db_table = "search_document"
        indexes = [models.Index(fields=["user_id", "-received_at", "-item"], name="search_doc_user_recent")]

    def __str__(self):
        return f"search document of item {self.item_id}"


class IndexCursor(models.Model):
    """How far the indexer has followed a feed (``MailboxChange`` ids, or item ids for the sweep)."""

    name = models.CharField(max_length=50, primary_key=True)
    position = models.BigIntegerField(default=0)
    # Change ids below ``position`` not there yet when it passed them -> when that was first seen (epoch
    # seconds): a transaction that took its id before a later one may commit after it (indexing.py).
    gaps = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.name} at {self.position}"
