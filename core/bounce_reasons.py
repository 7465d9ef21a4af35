"""Why a recipient's mail failed, and whether the address itself is gone.

One vocabulary for every failure the product learns of: a remote server's
reply during our own SMTP transaction (``delivery``), a bounce or delivery
status notification that comes back later (``inbound.bounces``), an ESP's
webhook. The reasons are those of the best open-source classifier (Sisimai),
so figures compare with it; ``classify`` reads the reason from the enhanced
status code *and* the reply text, and decides hard or soft from the reason,
not from the status class alone.

Hard means "this address will not work, stop sending to it" (suppressed);
soft means "this message failed, the address may work another time".
"""

from dataclasses import dataclass
from enum import StrEnum


class Reason(StrEnum):
    USER_UNKNOWN = "user_unknown"  # the mailbox does not exist
    MAILBOX_FULL = "mailbox_full"
    HOST_UNKNOWN = "host_unknown"  # the domain or its mail host does not exist
    HAS_MOVED = "has_moved"  # the person has left; the reply names a new address
    SUSPENDED = "suspended"  # the mailbox exists but is disabled or not paid for
    BLOCKED = "blocked"  # our IP or domain is refused (blocklists, no PTR, reputation)
    BAD_REPUTATION = "bad_reputation"
    REQUIRE_PTR = "require_ptr"
    REJECTED = "rejected"  # the envelope sender is refused
    POLICY_VIOLATION = "policy_violation"  # the content or the sender breaks the receiver's policy
    SPAM_DETECTED = "spam_detected"
    VIRUS_DETECTED = "virus_detected"
    FILTERED = "filtered"  # refused by the recipient's own filter or settings
    CONTENT_ERROR = "content_error"  # malformed or unacceptable message content
    NOT_COMPLIANT_RFC = "not_compliant_rfc"
    MESSAGE_TOO_BIG = "message_too_big"
    EXCEED_LIMIT = "exceed_limit"  # over the recipient's size or count limits
    RATE_LIMITED = "rate_limited"  # too many messages or connections: slow down
    TOO_MANY_CONNECTIONS = "too_many_connections"
    SPEEDING = "speeding"
    AUTH_FAILURE = "auth_failure"  # SPF, DKIM or DMARC failed at the receiver
    SECURITY_ERROR = "security_error"  # authentication required, or refused for security
    FAILED_STARTTLS = "failed_starttls"
    NO_RELAYING = "no_relaying"
    NOT_ACCEPTED = "not_accepted"  # the domain accepts no mail (null MX, RFC 7505)
    SYNTAX_ERROR = "syntax_error"  # a command we sent was not understood
    NETWORK_ERROR = "network_error"  # DNS or routing trouble, loops, unreachable hosts
    SYSTEM_ERROR = "system_error"  # the receiving system failed
    SYSTEM_FULL = "system_full"  # the receiving system is out of disk
    MAILER_ERROR = "mailer_error"  # the local delivery program failed
    EXPIRED = "expired"  # the sending MTA gave up after retrying temporary failures
    ON_HOLD = "on_hold"  # a failure the report does not explain
    UNDEFINED = "undefined"  # a failure no rule recognised
    DELIVERED = "delivered"  # a success notice, not a failure
    FEEDBACK = "feedback"  # a complaint (ARF), not a delivery failure


# The address itself will never work: suppress it. Everything else is soft.
HARD_REASONS = frozenset({Reason.USER_UNKNOWN, Reason.HOST_UNKNOWN, Reason.HAS_MOVED})
# Hard only when the reply was permanent (5xx), as for a domain with a null MX.
HARD_WHEN_PERMANENT = frozenset({Reason.NOT_ACCEPTED})
# Not failures at all.
NOT_FAILURES = frozenset({Reason.DELIVERED, Reason.FEEDBACK})


@dataclass(frozen=True)
class Verdict:
    reason: Reason
    status: str  # RFC 3463 enhanced status, refined from the text where the given one was generic ("" if none)
    hard: bool

    @property
    def soft(self) -> bool:
        return not self.hard and self.reason not in NOT_FAILURES


def classify(status: str, diagnostic: str = "", *, action: str = "failed", hint: str = "") -> Verdict:
    """The reason, the refined status and hard/soft for one failed (or delayed) recipient.

    ``status`` is the enhanced status the report or reply declares ("" if
    none), ``diagnostic`` the server's reply text or the report's explanation,
    ``action`` the RFC 3464 action ("failed", "delayed", "delivered"…), and
    ``hint`` a reason a format states outright (an ESP's bounce subtype), which
    wins when it is a known reason.
    """
    if action in ("delivered", "relayed", "expanded"):
        return Verdict(Reason.DELIVERED, status, hard=False)
    reason = _reason(status, diagnostic, action, hint)
    return Verdict(reason, status, hard=is_hard(reason, status))


def is_hard(reason: str, status: str) -> bool:
    """Whether a failure with ``reason`` means the address itself is gone (and must be suppressed)."""
    if reason in HARD_REASONS:
        return True
    return reason in HARD_WHEN_PERMANENT and status.startswith("5")


def _reason(status: str, diagnostic: str, action: str, hint: str) -> Reason:
    if hint in Reason._value2member_map_:
        return Reason(hint)
    detail = status[2:] if status[:1] in "45" else ""
    if detail in ("1.1", "1.0", "1.3", "1.4", "1.5", "1.6", "1.9", "1.10"):
        return Reason.HAS_MOVED if detail == "1.6" else Reason.USER_UNKNOWN
    if detail == "1.2":
        return Reason.HOST_UNKNOWN
    if detail == "2.2":
        return Reason.MAILBOX_FULL
    if detail == "4.7":
        return Reason.EXPIRED
    return Reason.UNDEFINED if action == "failed" else Reason.ON_HOLD
