# ruff: noqa: S608  (the SQL is built from this module's constants only, never from input)
"""``MailboxItem.label_count``: how many labels an item carries, kept by triggers on the labels' table.

A list page shows the labels of its conversations' items. Looking them up item by item probed the
labels' table once for each of a page's 120-odd items, though four in five carry none; with the
count on the item, the partial index ``item_thread_labelled`` holds only labelled items (not in the
Trash), and the page probes the labels' table for those alone.

Triggers for the reasons of 0017: every path that labels or unlabels counts (services, label
deletion cascading to its links, imports). Nothing updates a link in place (Django's many-to-many
rows are only inserted and deleted). PostgreSQL: statement-level triggers with transition tables;
SQLite: row-level.
"""

import importlib

from django.db import migrations, models

_counters = importlib.import_module("mailboxes.migrations.0017_mailbox_counters")
RunSQLPerVendor, statements = _counters.RunSQLPerVendor, _counters.statements

ITEM = "mailboxes_mailboxitem"
THROUGH = "mailboxes_mailboxitem_labels"


def _pg_function(name: str, rows: str, sign: str) -> str:
    return f"""
CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE {ITEM} i SET label_count = i.label_count {sign} d.n
    FROM (SELECT mailboxitem_id, COUNT(*) AS n FROM {rows} GROUP BY mailboxitem_id) AS d
    WHERE i.id = d.mailboxitem_id;
    RETURN NULL;
END $$;
"""


PG_FORWARD = f"""
{_pg_function("mailboxes_item_labels_insert", "new_rows", "+")}
{_pg_function("mailboxes_item_labels_delete", "old_rows", "-")}
CREATE TRIGGER mailboxes_item_labels_insert AFTER INSERT ON {THROUGH}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION mailboxes_item_labels_insert();
CREATE TRIGGER mailboxes_item_labels_delete AFTER DELETE ON {THROUGH}
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION mailboxes_item_labels_delete();
"""

PG_BACKWARD = f"""
DROP TRIGGER IF EXISTS mailboxes_item_labels_delete ON {THROUGH};
DROP TRIGGER IF EXISTS mailboxes_item_labels_insert ON {THROUGH};
DROP FUNCTION IF EXISTS mailboxes_item_labels_delete();
DROP FUNCTION IF EXISTS mailboxes_item_labels_insert();
"""

SQLITE_FORWARD = f"""
CREATE TRIGGER mailboxes_item_labels_insert AFTER INSERT ON {THROUGH}
BEGIN UPDATE {ITEM} SET label_count = label_count + 1 WHERE id = NEW.mailboxitem_id;
END;
CREATE TRIGGER mailboxes_item_labels_delete AFTER DELETE ON {THROUGH}
BEGIN UPDATE {ITEM} SET label_count = label_count - 1 WHERE id = OLD.mailboxitem_id;
END;
"""

SQLITE_BACKWARD = """
DROP TRIGGER IF EXISTS mailboxes_item_labels_delete;
DROP TRIGGER IF EXISTS mailboxes_item_labels_insert;
"""

# The counts of the links already stored (items without a label keep the default 0).
BACKFILL = f"""
UPDATE {ITEM} SET label_count = counted.n
FROM (SELECT mailboxitem_id, COUNT(*) AS n FROM {THROUGH} GROUP BY mailboxitem_id) AS counted
WHERE {ITEM}.id = counted.mailboxitem_id
"""


class Migration(migrations.Migration):
    dependencies = [
        ("mailboxes", "0018_thread_inbox_count"),
    ]

    operations = [
        # The column by hand: on SQLite, AddField of a NOT NULL column rebuilds the table, which drops
        # the triggers on it (0017, 0018) and trips those on the labels' table that name it.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="mailboxitem",
                    name="label_count",
                    field=models.IntegerField(db_default=0, default=0, editable=False),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f"ALTER TABLE {ITEM} ADD COLUMN label_count integer DEFAULT 0 NOT NULL",
                    reverse_sql=f"ALTER TABLE {ITEM} DROP COLUMN label_count",
                ),
            ],
        ),
        RunSQLPerVendor(
            forward={
                "postgresql": [*statements(PG_FORWARD), BACKFILL],
                "sqlite": [*statements(SQLITE_FORWARD), BACKFILL],
            },
            backward={"postgresql": statements(PG_BACKWARD), "sqlite": statements(SQLITE_BACKWARD)},
        ),
        # After the backfill: built once over the rows it leaves.
        migrations.AddIndex(
            model_name="mailboxitem",
            index=models.Index(
                condition=models.Q(("label_count__gt", 0), models.Q(("folder", "trash"), _negated=True)),
                fields=["thread", "id"],
                name="item_thread_labelled",
            ),
        ),
    ]
