# ruff: noqa: S608  (the SQL is built from this module's constants only, never from input)
"""Per-user counters of items per folder, starred and per label, kept by database triggers.

Triggers, not Python, because every way an item changes must be seen: the services, bulk
``QuerySet.update()``, cascading deletes (a user's deletion), the labels' through table. PostgreSQL
uses statement-level triggers with transition tables (one upsert per statement, however many rows
it touches); SQLite has only row-level triggers. The last operation fills the counters of the items
already stored (one scan of the items, in the migration's transaction).
"""

import re

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

COUNTER = "mailboxes_mailboxcounter"
ITEM = "mailboxes_mailboxitem"
THROUGH = "mailboxes_mailboxitem_labels"

# --- PostgreSQL: statement-level triggers --------------------------------------------------------

# ``changes``: (user_id, id, folder, is_read, is_starred, awake, sign) of the rows a statement touched.
PG_DELTAS = f"""
contributions AS (
    SELECT user_id, folder::varchar AS key, sign, is_read, awake FROM changes
    UNION ALL
    SELECT user_id, 'starred', sign, is_read, awake FROM changes WHERE is_starred AND folder <> 'trash'
    UNION ALL
    SELECT c.user_id, 'label:' || l.label_id, c.sign, c.is_read, c.awake
    FROM changes c JOIN {THROUGH} l ON l.mailboxitem_id = c.id WHERE c.folder <> 'trash'
),
deltas AS (
    SELECT user_id, key, SUM(sign) AS total,
        SUM(CASE WHEN NOT is_read THEN sign ELSE 0 END) AS unread,
        SUM(CASE WHEN NOT is_read AND awake THEN sign ELSE 0 END) AS unread_awake
    FROM contributions GROUP BY user_id, key
)
"""

PG_UPSERT = f"""
INSERT INTO {COUNTER} (user_id, key, total, unread, unread_awake)
SELECT user_id, key, total, unread, unread_awake FROM deltas
WHERE total <> 0 OR unread <> 0 OR unread_awake <> 0
ORDER BY user_id, key
ON CONFLICT (user_id, key) DO UPDATE SET
    total = {COUNTER}.total + EXCLUDED.total,
    unread = {COUNTER}.unread + EXCLUDED.unread,
    unread_awake = {COUNTER}.unread_awake + EXCLUDED.unread_awake
"""

# Deletions only subtract from rows that exist: a user being deleted may have lost its counters first.
PG_SUBTRACT = f"""
UPDATE {COUNTER} c SET total = c.total + d.total, unread = c.unread + d.unread,
    unread_awake = c.unread_awake + d.unread_awake
FROM deltas d WHERE c.user_id = d.user_id AND c.key = d.key
    AND (d.total <> 0 OR d.unread <> 0 OR d.unread_awake <> 0)
"""

ROW = "user_id, id, folder, is_read, is_starred, snoozed_until IS NULL AS awake"

PG_FORWARD = f"""
CREATE FUNCTION mailboxes_counters_item_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH changes AS (SELECT {ROW}, 1 AS sign FROM new_rows), {PG_DELTAS} {PG_UPSERT};
    RETURN NULL;
END $$;

CREATE FUNCTION mailboxes_counters_item_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH changes AS (SELECT {ROW}, -1 AS sign FROM old_rows), {PG_DELTAS} {PG_SUBTRACT};
    RETURN NULL;
END $$;

CREATE FUNCTION mailboxes_counters_item_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH moved AS (
        SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE n.folder IS DISTINCT FROM o.folder OR n.is_read IS DISTINCT FROM o.is_read
            OR n.is_starred IS DISTINCT FROM o.is_starred
            OR (n.snoozed_until IS NULL) IS DISTINCT FROM (o.snoozed_until IS NULL)
            OR n.user_id IS DISTINCT FROM o.user_id
    ),
    changes AS (
        SELECT {ROW}, 1 AS sign FROM new_rows WHERE id IN (SELECT id FROM moved)
        UNION ALL
        SELECT {ROW}, -1 AS sign FROM old_rows WHERE id IN (SELECT id FROM moved)
    ),
    {PG_DELTAS} {PG_UPSERT};
    RETURN NULL;
END $$;

CREATE TRIGGER mailboxes_counters_item_insert AFTER INSERT ON {ITEM}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION mailboxes_counters_item_insert();
CREATE TRIGGER mailboxes_counters_item_delete AFTER DELETE ON {ITEM}
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION mailboxes_counters_item_delete();
CREATE TRIGGER mailboxes_counters_item_update AFTER UPDATE ON {ITEM}
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION mailboxes_counters_item_update();

CREATE FUNCTION mailboxes_counters_label_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH changes AS (
        SELECT i.user_id, i.is_read, i.snoozed_until IS NULL AS awake, n.label_id
        FROM new_rows n JOIN {ITEM} i ON i.id = n.mailboxitem_id WHERE i.folder <> 'trash'
    ),
    deltas AS (
        SELECT user_id, 'label:' || label_id AS key, COUNT(*) AS total,
            SUM(CASE WHEN NOT is_read THEN 1 ELSE 0 END) AS unread,
            SUM(CASE WHEN NOT is_read AND awake THEN 1 ELSE 0 END) AS unread_awake
        FROM changes GROUP BY user_id, label_id
    )
    {PG_UPSERT};
    RETURN NULL;
END $$;

CREATE FUNCTION mailboxes_counters_label_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH changes AS (
        SELECT i.user_id, i.is_read, i.snoozed_until IS NULL AS awake, o.label_id
        FROM old_rows o JOIN {ITEM} i ON i.id = o.mailboxitem_id WHERE i.folder <> 'trash'
    ),
    deltas AS (
        SELECT user_id, 'label:' || label_id AS key, -COUNT(*) AS total,
            -SUM(CASE WHEN NOT is_read THEN 1 ELSE 0 END) AS unread,
            -SUM(CASE WHEN NOT is_read AND awake THEN 1 ELSE 0 END) AS unread_awake
        FROM changes GROUP BY user_id, label_id
    )
    {PG_SUBTRACT};
    RETURN NULL;
END $$;

CREATE TRIGGER mailboxes_counters_label_insert AFTER INSERT ON {THROUGH}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION mailboxes_counters_label_insert();
CREATE TRIGGER mailboxes_counters_label_delete AFTER DELETE ON {THROUGH}
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION mailboxes_counters_label_delete();
"""

