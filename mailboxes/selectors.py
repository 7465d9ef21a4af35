"""Reads of the message store, always scoped to one user.

An id that belongs to someone else raises the same ``NotFound`` as an id
that does not exist.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, F, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils import timezone

from accounts.selectors import addresses_of
from mailboxes.blobstore import read_blob
from mailboxes.cursors import InvalidCursor, keyset_page, older_than
from mailboxes.exceptions import ItemNotFound, LabelNotFound
from mailboxes.models import (
    Correspondent,
    Folder,
    Label,
    MailboxChange,
    MailboxCounter,
    MailboxItem,
    Recipient,
    Thread,
)

# Ids are 64-bit; a larger number is no id (and SQLite raises OverflowError on it).
_MAX_PK = 2**63 - 1


def parse_pk(value) -> int | None:
    """An id from user input (an int or a string of ASCII digits), or None; never raises.

    ``int()`` alone would also take ``1.5``, ``True`` or ``"١"``: each would
    quietly name some other object.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not (value.isascii() and value.isdigit()):
            return None
        value = int(value)
    if not isinstance(value, int):
        return None
    return value if 0 < value <= _MAX_PK else None


def items_for(user) -> QuerySet[MailboxItem]:
    return (
        MailboxItem.objects.filter(user=user)
        .select_related("message", "thread")
        .prefetch_related(Prefetch("labels", queryset=Label.objects.order_by("name")))
    )


def get_item_for_user(*, user, item_id) -> MailboxItem:
    item = items_for(user).filter(pk=parse_pk(item_id)).first()
    if item is None:
        raise ItemNotFound("No such message.")
    return item


def items_in_folder(*, user, folder: str) -> QuerySet[MailboxItem]:
    return items_for(user).filter(folder=folder).order_by("-received_at", "-pk")


def starred_items(*, user) -> QuerySet[MailboxItem]:
    return items_for(user).filter(is_starred=True).exclude(folder=Folder.TRASH).order_by("-received_at", "-pk")


def get_label_for_user(*, user, label_id) -> Label:
    label = Label.objects.filter(user=user, pk=parse_pk(label_id)).first()
    if label is None:
        raise LabelNotFound("No such label.")
    return label


def labelled_items(*, user, label_id) -> QuerySet[MailboxItem]:
    """The user's items carrying one of their labels; someone else's label is not found."""
    label = get_label_for_user(user=user, label_id=label_id)
    return items_for(user).filter(labels=label).exclude(folder=Folder.TRASH).order_by("-received_at", "-pk")


def get_thread_for_user(*, user, thread_id) -> Thread:
    thread = Thread.objects.filter(user=user, pk=parse_pk(thread_id)).first()
    if thread is None:
        raise ItemNotFound("No such conversation.")
    return thread


def thread_items(*, user, thread_id) -> QuerySet[MailboxItem]:
    thread = get_thread_for_user(user=user, thread_id=thread_id)
    return items_for(user).filter(thread=thread).order_by("received_at", "pk")


def folder_counts(*, user) -> dict[str, dict[str, int]]:
    """``{folder: {"total": n, "unread": m}}`` for every folder, from the counters (one query)."""
    rows = MailboxCounter.objects.filter(user=user, key__in=Folder.values).values_list("key", "total", "unread")
    counts = {folder: {"total": 0, "unread": 0} for folder in Folder.values}
    for key, total, unread in rows:
        counts[key] = {"total": total, "unread": unread}
    return counts


def raw_message_for_user(*, user, item_id) -> bytes:
    """The exact stored bytes ("show original")."""
    return read_blob(get_item_for_user(user=user, item_id=item_id).message.blob)


def delivery_status_for_user(*, user, item_id) -> QuerySet[Recipient]:
    """Per-recipient delivery state, only for the sender's own copy (recipients never see each other's bcc)."""
    item = get_item_for_user(user=user, item_id=item_id)
    if item.origin != MailboxItem.Origin.SENT or item.message.sender_id != user.pk:
        return Recipient.objects.none()
    return item.message.recipients.order_by("pk")


# --- Conversation lists (the webmail's message list) ---------------------------------

# What a list shows: a folder, the starred mail, or one label.
STARRED = "starred"
LABEL = "label"
SNOOZED = "snoozed"  # inbox mail snoozed until later, hidden from the Inbox until then
LIST_VIEWS = (*Folder.values, STARRED, SNOOZED)


@dataclass
class ConversationPage:
    threads: list[Thread]
    next_cursor: str | None


