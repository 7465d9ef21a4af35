"""PostgreSQL: each document's user and date by item id, read without the table.

A required label is planned by reading its items' dates (``probe_labels``); with this index
that is an index-only scan per item instead of a visit to the document's row.
"""

from django.db import migrations


def _run(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("search", "0002_fulltext_structures")]

    operations = [
        migrations.RunPython(
            _run("CREATE INDEX search_document_item_dated ON search_document (item_id) INCLUDE (user_id, received_at)"),
            _run("DROP INDEX IF EXISTS search_document_item_dated"),
        ),
    ]