PG_BACKWARD = f"""
DROP TRIGGER IF EXISTS mailboxes_counters_label_delete ON {THROUGH};
DROP TRIGGER IF EXISTS mailboxes_counters_label_insert ON {THROUGH};
DROP TRIGGER IF EXISTS mailboxes_counters_item_update ON {ITEM};
DROP TRIGGER IF EXISTS mailboxes_counters_item_delete ON {ITEM};
DROP TRIGGER IF EXISTS mailboxes_counters_item_insert ON {ITEM};
DROP FUNCTION IF EXISTS mailboxes_counters_label_delete();
DROP FUNCTION IF EXISTS mailboxes_counters_label_insert();
DROP FUNCTION IF EXISTS mailboxes_counters_item_update();
DROP FUNCTION IF EXISTS mailboxes_counters_item_delete();
DROP FUNCTION IF EXISTS mailboxes_counters_item_insert();
"""

# --- SQLite: row-level triggers -----------------------------------------------------------------


def _sqlite_add(row: str, sign: int) -> str:
    """Statements adding ``sign`` times the item ``row`` (NEW or OLD) to its counters."""
    unread = f"{sign} * (NOT {row}.is_read)"
    awake = f"{sign} * (NOT {row}.is_read AND {row}.snoozed_until IS NULL)"
    conflict = """ON CONFLICT (user_id, key) DO UPDATE SET total = total + excluded.total,
        unread = unread + excluded.unread, unread_awake = unread_awake + excluded.unread_awake"""
    if sign > 0:
        return f"""
    INSERT INTO {COUNTER} (user_id, key, total, unread, unread_awake)
        SELECT {row}.user_id, {row}.folder, 1, {unread}, {awake} WHERE 1 {conflict};
    INSERT INTO {COUNTER} (user_id, key, total, unread, unread_awake)
        SELECT {row}.user_id, 'starred', 1, {unread}, {awake}
        WHERE {row}.is_starred AND {row}.folder <> 'trash' {conflict};
    INSERT INTO {COUNTER} (user_id, key, total, unread, unread_awake)
        SELECT {row}.user_id, 'label:' || l.label_id, 1, {unread}, {awake}
        FROM {THROUGH} l WHERE l.mailboxitem_id = {row}.id AND {row}.folder <> 'trash' {conflict};"""
    subtract = f"total = total - 1, unread = unread + {unread}, unread_awake = unread_awake + {awake}"
    return f"""
    UPDATE {COUNTER} SET {subtract} WHERE user_id = {row}.user_id AND key = {row}.folder;
    UPDATE {COUNTER} SET {subtract}
        WHERE user_id = {row}.user_id AND key = 'starred' AND {row}.is_starred AND {row}.folder <> 'trash';
    UPDATE {COUNTER} SET {subtract}
        WHERE user_id = {row}.user_id AND {row}.folder <> 'trash'
            AND key IN (SELECT 'label:' || label_id FROM {THROUGH} WHERE mailboxitem_id = {row}.id);"""


