"""Putting stored messages into a user's mailbox."""

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from core.bulk import insert_objects
from mailboxes.conversations import (
    find_or_start_thread,
    message_thread_keys,
    normalize_subject,
    refresh_thread,
    summarise_new_thread,
)
from mailboxes.models import Folder, MailboxChange, MailboxItem, Message, Thread, ThreadKey
from mailboxes.services.correspondents import record_received_items

logger = logging.getLogger(__name__)


def lock_mailbox(user) -> None:
    """Serialise changes to one user's threads (a row lock; SQLite serialises writes anyway)."""
    get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk").first()


def place_message(
    *,
    user,
    message: Message,
    origin: str = MailboxItem.Origin.RECEIVED,
    folder: str = Folder.INBOX,
    is_read: bool = False,
    received_at=None,
    new_sent_message: bool = False,
) -> MailboxItem:
    """The user's item for ``message``, created in ``folder`` and threaded if it is new.

    ``new_sent_message``: ``message`` was stored in this transaction with a
    Message-ID made here (``send_message``): nobody holds it yet and no thread
    key names it, so neither is looked up (two queries less per send). Said
    of any other message, the unique constraint refuses a second copy, but a
    thread waiting for it would not be found.

    Idempotent: placing the same message twice for the same user and origin
    returns the first item unchanged. A received message is also the same
    when it is a true duplicate of one the user already holds: the same
    Message-ID *and* the same content apart from the headers added in transit
    (``Message.content_fingerprint``), as a retried delivery is. It is then
    shown once, the collapse is logged, and the caller deletes the duplicate
    ``Message`` if nobody else holds it (``store.delete_orphan_messages``).
    Another message reusing a Message-ID (From is not authenticated: a forger
    may send one first) is kept, and joins the first one's thread.
    """
    with transaction.atomic():
        lock_mailbox(user)
        existing = (
            None if new_sent_message else MailboxItem.objects.filter(user=user, message=message, origin=origin).first()
        )
        if existing is None and origin == MailboxItem.Origin.RECEIVED and _sameness(message):
            # Two queries, not one with OR: an OR across the join to Message cannot use the
            # indexes, and its cost grows with the mailbox.
            existing = (
                MailboxItem.objects.filter(
                    user=user,
                    origin=origin,
                    message__message_id=message.message_id,
                    message__content_fingerprint=message.content_fingerprint,
                )
                .order_by("pk")
                .first()
            )
            if existing:
                _log_collapse(user.pk, message, existing)
        if existing:
            return existing
        received_at = received_at or timezone.now()
        first_item = {"folder": folder, "is_read": is_read, "received_at": received_at}
        thread, new_thread = find_or_start_thread(
            user=user, message=message, first_item=first_item, new_message_id=new_sent_message
        )
        item = MailboxItem.objects.create(
            user=user,
            message=message,
            thread=thread,
            origin=origin,
            folder=folder,
            is_read=is_read,
            received_at=received_at,
        )
        if not new_thread:  # a thread started here was created with its summary
            refresh_thread(thread)
        if origin == MailboxItem.Origin.RECEIVED:
            MailboxChange.objects.create(user=user, item_id=item.pk, kind=MailboxChange.Kind.NEW)
            record_received_items([item])
    return item


def lock_mailboxes(users) -> None:
    """``lock_mailbox`` for several users at once, in one order (by id), so two batches cannot deadlock."""
    pks = sorted({user.pk for user in users})
    if pks:
        list(get_user_model().objects.select_for_update().filter(pk__in=pks).order_by("pk").values_list("pk"))


@dataclass(frozen=True)
class Delivery:
    """A received message to place with ``place_messages``."""

    message: Message
    folder: str = Folder.INBOX
    received_at: datetime | None = None


def place_messages(*, user, deliveries: list[Delivery]) -> list[MailboxItem]:
    """``place_message`` for many received messages of one user: the user's item for each, in order.

    The outcome is that of placing them one by one in this order (duplicates,
    threads, summaries, the new-mail changes), also for duplicates and replies
    within the batch, but in a few statements for the whole batch: one read of
    what the mailbox already holds, then one ``INSERT`` each of threads, thread
    keys, items and changes, and one summary refresh per existing thread that
    got new items. A message that cannot be decided from that one read (it
    merges two threads, or the subject fallback could match) is placed by
    ``place_message`` once the messages before it are written; the rest then
    go on together.
    """
    return place_for_users({user: deliveries})[user.pk]


