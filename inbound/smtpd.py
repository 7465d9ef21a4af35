"""The MX: an aiosmtpd server that accepts mail for hosted addresses only.

During the dialogue it checks what it can answer at once (relaying, unknown
users, too many recipients, size, header size, per-client rates) with enhanced
status codes; a client that keeps making errors is slowed down, then cut off.
It answers 250 to DATA only after the exact bytes and the envelope are
committed to the database and the blob store (files fsynced); everything else
(authentication, scanning, placement) happens on the inbound queue.

Storing is a group commit (``GroupCommit``): while a batch is being written
off the event loop, the messages of all other sessions that finish DATA
queue up, and go together in the next transaction. One session alone waits
for one write, as before; many sessions share the cost of each fsync and
commit.
"""

import asyncio
import functools
import inspect
import logging
import re
import ssl
import threading
import time
from collections import defaultdict, deque

import aiosmtpd
import aiosmtpd.smtp
from aiosmtpd.smtp import SMTP, Envelope, Session
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, connection

from core.metrics import MX_CONNECTIONS, MX_REPLIES
from inbound.models import InboundMessage
from inbound.services.reception import Arrival, RecipientCheck, accept_messages, check_recipient, dispatch_processing
from observability.logs import log_context
from webmail.celery import app as celery_app

logger = logging.getLogger(__name__)

# aiosmtpd's own replies carry no enhanced status code (RFC 3463); ours do.
_REPLY_REWRITES = {
    "552 Error: message size exceeds fixed maximum message size": "552 5.3.4 Message size exceeds fixed maximum",
    "552 Error: Too much mail data": "552 5.3.4 Message too big for this system",
    "503 Error: need RCPT command": "503 5.5.1 Need RCPT command first",
    "503 Error: need MAIL command": "503 5.5.1 Need MAIL command first",
}


async def pause(seconds: float) -> None:
    """How the MX slows down a client that keeps making errors (tests replace it, so they wait for nothing)."""
    await asyncio.sleep(seconds)


def clock() -> float:
    """The MX's clock for its rate windows and caches (tests replace it, so nothing depends on their speed)."""
    return time.monotonic()


class RateLimiter:
    """Sliding one-minute windows of events per client IP (connections, messages).

    ``limit`` is read on every call, so a changed setting applies at once.
    """

    def __init__(self, limit):
        self.limit = limit if callable(limit) else (lambda: limit)
        self._events: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        per_minute = self.limit()
        if per_minute <= 0:
            return True
        now = clock()
        with self._lock:
            events = self._events[key]
            while events and now - events[0] > 60:
                events.popleft()
            if len(events) >= per_minute:
                return False
            events.append(now)
            if len(self._events) > 100_000:  # bound memory under a flood of distinct addresses
                self._events = defaultdict(deque, {k: v for k, v in self._events.items() if v})
            return True


# "<local@domain> params" with a dot-atom local part and a plain host name: nearly every MAIL
# FROM and RCPT TO. The email package's RFC 5322 parser that aiosmtpd uses takes about 65 µs
# an address, this regular expression under 1 µs; everything else still goes to the parser.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_HOST = r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_PLAIN_ANGLE_ADDRESS = re.compile(rf"[ \t]*<({_ATOM}(?:\.{_ATOM})*@{_HOST})>(?:[ \t]+([^(]*))?")


def _is_client_error(reply: str) -> bool:
    """A 4xx/5xx reply the client earned: not ours (451 4.3.0), not a recipient list to send in parts (452 4.5.3)."""
    return reply[:1] in ("4", "5") and not reply.startswith(("421", "451 4.3.0", "452 4.5.3"))


