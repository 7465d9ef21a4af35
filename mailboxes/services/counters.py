"""The mailbox counters (``MailboxCounter``, ``Thread.inbox_count`` and ``starred_count``,
``MailboxItem.label_count``):
count them again from the items.

Database triggers keep the counters as items are placed, moved, flagged, labelled or deleted
(migrations ``0017_mailbox_counters``, ``0018_thread_inbox_count``, ``0019_item_label_count``);
nothing in Python adds to them. ``recount_mailbox`` is for repair (``manage.py recount_mailboxes``);
the ``*_afresh`` functions are what the counters must equal.
"""

from django.db import connection, transaction

from mailboxes.models import MailboxCounter, MailboxItem, Thread

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


# One user's conversations with an Inbox item (awake) or a star (not in the Trash): (thread_id, inbox, starred).
_THREAD_COUNTS = """
SELECT thread_id, SUM(CASE WHEN folder = 'inbox' AND snoozed_until IS NULL THEN 1 ELSE 0 END),
    SUM(CASE WHEN is_starred AND folder <> 'trash' THEN 1 ELSE 0 END)
FROM mailboxes_mailboxitem
WHERE user_id = %(user)s AND ((folder = 'inbox' AND snoozed_until IS NULL) OR (is_starred AND folder <> 'trash'))
GROUP BY thread_id
"""

_RECOUNT_THREADS = """
UPDATE mailboxes_thread SET
    inbox_count = (SELECT COUNT(*) FROM mailboxes_mailboxitem i
                   WHERE i.thread_id = mailboxes_thread.id AND i.folder = 'inbox' AND i.snoozed_until IS NULL),
    starred_count = (SELECT COUNT(*) FROM mailboxes_mailboxitem i
                     WHERE i.thread_id = mailboxes_thread.id AND i.is_starred AND i.folder <> 'trash')
WHERE user_id = %(user)s
"""


def thread_counts_afresh(*, user_id: int) -> dict[int, tuple[int, int]]:
    """``{thread_id: (items in the Inbox and awake, starred items not in the Trash)}`` counted now;
    threads with neither are absent."""
    with connection.cursor() as cursor:
        cursor.execute(_THREAD_COUNTS, {"user": user_id})
        return {thread: (inbox, starred) for thread, inbox, starred in cursor.fetchall()}


def stored_thread_counts(*, user_id: int) -> dict[int, tuple[int, int]]:
    """``{thread_id: (inbox_count, starred_count)}`` as the threads hold them, zeros left out."""
    rows = Thread.objects.filter(user_id=user_id).values_list("pk", "inbox_count", "starred_count")
    return {pk: (inbox, starred) for pk, inbox, starred in rows if (inbox, starred) != (0, 0)}


_ITEM_LABELS = """
SELECT l.mailboxitem_id, COUNT(*) FROM mailboxes_mailboxitem_labels l
JOIN mailboxes_mailboxitem i ON i.id = l.mailboxitem_id WHERE i.user_id = %(user)s GROUP BY l.mailboxitem_id
"""

_RECOUNT_ITEM_LABELS = """
UPDATE mailboxes_mailboxitem SET label_count = (
    SELECT COUNT(*) FROM mailboxes_mailboxitem_labels l WHERE l.mailboxitem_id = mailboxes_mailboxitem.id
)
WHERE user_id = %(user)s
"""


def item_labels_afresh(*, user_id: int) -> dict[int, int]:
    """``{item_id: labels it carries}`` counted now; items without a label are absent."""
    with connection.cursor() as cursor:
        cursor.execute(_ITEM_LABELS, {"user": user_id})
        return dict(cursor.fetchall())


def stored_item_labels(*, user_id: int) -> dict[int, int]:
    """``{item_id: label_count}`` as the items hold them, zeros left out."""
    return dict(MailboxItem.objects.filter(user_id=user_id).exclude(label_count=0).values_list("pk", "label_count"))


def counters_are_right(*, user_id: int) -> bool:
    """Whether every kept count of the user equals a fresh count."""
    return (
        stored_counters(user_id=user_id) == count_afresh(user_id=user_id)
        and stored_thread_counts(user_id=user_id) == thread_counts_afresh(user_id=user_id)
        and stored_item_labels(user_id=user_id) == item_labels_afresh(user_id=user_id)
    )


def recount_mailbox(*, user_id: int) -> int:
    """Replace the user's counters (and their threads' Inbox and star counts, their items' label counts) by a
    fresh count of their items; the number of counters written.

    For repair: run it when the mailbox is quiet (a change committed while it counts could be missed).
    """
    with transaction.atomic():
        MailboxCounter.objects.filter(user_id=user_id).delete()
        with connection.cursor() as cursor:
            insert = "INSERT INTO mailboxes_mailboxcounter (user_id, key, total, unread, unread_awake)"
            cursor.execute(insert + _COUNT, {"user": user_id})
            written = cursor.rowcount
            cursor.execute(_RECOUNT_THREADS, {"user": user_id})
            cursor.execute(_RECOUNT_ITEM_LABELS, {"user": user_id})
            return written