def place_for_users(deliveries_by_user: dict) -> dict[int, list[MailboxItem]]:
    """``place_messages`` for several users at once: ``{user: deliveries}`` -> ``{user pk: items}``.

    The reads and the writes are shared too: a batch for a hundred users costs
    the statements of a batch for one (each user's mailbox is still worked out
    on its own).
    """
    items = {user.pk: [] for user in deliveries_by_user}
    rest = {user: list(deliveries) for user, deliveries in deliveries_by_user.items() if deliveries}
    with transaction.atomic():
        lock_mailboxes(rest)
        while rest:
            state = _MailboxState(rest)
            runs = [_Run(user, deliveries, state) for user, deliveries in rest.items()]
            placed = [run.decide() for run in runs]
            _write(runs)
            next_rest = {}
            for run, done in zip(runs, placed, strict=True):
                items[run.user.pk] += done
                remaining = run.deliveries[len(done) :]
                if remaining:  # the next one needs the one-by-one path
                    one = remaining.pop(0)
                    item = place_message(
                        user=run.user, message=one.message, folder=one.folder, received_at=one.received_at
                    )
                    items[run.user.pk].append(item)
                if remaining:
                    next_rest[run.user] = remaining
            rest = next_rest
    return items


class _MailboxState:
    """What the mailboxes of some users already hold that placing these deliveries depends on: four reads for all."""

    def __init__(self, deliveries_by_user: dict):
        user_pks = [user.pk for user in deliveries_by_user]
        messages = list({d.message.pk: d.message for ds in deliveries_by_user.values() for d in ds}.values())
        self.held = defaultdict(dict)  # user pk -> {message pk: item}
        self.held_by_id = defaultdict(dict)  # user pk -> {(Message-ID, fingerprint): the oldest item}, as place_message
        self.threads_by_key = defaultdict(dict)  # user pk -> {thread key: thread}
        self.waiting_subjects = defaultdict(set)  # user pk -> subjects of threads still waiting for their parent
        mailbox = MailboxItem.objects.filter(user__in=user_pks, origin=MailboxItem.Origin.RECEIVED)
        for item in mailbox.filter(message__in=[m.pk for m in messages]):
            self.held[item.user_id][item.message_id] = item
        sameness = {_sameness(m) for m in messages} - {None}
        if sameness:
            copies = mailbox.filter(
                message__message_id__in={message_id for message_id, _ in sameness},
                message__content_fingerprint__in={fingerprint for _, fingerprint in sameness},
            )
            for item in copies.select_related("message").order_by("pk"):
                self.held_by_id[item.user_id].setdefault(_sameness(item.message), item)
        keys = {key for m in messages for key in message_thread_keys(m)}
        if keys:
            threads = {}
            for row in ThreadKey.objects.filter(user__in=user_pks, message_key__in=keys).select_related("thread"):
                self.threads_by_key[row.user_id][row.message_key] = threads.setdefault(row.thread_id, row.thread)
        # Only threads still waiting for their parent take a plain subject (the subject fallback).
        plain = {normalize_subject(m.subject)[0] for m in messages if not (m.in_reply_to or m.references)} - {""}
        if plain:
            waiting = Thread.objects.filter(user__in=user_pks, subject_key__in=plain, starts_with_reply=True)
            for user_pk, subject_key in waiting.values_list("user_id", "subject_key"):
                self.waiting_subjects[user_pk].add(subject_key)


