"""The rules on the inbound path: what each recipient's rules make of a message arriving.

The pipeline loads every recipient's rules once per batch (``Rulebooks``: a
handful of queries for the whole batch, nothing cached across batches), asks
``decide`` before the write transaction (pure: no writes, no lock held), places
the message in the folder decided, then calls ``apply_placed`` inside the
placement transaction: labels and flags are written with the placement, and
forwards and vacation replies are dispatched only once it commits.

Order of the rules, per recipient:

1. a blocked sender's mail goes to Trash, and nothing else applies;
2. the filters, in the user's order, all that match (as Gmail); "never send
   to spam" overrides the spam filter's verdict but not a DMARC quarantine or
   reject (the From a filter matches may be forged). Mail still in Spam gets
   no other action: no label, no forward, no reply;
3. forwarding of all mail, and its "keep / archive / trash the copy";
4. the vacation reply, for mail not in Spam or Trash.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import compat32

from django.db import transaction
from django.utils import timezone

from accounts.models import Address
from mailboxes.conversations import refresh_threads
from mailboxes.models import Folder, MailboxItem
from mailboxes.parsing import ParsedMessage
from mailboxes.search.query import QuerySyntaxError, parse_query
from rules.matching import Candidate, matches
from rules.models import AutoForward, BlockedSender, Filter, VacationReply
from rules.services.blocking import is_blocked
from rules.services.forwarding import LOOP_HEADER, forwarding_stops_loop, loop_chain
from rules.services.vacation import auto_reply_target

logger = logging.getLogger(__name__)


@dataclass
class Rulebook:
    """One user's rules, as loaded for one batch."""

    filters: list = field(default_factory=list)  # [(Filter, its parsed query)], in order
    blocked_addresses: set = field(default_factory=set)
    blocked_domains: set = field(default_factory=set)
    vacation: bool = False  # a vacation reply is switched on (its dates are checked when replying)
    forward_all_to: str = ""
    keep: str = AutoForward.Keep.INBOX
    own_addresses: set = field(default_factory=set)  # lower-case; loaded only when a reply or forward may be due

    @property
    def is_empty(self) -> bool:
        return not (self.filters or self.blocked_addresses or self.blocked_domains or self.vacation
                    or self.forward_all_to)  # fmt: skip


class Rulebooks:
    """The rules of the users of one batch: ``load`` once for all, then ``of(user)`` (loaded alone if missing)."""

    def __init__(self):
        self._books: dict[int, Rulebook] = {}

    def load(self, users) -> None:
        pks = {user.pk for user in users if user is not None} - set(self._books)
        if not pks:
            return
        books = {pk: Rulebook() for pk in pks}
        for each in (
            Filter.objects.filter(user__in=pks).select_related("label", "forward_to").order_by("user", "position", "pk")
        ):
            try:
                books[each.user_id].filters.append((each, parse_query(each.query)))
            except QuerySyntaxError:  # saved before the language changed: skipped, never fatal to delivery
                logger.warning("filter %s of user %s no longer parses; skipped", each.pk, each.user_id)
        for user_id, kind, value in BlockedSender.objects.filter(user__in=pks).values_list("user", "kind", "value"):
            book = books[user_id]
            (book.blocked_addresses if kind == BlockedSender.Kind.ADDRESS else book.blocked_domains).add(value)
        for user_id in VacationReply.objects.filter(user__in=pks, enabled=True).values_list("user", flat=True):
            books[user_id].vacation = True
        forwards = AutoForward.objects.filter(user__in=pks, address__verified_at__isnull=False)
        for user_id, address, keep in forwards.values_list("user", "address__address", "keep"):
            books[user_id].forward_all_to, books[user_id].keep = address, keep
        needs_addresses = [pk for pk, book in books.items() if book.vacation or book.forward_all_to
                           or any(f.forward_to_id for f, _ in book.filters)]  # fmt: skip
        if needs_addresses:
            rows = Address.objects.filter(user__in=needs_addresses).select_related("domain")
            for row in rows:
                books[row.user_id].own_addresses.add(row.email.lower())
        self._books.update(books)

    def of(self, user) -> Rulebook:
        if user.pk not in self._books:
            self.load([user])
        return self._books[user.pk]


@dataclass
class Arrival:
    """What one recipient's rules decided for one message."""

    folder: str
    label_ids: list[int] = field(default_factory=list)
    mark_read: bool = False
    star: bool = False
    forward_to: list[str] = field(default_factory=list)
    loop_chain: list[str] = field(default_factory=list)
    reply_to: str = ""  # the vacation reply may be due, to this address
    reply_from: str = ""
    blocked: bool = False


def _loop_chain(view: bytes) -> list[str]:
    headers = BytesHeaderParser(policy=compat32).parsebytes(view, headersonly=True)
    return [address for value in headers.get_all(LOOP_HEADER, []) for address in loop_chain(str(value))]


