"""The remote MX every outbound message goes to: counts each (Message-ID, recipient) it accepted, exactly.

It can misbehave on purpose, decided per SMTP transaction by a seeded
``FaultPlan`` (so a run is repeatable), and it can *hold* its Nth
transaction: the final dot is read, no reply is given, and ``reached`` is
set; the harness then kills the sending worker at a known point of its claim
and calls ``release()``. A held transaction is not counted: the client never
saw a 250, and the connection is closed without one.

A drop *after* the final dot is counted as delivered (a real remote MX may
well have kept the message) and in ``dropped_after_dot``: the client saw no
reply and must send it again, so each such drop may become one duplicate.
"""

import asyncio
import email.parser
import email.policy
import logging
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from chaos.infra import free_port

logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd complains of every fault we inject

FAULT_REPLIES = {
    "421": "421 4.3.2 Service shutting down, closing channel",
    "450": "450 4.2.1 Mailbox busy, try again later",
    "451": "451 4.3.0 Local error in processing",
    "452": "452 4.3.1 Insufficient system storage",
    "550": "550 5.1.1 No such user here",
    "554": "554 5.7.1 Message refused",
}
FAULT_KINDS = (*FAULT_REPLIES, "stall", "drop-mid-data", "drop-after-dot")


@dataclass
class FaultPlan:
    """Each transaction misbehaves with probability ``rate``, in one of ``kinds`` (weighted), from ``seed``."""

    rate: float
    kinds: dict[str, float]
    seed: int = 12
    _random: random.Random = field(init=False)

    def __post_init__(self):
        self._random = random.Random(self.seed)

    def next(self) -> str | None:
        if self._random.random() >= self.rate:
            return None
        names = list(self.kinds)
        return self._random.choices(names, weights=[self.kinds[n] for n in names])[0]


def message_id_of(content: bytes) -> str:
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(content)
    return (headers.get("Message-ID") or "").strip().strip("<>")


class _Handler:
    def __init__(self, sink: "CountingSink"):
        self.sink = sink

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802 - aiosmtpd API
        envelope.fault = self.sink.next_fault()
        if envelope.fault == "421":
            server.transport.close()
            return FAULT_REPLIES["421"]
        envelope.mail_from, envelope.mail_options = address, list(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd API
        fault = getattr(envelope, "fault", None)
        if fault == "stall":
            await asyncio.sleep(self.sink.stall_seconds)  # past the client's timeout: it gives up first
        if fault in ("450", "451", "452", "550"):
            if fault == "550":
                self.sink.note_rejected(address)
            return FAULT_REPLIES[fault]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
        fault = getattr(envelope, "fault", None)
        if fault == "554":
            for address in envelope.rcpt_tos:
                self.sink.note_rejected(address)
            return FAULT_REPLIES["554"]
        message_id = message_id_of(envelope.original_content or envelope.content)
        if self.sink.hold_this_transaction():
            await asyncio.get_running_loop().run_in_executor(None, self.sink.released.wait)
            server.transport.close()
            return "421 4.3.0 held and dropped by the chaos harness"
        self.sink.note_delivered(message_id, envelope.rcpt_tos)
        if fault == "drop-after-dot":
            self.sink.note_dropped_after_dot()
            server.transport.close()
            return "421 4.4.2 dropped after the final dot"
        return "250 2.0.0 OK queued"


class _FaultySMTP(SMTP):
    async def smtp_DATA(self, arg: str) -> None:  # noqa: N802 - aiosmtpd API
        if getattr(self.envelope, "fault", None) == "drop-mid-data" and self.envelope.rcpt_tos:
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            await self._reader.readline()  # one line of the message, then the line goes dead
            self.transport.close()
            return
        await super().smtp_DATA(arg)


class _Controller(Controller):
    def factory(self):
        return _FaultySMTP(self.handler, **self.SMTP_kwargs)


class CountingSink:
    def __init__(self, *, faults: FaultPlan | None = None, stall_seconds: float = 0, hold_at: int | None = None):
        self.port = free_port()
        self.faults = faults
        self.stall_seconds = stall_seconds
        self.hold_at = hold_at  # the Nth transaction to reach the final dot is held
        self.reached = threading.Event()
        self.released = threading.Event()
        self.deliveries: Counter = Counter()  # (message id, recipient) -> times accepted
        self.rejected: set[str] = set()  # recipients given a 5xx
        self.transactions = 0  # transactions that reached the final dot
        self.dropped_after_dot = 0
        self.last_delivery = 0.0  # time.monotonic() of the last accepted message, for the recovery time
        self.first_delivered_at: dict = {}  # (message id, recipient) -> time.monotonic() of its first arrival
        self._lock = threading.Lock()
        self._delivered = threading.Condition(self._lock)  # notified as each message is accepted
        self._running = False
        self._controller = _Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def start(self) -> "CountingSink":
        self._controller.start()
        self._running = True
        return self

    def stop(self) -> None:
        self.released.set()
        if self._running:
            self._running = False
            self._controller.stop()

    def release(self) -> None:
        self.released.set()

    def next_fault(self) -> str | None:
        if self.faults is None:
            return None
        with self._lock:
            return self.faults.next()

    def hold_this_transaction(self) -> bool:
        with self._lock:
            self.transactions += 1
            held = self.transactions == self.hold_at
        if held:
            self.reached.set()
        return held

    def note_delivered(self, message_id: str, recipients: list[str]) -> None:
        with self._lock:
            for address in recipients:
                key = (message_id, address.lower())
                self.deliveries[key] += 1
                self.first_delivered_at.setdefault(key, time.monotonic())
            self.last_delivery = time.monotonic()
            self._delivered.notify_all()

    def wait_for_delivered(self, addresses, timeout: float) -> bool:
        """Until each of ``addresses`` was accepted at least once (False if ``timeout`` seconds pass first)."""
        wanted = {a.lower() for a in addresses}
        with self._delivered:
            return self._delivered.wait_for(
                lambda: wanted <= {address for _, address in self.deliveries}, timeout=timeout
            )

    def note_rejected(self, address: str) -> None:
        with self._lock:
            self.rejected.add(address.lower())

    def note_dropped_after_dot(self) -> None:
        with self._lock:
            self.dropped_after_dot += 1
