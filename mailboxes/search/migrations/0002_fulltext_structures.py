"""The full-text indexes, for the database vendor in use.

PostgreSQL: GIN indexes on search_document's tsvector columns (``tsv`` has
subject A, people B, body C, file names D; from/to/cc each have their own
column for the ``from:``/``to:``/``cc:`` operators).
SQLite: an FTS5 table whose rowid is the item id.
"""

from django.db import migrations

POSTGRES_FORWARD = [
    "CREATE INDEX search_document_tsv ON search_document USING gin (tsv)",
    "CREATE INDEX search_document_people ON search_document USING gin (from_tsv, to_tsv, cc_tsv)",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS search_document_people",
    "DROP INDEX IF EXISTS search_document_tsv",
]
SQLITE_FORWARD = [
    "CREATE VIRTUAL TABLE search_fts USING fts5("
    "subject, sender, torcpt, ccrcpt, filenames, body, tokenize = 'unicode61 remove_diacritics 0')",
]
SQLITE_BACKWARD = ["DROP TABLE IF EXISTS search_fts"]


def _run(statements):
    def run(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        for sql in statements.get(vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("search", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRES_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": POSTGRES_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        ),
    ]
