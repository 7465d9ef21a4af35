"""Threading: which conversation of a user's mailbox a message belongs to.

JWZ-style, by Message-ID, In-Reply-To and References. Every ID a message
carries (its own and those it refers to) is recorded as a ``ThreadKey`` of its
thread, so the conversation is the connected set of messages sharing any ID:

- a reply that arrives before its parent creates a thread holding the parent's
  ID; the parent then finds it;
- a message whose IDs are held by two threads proves they are one: they merge.

Only when a message has neither In-Reply-To nor References does the normalised
subject plus a shared participant decide, within a time window. The mailbox
owner is a participant of nearly everything in their mailbox, so their own
addresses (aliases and sub-addresses too) are no evidence and do not count.
"""

import re
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Max, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.selectors import addresses_of
from mailboxes.models import Folder, MailboxItem, Message, Thread, ThreadKey

# "Re:", "RE[2]:", "Fwd:", "AW:", "回复：", "[dev]"… repeated at the start of a subject.
_REPLY_PREFIXES = r"re|aw|sv|vs|antw|odp|rif|回复|回覆|答复"
_FORWARD_PREFIXES = r"fwd?|wg|tr|enc|doorst|转发|轉寄|转寄"
_PREFIX = re.compile(
    rf"^\s*(?:(?P<tag>\[[^\]]{{1,60}}\])|(?P<word>{_REPLY_PREFIXES}|{_FORWARD_PREFIXES})"
    r"\s*(?:\[\d+\]|\(\d+\))?\s*[:：])\s*",
    re.IGNORECASE,
)


def normalize_subject(subject: str) -> tuple[str, bool]:
    """The subject's conversation key, and whether it was marked as a reply or forward."""
    value = subject or ""
    is_reply = False
    while True:
        match = _PREFIX.match(value)
        if not match or match.end() == 0:
            break
        is_reply = is_reply or bool(match.group("word"))
        value = value[match.end() :]
    return " ".join(value.casefold().split())[:255], is_reply


def message_thread_keys(message: Message) -> list[str]:
    keys = [message.message_id, message.in_reply_to, *(message.references or [])]
    return list(dict.fromkeys(k for k in keys if k))


def participant_addresses(message: Message) -> set[str]:
    found = {message.from_address.lower()} if message.from_address else set()
    for entry in [*(message.to or []), *(message.cc or [])]:
        if entry.get("address"):
            found.add(entry["address"].lower())
    return found


def assign_thread(*, user, message: Message) -> Thread:
    """The thread of ``user``'s mailbox that ``message`` belongs to, creating or merging threads.

    The caller holds the user's row lock (see ``placement``), so two messages
    of one conversation arriving at once cannot split it.
    """
    return find_or_start_thread(user=user, message=message)[0]


def find_or_start_thread(
    *, user, message: Message, first_item: dict | None = None, new_message_id: bool = False
) -> tuple[Thread, bool]:
    """``assign_thread``, also saying whether the thread is new.

    ``first_item`` (``folder``, ``is_read``, ``received_at`` of the item about
    to be created) lets a new thread be created with its summary already
    right, so it needs no ``refresh_thread``. ``new_message_id``: the
    message's Message-ID was made here just now (a send), so no thread key can
    name it yet and it is not looked up; its In-Reply-To and References are.
    """
    keys = message_thread_keys(message)
    has_reply_headers = bool(message.in_reply_to or message.references)
    subject_key, subject_is_reply = normalize_subject(message.subject)

    lookup = [key for key in keys if key != message.message_id] if new_message_id else keys
    threads = []
    if lookup:
        threads = list(
            Thread.objects.filter(user=user, keys__message_key__in=lookup).distinct().order_by("created_at", "pk")
        )
    found_by_key = bool(threads)
    if not threads and not has_reply_headers:
        match = _thread_by_subject(user, message, subject_key, subject_is_reply)
        threads = [match] if match else []

    if threads:
        thread = threads[0]
        if len(threads) > 1:
            merge_threads(into=thread, others=threads[1:])
        if not has_reply_headers and not subject_is_reply and thread.starts_with_reply:
            # The missing parent of a header-less reply has arrived.
            thread.starts_with_reply = False
            thread.save(update_fields=["starts_with_reply"])
    else:
        thread = Thread(
            user=user,
            subject=message.subject,
            subject_key=subject_key,
            starts_with_reply=subject_is_reply and not has_reply_headers,
            latest_at=message.date or timezone.now(),
        )
        if first_item is not None:
            _summarise_first_item(thread, message, **first_item)
        thread.save(force_insert=True)

    # Keys already recorded belong to a thread found above; when none was found by key, none is.
    known = (
        set(ThreadKey.objects.filter(user=user, message_key__in=keys).values_list("message_key", flat=True))
        if found_by_key
        else set()
    )
    ThreadKey.objects.bulk_create(
        [ThreadKey(user=user, thread=thread, message_key=key) for key in keys if key not in known]
    )
    return thread, not threads


