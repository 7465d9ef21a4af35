"""The transport contract: hand envelopes to the next hop, report an outcome per recipient."""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

from core.bounce_reasons import Verdict, classify

_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")


class Outcome(StrEnum):
    SENT = "sent"  # the next hop accepted responsibility (2xx)
    DEFERRED = "deferred"  # try again later (4xx, connection trouble)
    BOUNCED = "bounced"  # refused for good (5xx)


@dataclass(frozen=True)
class Envelope:
    recipient_id: int
    mail_from: str
    rcpt_to: str
    raw: bytes


@dataclass(frozen=True)
class Result:
    recipient_id: int
    outcome: Outcome
    smtp_code: int | None = None
    enhanced_status: str = ""
    response: str = ""
    provider_message_id: str = ""
    remote_host: str = ""
    esp_payload: dict | None = field(default=None, compare=False)

    @cached_property
    def verdict(self) -> Verdict | None:
        """Why it failed or was deferred, judged from the status and the reply text; None when it was sent."""
        if self.outcome == Outcome.SENT:
            return None
        action = "failed" if self.outcome == Outcome.BOUNCED else "delayed"
        return classify(self.enhanced_status, self.response, action=action)

    @property
    def is_hard_bounce(self) -> bool:
        """The address itself is gone (no such user or domain…): a 5.7.1 "blocked by Spamhaus" is not, a
        5.0.0 "User unknown" is."""
        return self.outcome == Outcome.BOUNCED and self.verdict.hard


def enhanced_status_of(text: str, code: int | None = None) -> str:
    """The RFC 3463 status at the start of a reply text, or one implied by the basic code."""
    match = _ENHANCED.match(text or "")
    if match:
        return ".".join(match.groups())
    if code is None:
        return ""
    return {2: "2.0.0", 4: "4.0.0", 5: "5.0.0"}.get(code // 100, "")


def result_for_reply(recipient_id: int, code: int, text: str, *, remote_host: str = "") -> Result:
    if 200 <= code < 300:
        outcome = Outcome.SENT
    elif 500 <= code < 600:
        outcome = Outcome.BOUNCED
    else:
        outcome = Outcome.DEFERRED
    return Result(
        recipient_id=recipient_id,
        outcome=outcome,
        smtp_code=code,
        enhanced_status=enhanced_status_of(text, code),
        response=f"{code} {text}".strip()[:2000],
        remote_host=remote_host,
    )


def temporary_failure(envelopes, message: str, *, enhanced_status: str = "4.4.1", remote_host: str = ""):
    return [
        Result(e.recipient_id, Outcome.DEFERRED, None, enhanced_status, message[:2000], remote_host=remote_host)
        for e in envelopes
    ]


def permanent_failure(envelopes, message: str, *, enhanced_status: str, smtp_code: int | None = None):
    return [Result(e.recipient_id, Outcome.BOUNCED, smtp_code, enhanced_status, message[:2000]) for e in envelopes]


class Transport:
    """Delivers envelopes that share a destination domain.

    Implementations never raise for a delivery problem: every envelope gets a
    ``Result``. An exception means a bug, and the caller dead-letters the batch.

    ``on_result``, when given, is called with each result as soon as it is
    known (after each SMTP transaction), before the next envelope is sent:
    the engine records it there, so a worker killed mid-batch has recorded
    everything it sent. An exception it raises ends the delivery.
    """

    name = "base"

    def __init__(self, **options):
        self.options = options

    def deliver(
        self, *, domain: str, envelopes: list[Envelope], on_result: Callable[[Result], None] | None = None
    ) -> list[Result]:
        raise NotImplementedError

    def close(self) -> None:
        """Release pooled connections."""
