"""PostgreSQL: a GIN index whose keys are (user, term), so a probe reads one user's matches only.

Every search is scoped to one user. With GIN on ``tsv`` alone, the bitmap of a word holds every
user's matches and the heap is visited for each only to drop the other users' rows: the cost
follows the whole table. ``btree_gin`` on ``(user_id, tsv)`` was tried first and is not used:
its ``=`` is a partial match, which GIN's cost estimate prices as a scan of the whole column,
so PostgreSQL keeps ``user_id`` as a filter (or walks the user's btree) whatever the table's size.

Here the key itself holds the user: ``search_user_terms(user_id, tsv)`` is the document's
lexemes prefixed ``"<user id>:"``, so a term's posting list is that user's documents with it,
and a probe (``mailboxes.search.backends.database``) costs what the user's share holds.
Positions and weights are not kept (the probe ignores them; its candidates are checked
against the whole query on ``tsv``). The single-column GIN indexes are dropped: no query reads
them without the user, and each is written on every insert.

Built ``CONCURRENTLY`` (not in a transaction), so a large table stays writable meanwhile.
"""

from django.db import migrations

POSTGRES_FORWARD = [
    "CREATE OR REPLACE FUNCTION search_user_terms(bigint, tsvector) RETURNS tsvector "
    "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE "
    "AS $$ SELECT array_to_tsvector(ARRAY(SELECT $1::text || ':' || lexeme FROM unnest($2))) $$",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS search_document_user_terms "
    "ON search_document USING gin (search_user_terms(user_id, tsv))",
    "DROP INDEX CONCURRENTLY IF EXISTS search_document_tsv",
    "DROP INDEX CONCURRENTLY IF EXISTS search_document_people",
]
POSTGRES_BACKWARD = [
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS search_document_tsv ON search_document USING gin (tsv)",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS search_document_people "
    "ON search_document USING gin (from_tsv, to_tsv, cc_tsv)",
    "DROP INDEX CONCURRENTLY IF EXISTS search_document_user_terms",
    "DROP FUNCTION IF EXISTS search_user_terms(bigint, tsvector)",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [("search", "0003_document_dates_by_item")]

    operations = [migrations.RunPython(_run(POSTGRES_FORWARD), _run(POSTGRES_BACKWARD))]