def _sqlite_label(row: str, sign: int) -> str:
    item = f"(SELECT * FROM {ITEM} WHERE id = {row}.mailboxitem_id AND folder <> 'trash')"
    if sign > 0:
        return f"""
    INSERT INTO {COUNTER} (user_id, key, total, unread, unread_awake)
        SELECT i.user_id, 'label:' || {row}.label_id, 1, NOT i.is_read, NOT i.is_read AND i.snoozed_until IS NULL
        FROM {item} AS i WHERE 1
        ON CONFLICT (user_id, key) DO UPDATE SET total = total + excluded.total,
            unread = unread + excluded.unread, unread_awake = unread_awake + excluded.unread_awake;"""
    return f"""
    UPDATE {COUNTER} SET total = total - 1,
        unread = unread - (SELECT NOT i.is_read FROM {item} AS i),
        unread_awake = unread_awake - (SELECT NOT i.is_read AND i.snoozed_until IS NULL FROM {item} AS i)
    WHERE key = 'label:' || {row}.label_id AND user_id = (SELECT i.user_id FROM {item} AS i);"""


SQLITE_FORWARD = f"""
CREATE TRIGGER mailboxes_counters_item_insert AFTER INSERT ON {ITEM} BEGIN {_sqlite_add("NEW", 1)}
END;
CREATE TRIGGER mailboxes_counters_item_delete AFTER DELETE ON {ITEM} BEGIN {_sqlite_add("OLD", -1)}
END;
CREATE TRIGGER mailboxes_counters_item_update AFTER UPDATE OF user_id, folder, is_read, is_starred, snoozed_until
ON {ITEM}
WHEN OLD.user_id IS NOT NEW.user_id OR OLD.folder IS NOT NEW.folder OR OLD.is_read IS NOT NEW.is_read
    OR OLD.is_starred IS NOT NEW.is_starred OR (OLD.snoozed_until IS NULL) IS NOT (NEW.snoozed_until IS NULL)
BEGIN {_sqlite_add("OLD", -1)} {_sqlite_add("NEW", 1)}
END;
CREATE TRIGGER mailboxes_counters_label_insert AFTER INSERT ON {THROUGH} BEGIN {_sqlite_label("NEW", 1)}
END;
CREATE TRIGGER mailboxes_counters_label_delete AFTER DELETE ON {THROUGH} BEGIN {_sqlite_label("OLD", -1)}
END;
"""

SQLITE_BACKWARD = """
DROP TRIGGER IF EXISTS mailboxes_counters_label_delete;
DROP TRIGGER IF EXISTS mailboxes_counters_label_insert;
DROP TRIGGER IF EXISTS mailboxes_counters_item_update;
DROP TRIGGER IF EXISTS mailboxes_counters_item_delete;
DROP TRIGGER IF EXISTS mailboxes_counters_item_insert;
"""

# The counters of the items already stored (the same query as ``manage.py recount_mailboxes``).
BACKFILL = f"""
INSERT INTO {COUNTER} (user_id, key, total, unread, unread_awake)
SELECT user_id, key, COUNT(*), SUM(CASE WHEN NOT is_read THEN 1 ELSE 0 END),
    SUM(CASE WHEN NOT is_read AND snoozed_until IS NULL THEN 1 ELSE 0 END)
FROM (
    SELECT user_id, folder AS key, is_read, snoozed_until FROM {ITEM}
    UNION ALL
    SELECT user_id, 'starred', is_read, snoozed_until FROM {ITEM} WHERE is_starred AND folder <> 'trash'
    UNION ALL
    SELECT i.user_id, 'label:' || l.label_id, i.is_read, i.snoozed_until
    FROM {ITEM} i JOIN {THROUGH} l ON l.mailboxitem_id = i.id WHERE i.folder <> 'trash'
) AS contributions
GROUP BY user_id, key
"""


def statements(script: str) -> list[str]:
    """The statements of a script, each starting a line with CREATE or DROP."""
    return [part.strip() for part in re.split(r";\s*\n(?=CREATE|DROP)", script.strip().rstrip(";"))]


class RunSQLPerVendor(migrations.RunSQL):
    """``RunSQL`` with one script per database vendor (``connection.vendor``)."""

    def __init__(self, *, forward: dict[str, list[str]], backward: dict[str, list[str]]):
        self.forward, self.backward = forward, backward
        super().__init__(sql="", reverse_sql="")

    def deconstruct(self):
        return self.__class__.__name__, [], {"forward": self.forward, "backward": self.backward}

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        self._run(schema_editor, self.forward)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        self._run(schema_editor, self.backward)

    def _run(self, schema_editor, scripts):
        # One statement at a time (SQLite's driver takes no more), whole: their bodies hold semicolons.
        for statement in scripts[schema_editor.connection.vendor]:
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("mailboxes", "0016_trusted_image_senders_delay_notice"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="MailboxCounter",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("key", models.CharField(max_length=40)),
                ("total", models.BigIntegerField(default=0)),
                ("unread", models.BigIntegerField(default=0)),
                ("unread_awake", models.BigIntegerField(default=0)),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("user", "key"), name="counter_one_per_user_key")],
            },
        ),
        RunSQLPerVendor(
            forward={
                "postgresql": [*statements(PG_FORWARD), BACKFILL],
                "sqlite": [*statements(SQLITE_FORWARD), BACKFILL],
            },
            backward={"postgresql": statements(PG_BACKWARD), "sqlite": statements(SQLITE_BACKWARD)},
        ),
    ]