def _in_view(*, user, view: str, label: Label | None = None) -> Q:
    """Items of ``user`` that put a conversation in the list ``view``."""
    items = Q(user=user)
    if view == STARRED:
        return items & Q(is_starred=True) & ~Q(folder=Folder.TRASH)
    if view == LABEL:
        return items & Q(labels=label) & ~Q(folder=Folder.TRASH)
    if view == SNOOZED:
        return items & Q(snoozed_until__isnull=False)
    if view == Folder.INBOX:
        return items & Q(folder=view, snoozed_until__isnull=True)
    if view not in Folder.values:
        raise ItemNotFound("No such folder.")
    return items & Q(folder=view)


def _threads_in_view(*, user, view: str, label: Label | None = None) -> QuerySet[Thread]:
    """The user's conversations that have an item in the list ``view``.

    The Inbox reads the count the triggers keep on each thread (``inbox_count``, partial index
    ``thread_user_inbox`` in the list's order): probing each conversation for an Inbox item walked
    every archived one between two shown (a mailbox 99 % archived: 100 probes per row listed).
    """
    threads = Thread.objects.filter(user=user)
    if view == Folder.INBOX:
        return threads.filter(inbox_count__gt=0)
    return threads.filter(
        Exists(MailboxItem.objects.filter(_in_view(user=user, view=view, label=label), thread=OuterRef("pk")))
    )


def conversations(*, user, view: str, label_id=None, cursor: str | None = None, limit: int = 50) -> ConversationPage:
    """One page of the conversations in a list, newest first.

    Keyset pagination on ``(latest_at, id)``: the cursor names the last
    conversation shown, so mail that arrives meanwhile never shifts the pages.
    """
    label = get_label_for_user(user=user, label_id=label_id) if view == LABEL else None
    threads = _threads_in_view(user=user, view=view, label=label)
    if view == SNOOZED:  # the list shows when each comes back
        wakes = MailboxItem.objects.filter(user=user, thread=OuterRef("pk"), snoozed_until__isnull=False)
        threads = threads.annotate(snoozed_until=Subquery(wakes.order_by("snoozed_until").values("snoozed_until")[:1]))
    listing = f"threads:{view}:{label.pk if label else ''}"
    try:
        page, next_cursor = keyset_page(threads, listing=listing, limit=limit, cursor=cursor, field="latest_at")
    except InvalidCursor:  # a link edited by hand: the first page, as for no cursor
        page, next_cursor = keyset_page(threads, listing=listing, limit=limit, cursor=None, field="latest_at")
    attach_thread_stars(page)
    attach_thread_labels(page)
    return ConversationPage(threads=page, next_cursor=next_cursor)


def attach_thread_stars(threads: list[Thread]) -> None:
    """``thread.is_starred`` for a page, from the count the triggers keep on each thread: no query.

    Not an ``EXISTS`` in the list's query (PostgreSQL made it a hashed subplan over every starred
    item of the user), nor a query on the page's threads (its plan followed the statistics: 486 of a
    page's 729 buffers at 100,000 messages when the planner left the partial index).
    """
    for thread in threads:
        thread.is_starred = thread.starred_count > 0


def neighbour_threads(*, user, view: str, thread: Thread, label_id=None) -> tuple[int | None, int | None]:
    """The conversations just newer and just older than ``thread`` in a list (for ``k`` and ``j``)."""
    if view not in LIST_VIEWS and view != LABEL:
        return None, None
    label = get_label_for_user(user=user, label_id=label_id) if view == LABEL else None
    threads = _threads_in_view(user=user, view=view, label=label).exclude(pk=thread.pk)
    at, pk = thread.latest_at, thread.pk
    newer = threads.filter(latest_at__gte=at).exclude(latest_at=at, pk__lte=pk).order_by("latest_at", "pk")
    older = older_than(threads, field="latest_at", at=at, pk=pk).order_by("-latest_at", "-pk")
    return newer.values_list("pk", flat=True).first(), older.values_list("pk", flat=True).first()


def conversations_by_ids(*, user, thread_ids: list[int]) -> list[Thread]:
    """The user's conversations in the order given (search results); unknown ids are skipped."""
    found = {t.pk: t for t in Thread.objects.filter(user=user, pk__in=thread_ids)}
    page = [found[pk] for pk in thread_ids if pk in found]
    attach_thread_stars(page)
    attach_thread_labels(page)
    return page