def decide(
    book: Rulebook,
    *,
    parsed: ParsedMessage,
    view: bytes,
    mail_from: str,
    folder: str,
    received_at: datetime,
    now: datetime,
    dmarc_quarantine: bool = False,
    flagged: bool = False,
    shared_terms: dict | None = None,
) -> Arrival:
    """The folder and actions for one recipient; ``folder`` is the spam filter's (inbox or spam).

    ``flagged``: the virus scanner held back or warned about an attachment (never forwarded).
    ``shared_terms``: one dict per message, shared by its recipients (see ``Candidate.from_parsed``).
    """
    if book.is_empty:
        return Arrival(folder=folder)
    if is_blocked(parsed.from_address, addresses=book.blocked_addresses, domains=book.blocked_domains):
        return Arrival(folder=Folder.TRASH, blocked=True)
    arrival = Arrival(folder=folder)
    candidate = None
    if book.filters:
        candidate = Candidate.from_parsed(
            parsed, size=len(view), folder=folder, received_at=received_at, terms=shared_terms
        )
    trash = skip_inbox = never_spam = False
    for each, node in book.filters:
        if not matches(node, candidate, now=now):
            continue
        if each.label_id and each.label_id not in arrival.label_ids:
            arrival.label_ids.append(each.label_id)
            candidate.labels.add(each.label.name.lower())
        arrival.mark_read |= each.mark_read
        arrival.star |= each.star
        trash |= each.trash
        skip_inbox |= each.skip_inbox
        never_spam |= each.never_spam
        if each.forward_to_id and each.forward_to.is_verified and each.forward_to.address not in arrival.forward_to:
            arrival.forward_to.append(each.forward_to.address)
    if folder == Folder.SPAM and never_spam and not dmarc_quarantine:
        folder = Folder.INBOX
    if folder == Folder.SPAM:
        return Arrival(folder=Folder.SPAM)
    if book.forward_all_to and book.forward_all_to not in arrival.forward_to:
        arrival.forward_to.append(book.forward_all_to)
        skip_inbox |= book.keep == AutoForward.Keep.ARCHIVE
        trash |= book.keep == AutoForward.Keep.TRASH
    arrival.folder = Folder.TRASH if trash else Folder.ARCHIVE if skip_inbox else folder
    if arrival.forward_to:
        arrival.loop_chain = _loop_chain(view)
        if flagged or forwarding_stops_loop(arrival.loop_chain, book.own_addresses):
            logger.info("not forwarding: %s", "flagged by the virus scan" if flagged else "a forwarding loop")
            arrival.forward_to = []
    if book.vacation and arrival.folder != Folder.TRASH:
        arrival.reply_to, arrival.reply_from = auto_reply_target(
            parsed=parsed, mail_from=mail_from, own_addresses=book.own_addresses
        )
    return arrival


def decide_safely(book: Rulebook, **kwargs) -> Arrival:
    """``decide``, or no rules at all if it fails: a broken rule must never cost a message."""
    try:
        return decide(book, **kwargs)
    except Exception:
        logger.exception("applying the rules to an arriving message failed; delivered without them")
        return Arrival(folder=kwargs["folder"])


def apply_placed(placed: list[tuple[MailboxItem, Arrival]]) -> None:
    """Inside the placement transaction: the labels and flags of newly placed items; after commit, the sends."""
    through = MailboxItem.labels.through
    pairs = [through(mailboxitem_id=item.pk, label_id=label_id) for item, a in placed for label_id in a.label_ids]
    if pairs:
        through.objects.bulk_create(pairs, ignore_conflicts=True)
    read = [item for item, a in placed if a.mark_read]
    starred = [item for item, a in placed if a.star]
    if read:
        MailboxItem.objects.filter(pk__in=[i.pk for i in read]).update(is_read=True)
    if starred:
        MailboxItem.objects.filter(pk__in=[i.pk for i in starred]).update(is_starred=True)
    if read or starred:  # the threads' unread counts and stars follow
        refresh_threads({i.thread_id for i in [*read, *starred]})
    jobs = [(item, a) for item, a in placed if a.forward_to or a.reply_to]
    if jobs:
        transaction.on_commit(lambda: _dispatch([(item.user_id, item.pk, a) for item, a in jobs]))


def _dispatch(jobs: list[tuple[int, int, Arrival]]) -> None:
    from rules.tasks import forward_message, send_vacation_reply

    for user_id, item_id, arrival in jobs:
        try:
            for address in arrival.forward_to:
                forward_message.delay(user_id, item_id, address, arrival.loop_chain)
            if arrival.reply_to:
                send_vacation_reply.delay(user_id, item_id, arrival.reply_to, arrival.reply_from)
        except Exception:  # the broker is away: the message is delivered; this reply or forward is lost
            logger.warning("could not dispatch the rules' sends for item %s", item_id, exc_info=True)


def place_locally(*, user, message, received_at) -> MailboxItem:
    """``place_message`` for mail from a hosted user to another, with the recipient's rules.

    Local delivery skips the MX and its spam filter, but not the recipient's blocked senders, filters,
    forwarding and vacation reply. The envelope sender is the sending user's own address (From).
    """
    from mailboxes.blobstore import read_blob
    from mailboxes.parsing import parse_message
    from mailboxes.services.placement import place_message

    arrival = Arrival(folder=Folder.INBOX)
    book = Rulebooks().of(user)
    if not book.is_empty:
        view = read_blob(message.blob)
        arrival = decide_safely(
            book, parsed=parse_message(view), view=view, mail_from=message.from_address, folder=Folder.INBOX,
            received_at=received_at, now=timezone.now(),
        )  # fmt: skip
    with transaction.atomic():
        held = MailboxItem.objects.filter(user=user, message=message, origin=MailboxItem.Origin.RECEIVED).exists()
        item = place_message(user=user, message=message, folder=arrival.folder, received_at=received_at)
        if not held and item.message_id == message.pk:
            apply_placed([(item, arrival)])
    return item
