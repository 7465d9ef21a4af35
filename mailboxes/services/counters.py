"""The mailbox counters (``MailboxCounter``): count them again from the items.

Database triggers keep the counters as items are placed, moved, flagged, labelled or deleted
(migration ``0017_mailbox_counters``); nothing in Python adds to them. ``recount_mailbox`` is for
repair (``manage.py recount_mailboxes``); ``count_afresh`` is what the counters must equal.
"""

from django.db import connection, transaction

from mailboxes.models import MailboxCounter

# One user's counters from their items: (user_id, key, total, unread, unread_awake) per key.
_COUNT = """
SELECT user_id, key, COUNT(*), SUM(CASE WHEN NOT is_read THEN 1 ELSE 0 END),
    SUM(CASE WHEN NOT is_read AND snoozed_until IS NULL THEN 1 ELSE 0 END)
FROM (
    SELECT user_id, folder AS key, is_read, snoozed_until FROM mailboxes_mailboxitem WHERE user_id = %(user)s
    UNION ALL
    SELECT user_id, 'starred', is_read, snoozed_until FROM mailboxes_mailboxitem
    WHERE user_id = %(user)s AND is_starred AND folder <> 'trash'
    UNION ALL
    SELECT i.user_id, 'label:' || l.label_id, i.is_read, i.snoozed_until
    FROM mailboxes_mailboxitem i JOIN mailboxes_mailboxitem_labels l ON l.mailboxitem_id = i.id
    WHERE i.user_id = %(user)s AND i.folder <> 'trash'
) AS contributions
GROUP BY user_id, key
"""


def count_afresh(*, user_id: int) -> dict[str, tuple[int, int, int]]:
    """``{key: (total, unread, unread_awake)}`` counted from the items now; keys with no item are absent."""
    with connection.cursor() as cursor:
        cursor.execute(_COUNT, {"user": user_id})
        return {key: (total, unread, awake) for _user, key, total, unread, awake in cursor.fetchall()}


def stored_counters(*, user_id: int) -> dict[str, tuple[int, int, int]]:
    """``{key: (total, unread, unread_awake)}`` as the counters hold them, rows at zero left out."""
    rows = MailboxCounter.objects.filter(user_id=user_id).values_list("key", "total", "unread", "unread_awake")
    return {key: (total, unread, awake) for key, total, unread, awake in rows if (total, unread, awake) != (0, 0, 0)}


def recount_mailbox(*, user_id: int) -> int:
    """Replace the user's counters by a fresh count of their items; the number of counters written.

    For repair: run it when the mailbox is quiet (a change committed while it counts could be missed).
    """
    with transaction.atomic():
        MailboxCounter.objects.filter(user_id=user_id).delete()
        with connection.cursor() as cursor:
            insert = "INSERT INTO mailboxes_mailboxcounter (user_id, key, total, unread, unread_awake)"
            cursor.execute(insert + _COUNT, {"user": user_id})
            return cursor.rowcount