def attach_thread_labels(threads: list[Thread]) -> None:
    """``thread.label_list``: the labels on any of its items, in one query for the whole page.

    Only items that carry a label (``label_count``, kept by triggers; partial index
    ``item_thread_labelled``) are looked up in the labels' table: probing it for each of a page's
    items cost about 500 of a page's 740 buffers, though four items in five have no label.
    """
    through = MailboxItem.labels.through
    rows = (
        through.objects.filter(mailboxitem__thread_id__in=[t.pk for t in threads], mailboxitem__label_count__gt=0)
        .exclude(mailboxitem__folder=Folder.TRASH)
        .annotate(thread_id=F("mailboxitem__thread_id"))
        .select_related("label")
        .order_by("label__name")
    )
    by_thread: dict[int, dict[int, Label]] = {}
    for row in rows:
        by_thread.setdefault(row.thread_id, {})[row.label_id] = row.label
    for thread in threads:
        thread.label_list = list(by_thread.get(thread.pk, {}).values())


def item_ids_of_threads(*, user, thread_ids, view: str | None = None, label_id=None) -> list[int]:
    """The items behind conversations picked in a list: those the list shows, or all but trashed ones.

    Someone else's conversation id is not found, like one that does not exist.
    """
    ids = [parse_pk(value) for value in thread_ids]
    if not ids or None in ids:
        raise ItemNotFound("No conversation given.")
    owned = set(Thread.objects.filter(user=user, pk__in=ids).values_list("pk", flat=True))
    if len(owned) != len(set(ids)):
        raise ItemNotFound("No such conversation.")
    items = MailboxItem.objects.filter(user=user, thread_id__in=owned)
    if view in Folder.values:
        items = items.filter(folder=view)
    elif view in (STARRED, LABEL, SNOOZED):
        label = get_label_for_user(user=user, label_id=label_id) if view == LABEL else None
        items = items.filter(_in_view(user=user, view=view, label=label))
    else:
        items = items.exclude(folder=Folder.TRASH)
    return list(items.values_list("pk", flat=True))


def sidebar_counts(*, user) -> dict:
    """Unread counts for the sidebar (per folder, starred, per label) and the number of drafts.

    One read of the user's counters (``MailboxCounter``, kept by triggers as mail moves): the
    cost follows the number of folders and labels, not the mailbox. Snoozed mail is out of sight
    until it wakes, so the unread figures leave it out.
    """
    folders = {folder: {"unread": 0, "total": 0} for folder in Folder.values}
    starred, labels = 0, {}
    for key, total, unread in MailboxCounter.objects.filter(user=user).values_list("key", "total", "unread_awake"):
        if key in folders:
            folders[key]["unread"] = unread
            if key == Folder.DRAFTS:
                folders[key]["total"] = total
        elif key == MailboxCounter.STARRED:
            starred = unread
        elif key.startswith(MailboxCounter.LABEL_PREFIX) and unread:
            labels[int(key.removeprefix(MailboxCounter.LABEL_PREFIX))] = unread
    return {"folders": folders, "starred": starred, "labels": labels}


def labels_of(*, user) -> QuerySet[Label]:
    return Label.objects.filter(user=user).order_by("name")


def latest_change_id(*, user) -> int:
    """The newest new-mail entry of the user's change feed, 0 when there is none."""
    changes = MailboxChange.objects.filter(user=user, kind=MailboxChange.Kind.NEW)
    return changes.order_by("-id").values_list("id", flat=True).first() or 0


def correspondents(*, user, prefix: str, limit: int = 8, now: datetime | None = None) -> list[dict]:
    """People the user has written to or heard from whose address, name or a word of the name starts with
    ``prefix``; the user's own addresses never. Best first: mail sent to them counts three times mail
    received from them, and a contact's weight halves every 90 days since the last message.

    Reads only the user's ``Correspondent`` rows (index ``user, address``): the cost follows the number of
    people the user knows, never the size of the mailbox.
    """
    # No stored address or name holds a NUL (and PostgreSQL refuses one in a query parameter).
    prefix = (prefix or "").replace("\x00", "").strip().lower()
    if not prefix:
        return []
    own = {address.lower() for address in addresses_of(user)}
    matches = (
        Correspondent.objects.filter(user=user)
        .filter(Q(address__startswith=prefix) | Q(name__istartswith=prefix) | Q(name__icontains=f" {prefix}"))
        .exclude(address__in=own)
        .order_by("-last_at")
        .values("address", "name", "sent_count", "received_count", "last_at")[:_SUGGESTION_CANDIDATES]
    )
    now = now or timezone.now()

    def weight(row) -> float:
        days = max(0.0, (now - row["last_at"]).total_seconds() / 86400)
        return (3 * row["sent_count"] + row["received_count"]) * 0.5 ** (days / 90)

    ranked = sorted(matches, key=lambda row: (-weight(row), row["address"]))
    return [{"name": row["name"], "address": row["address"]} for row in ranked[:limit]]


# The most recent matches ranked: enough for any prefix a person types, bounded for one-letter ones.
_SUGGESTION_CANDIDATES = 200