class _Run:
    """Places one user's deliveries in bulk, in order, up to the first one that needs ``place_message``."""

    def __init__(self, user, deliveries: list[Delivery], state: _MailboxState):
        self.user = user
        self.deliveries = deliveries
        self.held = state.held[user.pk]
        self.held_by_id = state.held_by_id[user.pk]
        self.threads_by_key = state.threads_by_key[user.pk]
        self.waiting_subjects = state.waiting_subjects[user.pk]
        self.new_threads = {}  # id(thread) -> (thread, its new items)
        self.touched = {}  # pk -> existing thread that gets new items
        self.new_keys = []
        self.new_items = []

    def decide(self) -> list[MailboxItem]:
        """The items of the deliveries up to the first one this run cannot decide (new ones unsaved)."""
        items = []
        placed_by_message, placed_by_id = {}, {}
        for delivery in self.deliveries:
            message = delivery.message
            existing = self.held.get(message.pk) or placed_by_message.get(message.pk)
            sameness = _sameness(message)
            if existing is None and sameness:
                existing = self.held_by_id.get(sameness) or placed_by_id.get(sameness)
                if existing is not None:
                    _log_collapse(self.user.pk, message, existing)
            if existing is not None:
                items.append(existing)
                continue
            thread = self._thread_for(message)
            if thread is None:
                break
            item = MailboxItem(
                user=self.user,
                message=message,
                thread=thread,
                origin=MailboxItem.Origin.RECEIVED,
                folder=delivery.folder,
                is_read=False,
                received_at=delivery.received_at or timezone.now(),
            )
            if id(thread) in self.new_threads:
                self.new_threads[id(thread)][1].append(item)
            self.new_items.append(item)
            items.append(item)
            placed_by_message[message.pk] = item
            if sameness:
                placed_by_id.setdefault(sameness, item)
        return items

    def _thread_for(self, message: Message) -> Thread | None:
        """The message's thread (new ones unsaved), its keys recorded; None when ``place_message`` must decide."""
        keys = message_thread_keys(message)
        has_reply_headers = bool(message.in_reply_to or message.references)
        subject_key, subject_is_reply = normalize_subject(message.subject)
        found = list({id(t): t for t in (self.threads_by_key.get(key) for key in keys) if t is not None}.values())
        if len(found) > 1:
            return None  # a merge
        if found:
            thread = found[0]
            if not has_reply_headers and not subject_is_reply and thread.starts_with_reply:
                return None  # the missing parent of a header-less reply: rare, and place_message records it
            if id(thread) not in self.new_threads:
                self.touched[thread.pk] = thread
        elif not has_reply_headers and subject_key and (subject_is_reply or subject_key in self.waiting_subjects):
            return None  # the subject fallback could match a thread
        else:
            thread = Thread(
                user=self.user,
                subject=message.subject,
                subject_key=subject_key,
                starts_with_reply=False,  # a reply without headers took the path above
                latest_at=message.date or timezone.now(),
            )
            self.new_threads[id(thread)] = (thread, [])
        for key in keys:
            if key not in self.threads_by_key:
                self.threads_by_key[key] = thread
                self.new_keys.append(ThreadKey(user=self.user, thread=thread, message_key=key))
        return thread


def _write(runs: list[_Run]) -> None:
    """The new threads, thread keys, items and new-mail changes of all runs: one INSERT each."""
    for run in runs:
        for thread, items in run.new_threads.values():
            summarise_new_thread(thread, items)
    _create_all(Thread, [thread for run in runs for thread, _ in run.new_threads.values()])
    _create_all(ThreadKey, [key for run in runs for key in run.new_keys])  # with the threads' new ids
    new_items = [item for run in runs for item in run.new_items]
    _create_all(MailboxItem, new_items)
    MailboxChange.record_items(new_items, kind=MailboxChange.Kind.NEW)
    record_received_items(new_items)
    for run in runs:
        for thread in run.touched.values():
            refresh_thread(thread)


def _sameness(message: Message) -> tuple[str, str] | None:
    """What makes two received messages one for ``place_message``: the Message-ID and the content fingerprint.

    None when either is missing (a message stored before fingerprints were kept): never a duplicate then.
    """
    if message.message_id and message.content_fingerprint:
        return message.message_id, message.content_fingerprint
    return None


def _log_collapse(user_pk: int, message: Message, kept: MailboxItem) -> None:
    logger.info(
        "user %s already holds message %s (Message-ID <%s>) as item %s of message %s: the copy is not placed",
        user_pk,
        message.pk,
        message.message_id,
        kept.pk,
        kept.message_id,
    )


def _create_all(model, objects: list) -> None:
    """``bulk_create`` that sets every object's primary key (one by one where the database cannot return them)."""
    if connection.features.can_return_rows_from_bulk_insert:
        insert_objects(objects)
    else:
        for obj in objects:
            obj.save(force_insert=True)
