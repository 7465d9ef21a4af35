# ruff: noqa: S608  (the SQL is built from this module's constants only, never from input)
"""``Thread.inbox_count`` and ``starred_count``: how many of a conversation's items are in the Inbox
and awake, and starred outside the Trash, kept by triggers.

The Inbox lists conversations newest first by ``(latest_at, id)``. Asking of each conversation whether
an Inbox item exists made a mailbox that is 99 % archive walk a hundred archived conversations for
each one shown; with the count kept on the thread, the partial index ``thread_user_inbox`` (``WHERE
inbox_count > 0``) holds only the Inbox's conversations, in the list's order. The star of each
conversation in a list is ``starred_count > 0``, with no query (the planner's pick of index for the
star query of a page changed with the statistics: 486 buffers of a page's 729 at 100,000 messages).

Triggers for the same reason as the counters of 0017: every path that moves an item must be seen
(services, bulk ``update()``, a thread merge that moves items to another thread, cascading deletes).
PostgreSQL: statement-level triggers with transition tables, one grouped update per statement;
SQLite: row-level. The backfill is the query ``manage.py recount_mailboxes`` repairs with.
"""

import importlib

from django.db import migrations, models

_counters = importlib.import_module("mailboxes.migrations.0017_mailbox_counters")
RunSQLPerVendor, statements = _counters.RunSQLPerVendor, _counters.statements

ITEM = "mailboxes_mailboxitem"
THREAD = "mailboxes_thread"
IN_INBOX = "folder = 'inbox' AND snoozed_until IS NULL"  # what the Inbox list shows (``selectors._in_view``)
STARRED = "is_starred AND folder <> 'trash'"  # what makes a conversation starred in a list


def _pg_rows(table: str, sign: int) -> str:
    """(thread_id, inbox, starred) of the rows of a transition table that count, times ``sign``."""
    return (
        f"SELECT thread_id, {sign} * ({IN_INBOX})::int AS inbox, {sign} * ({STARRED})::int AS starred "
        f"FROM {table} WHERE ({IN_INBOX}) OR ({STARRED})"
    )


def _pg_apply(changes: str) -> str:
    """Add ``changes`` to the threads' counts, one update per statement."""
    return f"""
    UPDATE {THREAD} t SET inbox_count = t.inbox_count + d.inbox, starred_count = t.starred_count + d.starred
    FROM (SELECT thread_id, SUM(inbox) AS inbox, SUM(starred) AS starred FROM ({changes}) AS c
          GROUP BY thread_id HAVING SUM(inbox) <> 0 OR SUM(starred) <> 0) AS d
    WHERE t.id = d.thread_id"""


PG_FORWARD = f"""
CREATE FUNCTION mailboxes_thread_inbox_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_pg_apply(_pg_rows("new_rows", 1))};
    RETURN NULL;
END $$;

CREATE FUNCTION mailboxes_thread_inbox_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_pg_apply(_pg_rows("old_rows", -1))};
    RETURN NULL;
END $$;

CREATE FUNCTION mailboxes_thread_inbox_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Each row counted out as it was and in as it is: rows that stayed put cancel out.
    {_pg_apply(_pg_rows("new_rows", 1) + " UNION ALL " + _pg_rows("old_rows", -1))};
    RETURN NULL;
END $$;

CREATE TRIGGER mailboxes_thread_inbox_insert AFTER INSERT ON {ITEM}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION mailboxes_thread_inbox_insert();
CREATE TRIGGER mailboxes_thread_inbox_delete AFTER DELETE ON {ITEM}
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION mailboxes_thread_inbox_delete();
CREATE TRIGGER mailboxes_thread_inbox_update AFTER UPDATE ON {ITEM}
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION mailboxes_thread_inbox_update();
"""

PG_BACKWARD = f"""
DROP TRIGGER IF EXISTS mailboxes_thread_inbox_update ON {ITEM};
DROP TRIGGER IF EXISTS mailboxes_thread_inbox_delete ON {ITEM};
DROP TRIGGER IF EXISTS mailboxes_thread_inbox_insert ON {ITEM};
DROP FUNCTION IF EXISTS mailboxes_thread_inbox_update();
DROP FUNCTION IF EXISTS mailboxes_thread_inbox_delete();
DROP FUNCTION IF EXISTS mailboxes_thread_inbox_insert();
"""


def _sqlite_in_inbox(row: str) -> str:
    return f"({row}.folder = 'inbox' AND {row}.snoozed_until IS NULL)"


def _sqlite_starred(row: str) -> str:
    return f"({row}.is_starred AND {row}.folder <> 'trash')"


def _sqlite_add(row: str, sign: str) -> str:
    return (
        f"UPDATE {THREAD} SET inbox_count = inbox_count {sign} {_sqlite_in_inbox(row)}, "
        f"starred_count = starred_count {sign} {_sqlite_starred(row)} WHERE id = {row}.thread_id;"
    )


SQLITE_FORWARD = f"""
CREATE TRIGGER mailboxes_thread_inbox_insert AFTER INSERT ON {ITEM}
WHEN {_sqlite_in_inbox("NEW")} OR {_sqlite_starred("NEW")}
BEGIN {_sqlite_add("NEW", "+")}
END;
CREATE TRIGGER mailboxes_thread_inbox_delete AFTER DELETE ON {ITEM}
WHEN {_sqlite_in_inbox("OLD")} OR {_sqlite_starred("OLD")}
BEGIN {_sqlite_add("OLD", "-")}
END;
CREATE TRIGGER mailboxes_thread_inbox_update AFTER UPDATE OF thread_id, folder, snoozed_until, is_starred ON {ITEM}
WHEN OLD.thread_id IS NOT NEW.thread_id OR {_sqlite_in_inbox("OLD")} IS NOT {_sqlite_in_inbox("NEW")}
    OR {_sqlite_starred("OLD")} IS NOT {_sqlite_starred("NEW")}
BEGIN
    {_sqlite_add("OLD", "-")}
    {_sqlite_add("NEW", "+")}
END;
"""

SQLITE_BACKWARD = """
DROP TRIGGER IF EXISTS mailboxes_thread_inbox_update;
DROP TRIGGER IF EXISTS mailboxes_thread_inbox_delete;
DROP TRIGGER IF EXISTS mailboxes_thread_inbox_insert;
"""

# The counts of the items already stored (threads with neither keep the default 0s).
BACKFILL = f"""
UPDATE {THREAD} SET inbox_count = counted.inbox, starred_count = counted.starred
FROM (
    SELECT thread_id, SUM(CASE WHEN {IN_INBOX} THEN 1 ELSE 0 END) AS inbox,
        SUM(CASE WHEN {STARRED} THEN 1 ELSE 0 END) AS starred
    FROM {ITEM} WHERE ({IN_INBOX}) OR ({STARRED}) GROUP BY thread_id
) AS counted
WHERE {THREAD}.id = counted.thread_id
"""


class Migration(migrations.Migration):
    dependencies = [
        ("mailboxes", "0017_mailbox_counters"),
    ]

    operations = [
        migrations.AddField(
            model_name="thread",
            name="inbox_count",
            field=models.IntegerField(db_default=0, default=0, editable=False),
        ),
        migrations.AddField(
            model_name="thread",
            name="starred_count",
            field=models.IntegerField(db_default=0, default=0, editable=False),
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
            model_name="thread",
            index=models.Index(
                condition=models.Q(("inbox_count__gt", 0)),
                fields=["user", "-latest_at", "-id"],
                name="thread_user_inbox",
            ),
        ),
    ]