def _thread_by_subject(user, message: Message, subject_key: str, subject_is_reply: bool) -> Thread | None:
    if not subject_key:
        return None
    reference_time = message.date or timezone.now()
    window = timedelta(days=settings.THREAD_SUBJECT_WINDOW_DAYS)
    candidates = list(
        Thread.objects.filter(user=user, subject_key=subject_key, latest_at__gte=reference_time - window).order_by(
            "-latest_at"
        )[:20]
    )
    if not candidates:
        return None
    people = _others(user, participant_addresses(message))
    if not people:
        return None
    for thread in candidates:
        # A plain subject only joins a thread that is waiting for its parent;
        # otherwise two unrelated "Weekly report" mails would become one.
        if not subject_is_reply and not thread.starts_with_reply:
            continue
        if people & set(thread.addresses):
            return thread
    return None


def _without_subaddress(address: str) -> str:
    local, _, domain = address.rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def _others(user, addresses: set[str]) -> set[str]:
    """``addresses`` without the user's own (lower-case, like ``participant_addresses``)."""
    own = {a.lower() for a in addresses_of(user)}
    return {a for a in addresses if a not in own and _without_subaddress(a) not in own}


def merge_threads(*, into: Thread, others: list[Thread]) -> None:
    other_ids = [t.pk for t in others]
    MailboxItem.objects.filter(thread_id__in=other_ids).update(thread=into)
    ThreadKey.objects.filter(thread_id__in=other_ids).update(thread=into)
    Thread.objects.filter(pk__in=other_ids).delete()
    refresh_thread(into)


def refresh_thread(thread: Thread) -> Thread | None:
    """Recompute a thread's counters and summary from its items; delete it when empty.

    Trash is left out of the summary unless the thread has nothing else.
    """
    items = MailboxItem.objects.filter(thread=thread)
    visible = items.exclude(folder=Folder.TRASH)
    if not visible.exists():
        if not items.exists():
            thread.delete()
            return None
        visible = items
    totals = visible.aggregate(
        messages=Count("message", distinct=True),
        unread=Count("pk", filter=Q(is_read=False) & ~Q(folder=Folder.SPAM)),
        # A conversation woken from a snooze is listed as of its wake time (back at the top).
        latest=Max(Coalesce("woke_at", "received_at")),
        attachments=Count("pk", filter=Q(message__has_attachments=True)),
    )
    rows = list(
        visible.order_by("received_at", "pk").values_list(
            "message__subject",
            "message__from_name",
            "message__from_address",
            "message__to",
            "message__cc",
            "message__snippet",
        )
    )
    _save_summary(thread, rows, totals)
    return thread


def _summarise_first_item(thread: Thread, message: Message, *, folder: str, is_read: bool, received_at) -> None:
    """What ``refresh_thread`` would compute for a thread holding only this item."""
    row = (message.subject, message.from_name, message.from_address, message.to, message.cc, message.snippet)
    totals = {
        "messages": 1,
        "unread": int(not is_read and folder != Folder.SPAM),
        "latest": received_at,
        "attachments": int(message.has_attachments),
    }
    _apply_summary(thread, [row], totals)


def summarise_new_thread(thread: Thread, items: list[MailboxItem]) -> None:
    """What ``refresh_thread`` will compute for a new thread once these unsaved items are inserted, in this order."""
    visible = [item for item in items if item.folder != Folder.TRASH] or items
    visible = sorted(visible, key=lambda item: item.received_at)  # stable: insertion order, as the ids, breaks ties
    rows = [(m.subject, m.from_name, m.from_address, m.to, m.cc, m.snippet) for m in (i.message for i in visible)]
    totals = {
        "messages": len({item.message.pk for item in visible}),
        "unread": sum(1 for item in visible if not item.is_read and item.folder != Folder.SPAM),
        "latest": max(item.received_at for item in visible),
        "attachments": sum(1 for item in visible if item.message.has_attachments),
    }
    _apply_summary(thread, rows, totals)


def _save_summary(thread: Thread, rows: list[tuple], totals: dict) -> None:
    _apply_summary(thread, rows, totals)
    thread.save(
        update_fields=[
            "subject",
            "snippet",
            "message_count",
            "unread_count",
            "latest_at",
            "has_attachments",
            "senders",
            "addresses",
        ]
    )


def _apply_summary(thread: Thread, rows: list[tuple], totals: dict) -> None:
    senders, addresses = {}, set()
    for _subject, from_name, from_address, to, cc, _snippet in rows:
        if from_address:
            senders.setdefault(from_address.lower(), {"name": from_name, "address": from_address})
            addresses.add(from_address.lower())
        addresses.update(e["address"].lower() for e in [*(to or []), *(cc or [])] if e.get("address"))

    thread.subject = rows[0][0]
    thread.snippet = rows[-1][5]
    thread.message_count = totals["messages"]
    thread.unread_count = totals["unread"]
    thread.latest_at = totals["latest"]
    thread.has_attachments = totals["attachments"] > 0
    thread.senders = list(senders.values())[:20]
    thread.addresses = sorted(addresses)[:100]


def refresh_threads(thread_ids) -> None:
    for thread in Thread.objects.filter(pk__in=set(thread_ids)):
        refresh_thread(thread)