class MXProtocol(SMTP):
    # RFC 5321 says 1000, but real mail has longer lines (unwrapped HTML, huge To
    # headers) and Postfix takes them; refusing them would bounce legitimate mail.
    line_length_limit = 1024 * 1024

    def __init__(self, handler, *, connection_limiter: RateLimiter, **kwargs):
        super().__init__(handler, **kwargs)
        self.connection_limiter = connection_limiter
        self.errors = 0  # since the session began or last delivered a message
        self.replying_to = None  # "RCPT" or "DATA" until that command's reply is counted (MX_REPLIES)

    def delivered(self) -> None:
        """A message was accepted: the errors before it are forgiven (Postfix's "without delivering mail")."""
        self.errors = 0

    def _getaddr(self, arg: str):
        plain = _PLAIN_ANGLE_ADDRESS.fullmatch(arg)
        if plain is None:
            return super()._getaddr(arg)
        address, rest = plain.group(1), plain.group(2) or ""
        if self.local_part_limit and len(address.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return address, rest

    async def smtp_RCPT(self, arg):  # noqa: N802
        await self._counting_reply("RCPT", super().smtp_RCPT(arg))

    async def smtp_DATA(self, arg):  # noqa: N802
        await self._counting_reply("DATA", super().smtp_DATA(arg))

    async def _counting_reply(self, command: str, handling) -> None:
        self.replying_to = command
        await handling  # (raising, it leaves replying_to set: aiosmtpd's answer to the exception is counted)
        self.replying_to = None  # counted already, or the client left before any reply

    def _count_reply(self, status: str) -> None:
        """The final reply to RCPT or DATA (not DATA's 354), once; a 421 that follows an error is not a reply to it."""
        if self.replying_to is None or status.startswith("354"):
            return
        code = status[:3]
        MX_REPLIES.labels(self.replying_to, code if code.isdigit() else "other").inc()
        self.replying_to = None

    async def push(self, status):
        if isinstance(status, str):
            status = _REPLY_REWRITES.get(status, status)
            self._count_reply(status)
            if _is_client_error(status):
                await self._push_error(status)
                return
        await super().push(status)

    async def _push_error(self, reply: str) -> None:
        """Send an error reply, as Postfix does (smtpd_soft/hard_error_limit, smtpd_error_sleep_time).

        Beyond the soft limit each error reply waits the sleep time once per
        error made, so a client guessing addresses gets slower and slower; at
        the hard limit the session ends with 421.
        """
        self.errors += 1
        if self.errors >= settings.SMTPD_HARD_ERROR_LIMIT:
            await super().push(reply)
            await super().push("421 4.7.0 Too many errors; closing the connection")
            if self.transport is not None:  # (None: the client left first)
                self.transport.close()
            return
        if self.errors > settings.SMTPD_SOFT_ERROR_LIMIT:
            await pause(settings.SMTPD_ERROR_SLEEP_SECONDS * self.errors)
        await super().push(reply)

    async def _handle_client(self):
        client_ip = self.session.peer[0] if self.session and self.session.peer else ""
        if not self.connection_limiter.allow(client_ip):
            await self.push("421 4.7.0 Too many connections from your address; try again later")
            self.transport.close()
            return
        MX_CONNECTIONS.inc()  # accepted: those turned away by the rate limit above are not counted
        await super()._handle_client()


def _sync(function):
    """Run a database function in a worker thread, with a fresh connection if the last one died."""

    def call(*args, **kwargs):
        close_old_connections()
        return function(*args, **kwargs)

    return sync_to_async(call, thread_sensitive=False)


class GroupCommit:
    """Stores the messages of all sessions ready at the same moment in one transaction.

    ``accept`` returns once the message's file is fsynced and its job row
    committed (then the session answers 250); if storing fails it raises, and
    the session answers 451 so the client keeps the message. A failing batch
    is retried message by message, so one bad message fails alone.
    """

    # Stored jobs are queued for processing at most this often, in one task for all of them
    # (a task costs more to send and to start than a message's share of it). A dispatch that
    # never happens (crash, broker down) is made up by the reconciler.
    dispatch_delay = 0.05

    def __init__(self, max_batch: int = 200, in_flight: int | None = None, sleep=asyncio.sleep):
        self.max_batch = max_batch
        self.sleep = sleep  # the dispatch timer's clock: tests pass their own and fire it when they choose
        # Batches written at once: on PostgreSQL one commits while the next is being written and
        # fsynced. SQLite has one writer (and its busy wait sleeps), so there one at a time.
        self.in_flight = in_flight or (1 if connection.vendor == "sqlite" else 2)
        self._pending: list[tuple[Arrival, asyncio.Future]] = []
        self._flushers: set[asyncio.Task] = set()
        self._to_dispatch: list[int] = []
        self._dispatcher: asyncio.Task | None = None

    async def accept(self, arrival: Arrival) -> InboundMessage:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((arrival, future))
        if len(self._flushers) < self.in_flight:
            self._flushers.add(asyncio.ensure_future(self._flush()))
        return await future

    async def _flush(self):
        try:
            await self._flush_pending()
        finally:
            # Here, not in a done callback: that would run after the sessions just answered,
            # and one of them sending its next message would find no free flusher and wait.
            self._flushers.discard(asyncio.current_task())

    async def _flush_pending(self):
        while self._pending:
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            try:
                outcomes = await _sync(_store_batch)([arrival for arrival, _ in batch])
            except Exception as exc:  # not even the one-by-one retry ran (no database thread?)
                outcomes = [exc] * len(batch)
            _log_stored(batch, outcomes)
            self._to_dispatch += [job.pk for job in outcomes if isinstance(job, InboundMessage)]
            if celery_app.conf.task_always_eager:  # processing runs before the 250 (tests, development)
                await self.dispatch_now()
            elif self._to_dispatch and self._dispatcher is None:
                self._dispatcher = asyncio.ensure_future(self._dispatch_later())
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():  # the client went away meanwhile; the message is stored anyway
                    continue
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    async def _dispatch_later(self) -> None:
        await self.sleep(self.dispatch_delay)
        await self.dispatch_now()

    async def dispatch_now(self) -> None:
        """Queue the stored jobs not queued yet (also when the server stops)."""
        job_ids, self._to_dispatch, self._dispatcher = self._to_dispatch, [], None
        if not job_ids:
            return
        try:
            await sync_to_async(dispatch_processing, thread_sensitive=False)(job_ids=job_ids)
        except Exception:
            logger.exception("could not queue %d stored messages; the reconciler will", len(job_ids))


def _log_stored(batch: list[tuple[Arrival, asyncio.Future]], outcomes: list) -> None:
    """The first line of an inbound message's way (docs/LOGS.md): its job id is the queue id the 250 names."""
    for (arrival, _), job in zip(batch, outcomes, strict=True):
        if isinstance(job, InboundMessage):
            with log_context(queue_id=job.pk):
                logger.info(
                    "MX stored inbound message %s from %s (HELO %s, %d bytes, %d recipients): 250 queued as %s",
                    job.pk, arrival.client_ip or "-", arrival.helo or "-", len(arrival.raw), len(arrival.rcpt_tos),
                    job.pk,
                )  # fmt: skip


def _store_batch(arrivals: list[Arrival]) -> list[InboundMessage | Exception]:
    if connection.vendor == "sqlite":
        # WAL with synchronous=NORMAL (the project default) may lose the last commits on a
        # power failure; what the MX has answered 250 for must not be among them.
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA synchronous=FULL")
    try:
        return accept_messages(arrivals, dispatch=False)
    except Exception:
        if len(arrivals) == 1:
            raise
        logger.warning("storing a batch of %d messages failed; storing them one by one", len(arrivals))
    outcomes = []
    for arrival in arrivals:
        try:
            outcomes.extend(accept_messages([arrival], dispatch=False))
        except Exception as exc:
            outcomes.append(exc)
    return outcomes


class RecipientCache:
    """Hosted addresses recently accepted, so a busy MX asks the database once per address and TTL.

    Only acceptances are kept: a new user is never refused from a stale entry.
    """

    def __init__(self, ttl: float = 10.0, max_size: int = 10_000):
        self.ttl = ttl
        self.max_size = max_size
        self._accepted: dict[str, float] = {}

    def accepted(self, address: str) -> bool:
        expiry = self._accepted.get(address.lower())
        return expiry is not None and expiry > clock()

    def remember(self, address: str) -> None:
        if len(self._accepted) >= self.max_size:
            self._accepted.clear()
        self._accepted[address.lower()] = clock() + self.ttl


class MXHandler:
    def __init__(self):
        self.message_limiter = RateLimiter(lambda: settings.SMTPD_MESSAGES_PER_MINUTE_PER_IP)
        self.recipients = RecipientCache()
        self.committer = GroupCommit()

    async def handle_EHLO(self, server, session: Session, envelope: Envelope, hostname: str, responses):  # noqa: N802
        session.host_name = hostname
        # aiosmtpd reads commands one by one, so pipelined clients just work; say so.
        return [*responses[:-1], "250-PIPELINING", "250-ENHANCEDSTATUSCODES", responses[-1]]

    async def handle_MAIL(self, server, session: Session, envelope: Envelope, address: str, mail_options):  # noqa: N802
        client_ip = session.peer[0] if session.peer else ""
        if not self.message_limiter.allow(client_ip):
            return "450 4.7.1 Too many messages from your address; try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(self, server, session: Session, envelope: Envelope, address: str, rcpt_options):  # noqa: N802
        if len(envelope.rcpt_tos) >= settings.SMTPD_MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        if not self.recipients.accepted(address):
            try:
                verdict = await _sync(check_recipient)(address)
            except Exception:
                logger.exception("recipient check for %r failed", address)
                return "451 4.3.0 Temporary failure; try again later"
            if verdict == RecipientCheck.RELAY:
                return "550 5.7.1 Relaying denied: we are not the destination for this domain"
            if verdict == RecipientCheck.UNKNOWN:
                return "550 5.1.1 No such user here"
            self.recipients.remember(address)
        if address.lower() not in (r.lower() for r in envelope.rcpt_tos):
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Recipient OK"

    async def handle_DATA(self, server, session: Session, envelope: Envelope):  # noqa: N802
        raw = envelope.original_content or envelope.content
        if header_too_large(raw):  # refused before anything is stored
            return "552 5.3.4 Message header too large"
        arrival = Arrival(
            raw=raw,
            mail_from=envelope.mail_from or "",
            rcpt_tos=list(envelope.rcpt_tos),
            client_ip=session.peer[0] if session.peer else None,
            helo=session.host_name or "",
        )
        try:
            job = await self.committer.accept(arrival)
        except Exception:
            # Nothing was committed: the client keeps the message and retries.
            logger.exception("could not store a message from %s", session.peer)
            return "451 4.3.0 Temporary failure storing the message; try again later"
        server.delivered()
        return f"250 2.0.0 OK queued as {job.pk}"


_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_NEW_FIELD = re.compile(rb"\n[^ \t]")  # a line that does not continue the field before it


def header_too_large(raw: bytes) -> bool:
    """More header fields or header bytes than SMTPD_MAX_HEADER_FIELDS / SMTPD_MAX_HEADER_BYTES.

    The header section ends at the first empty line (CRLF or a bare LF); a
    message without one is all header. Only the allowed bytes are searched.
    """
    max_bytes = settings.SMTPD_MAX_HEADER_BYTES
    if raw.startswith((b"\r\n", b"\n")):
        return False  # no header at all
    end = _BLANK_LINE.search(raw, 0, max_bytes + 4)
    if end is None and len(raw) > max_bytes:
        return True
    header = raw[: end.start()] if end else raw
    return len(header) > max_bytes or len(_NEW_FIELD.findall(header)) + 1 > settings.SMTPD_MAX_HEADER_FIELDS


@functools.cache
def _tls_context_for(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def tls_context() -> ssl.SSLContext | None:
    if not (settings.SMTPD_TLS_CERT and settings.SMTPD_TLS_KEY):
        return None
    return _tls_context_for(settings.SMTPD_TLS_CERT, settings.SMTPD_TLS_KEY)


class _MembersByClass:
    """``inspect`` and ``dir`` for aiosmtpd's ``SMTP.__init__``, answering from a per-class list.

    On every connection aiosmtpd 1.4 lists the protocol's and the handler's
    members to find their ``auth_``, ``handle_`` and ``smtp_`` methods
    (``inspect.getmembers`` twice, ``dir`` four times, ``inspect.signature`` of
    the EHLO hook): about 200 µs a connection, a tenth of the MX's CPU per
    message (docs/PERFORMANCE.md, in-stack). The names come from the class,
    listed once, plus the instance's own attributes; every method is still
    looked up on, and bound to, the new object. Only those prefixes are listed:
    they are all that aiosmtpd reads from these calls (``tests/inbound/
    test_group_commit.py`` compares the outcome with aiosmtpd's own).
    """

    PREFIXES = ("auth_", "handle_", "smtp_")

    def __init__(self):
        self._names: dict[type, list[str]] = {}
        self._signatures: dict[tuple, inspect.Signature] = {}

    def __getattr__(self, name):  # anything else aiosmtpd may use from ``inspect``
        return getattr(inspect, name)

    def _member_names(self, obj) -> list[str]:
        cls = type(obj)
        names = self._names.get(cls)
        if names is None:
            names = self._names[cls] = [n for n in dir(cls) if n.startswith(self.PREFIXES)]
        own = [n for n in getattr(obj, "__dict__", ()) if n.startswith(self.PREFIXES) and n not in names]
        return names + own

    def dir(self, obj) -> list[str]:
        return self._member_names(obj)

    def getmembers(self, obj, predicate=None) -> list[tuple[str, object]]:
        members = [(name, getattr(obj, name)) for name in self._member_names(obj)]
        return [(n, v) for n, v in members if predicate is None or predicate(v)]

    def signature(self, function) -> inspect.Signature:
        owner, func = getattr(function, "__self__", None), getattr(function, "__func__", None)
        if func is None:
            return inspect.signature(function)
        key = (type(owner), func)
        if key not in self._signatures:
            self._signatures[key] = inspect.signature(function)
        return self._signatures[key]


def install_member_cache() -> None:
    """Give aiosmtpd.smtp the per-class member lists (aiosmtpd 1.4 only: another version keeps its own)."""
    if aiosmtpd.__version__.startswith("1.4.") and not isinstance(aiosmtpd.smtp.inspect, _MembersByClass):
        cache = _MembersByClass()
        aiosmtpd.smtp.inspect = cache
        aiosmtpd.smtp.dir = cache.dir


def protocol_factory():
    """A factory for ``loop.create_server``: a protocol per connection, limits shared between them."""
    install_member_cache()
    handler = MXHandler()
    connection_limiter = RateLimiter(lambda: settings.SMTPD_CONNECTIONS_PER_MINUTE_PER_IP)

    def factory():
        return MXProtocol(
            handler,
            connection_limiter=connection_limiter,
            hostname=settings.MAIL_HOSTNAME,
            ident="ESMTP",
            data_size_limit=settings.MAIL_MAX_MESSAGE_BYTES,
            enable_SMTPUTF8=True,
            decode_data=False,
            tls_context=tls_context(),
            require_starttls=False,
            timeout=settings.SMTPD_TIMEOUT,
        )

    factory.handler = handler
    return factory


async def serve(host: str, port: int, factory=None) -> asyncio.AbstractServer:
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        factory or protocol_factory(),
        host=host,
        port=port,
        reuse_address=True,
        reuse_port=True if settings.SMTPD_REUSE_PORT else None,
    )
