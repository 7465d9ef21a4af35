"""The sending side's Prometheus counters (``core.metrics``): submissions, delivery attempts, delivery events.

Counts that describe something stored (an attempt's outcome, an event) are
added once the transaction that stored it commits (``transaction.on_commit``):
a rolled-back record, or a worker that lost its lease, counts nothing.
See docs/METRICS-SENDING.md.
"""

import contextlib
import functools
from collections import Counter
from collections.abc import Iterable

from django.db import transaction

from core.metrics import DELIVERY_ATTEMPTS, DELIVERY_EVENTS, SEND_REQUESTS
from core.providers import Provider, cached_provider
from webmail.errors import UserError


class Channel:
    """Where a submission came from (the ``channel`` label of ``SEND_REQUESTS``)."""

    WEBMAIL = "webmail"
    API = "api"
    TEMPLATE = "template"
    BATCH = "batch"
    CAMPAIGN = "campaign"


ACCEPTED, REFUSED = "accepted", "refused"
LOCAL = "local"  # the provider label of a delivery into a hosted mailbox

# Our own transports: their "sent" is the receiving server's 250 (an ESP's "sent" is only its acceptance;
# its "delivered" webhook counts that message).
_OWN_TRANSPORTS = ("smtp", "relay", "local", "simulator")
# Deferrals that are no attempt: a claim handed back unattempted (the engine, the reconciler).
_NOT_ATTEMPTS = ("engine", "reconciler")
_PLAIN_EVENTS = ("deferred", "complained", "opened", "clicked", "unsubscribed", "rejected", "failed")


@contextlib.contextmanager
def counting_submission(channel: str | None, *, count_accepted: bool = True):
    """Count the submission inside as accepted, or refused when it raises a ``UserError`` (a quota's 429, a
    hold's 403, a bad address's 422…). ``channel`` None counts nothing (imports, demo data, system mail).
    Any other exception is a failure of ours, not a refusal: not counted. ``count_accepted`` off: only a
    refusal is counted (the undo window: its acceptance is counted when the draft is sent)."""
    if channel is None:
        yield
        return
    try:
        yield
    except UserError:
        SEND_REQUESTS.labels(channel=channel, result=REFUSED).inc()
        raise
    if count_accepted:
        SEND_REQUESTS.labels(channel=channel, result=ACCEPTED).inc()


def counted_submission(channel: str | None = None, *, count_accepted: bool = True):
    """Decorator: each call is a submission of ``channel`` (``counting_submission``). Without a channel here,
    the caller names it with a ``channel=`` keyword (left out: not counted)."""

    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            named = kwargs.pop("channel", None) if channel is None else channel
            with counting_submission(named, count_accepted=count_accepted):
                return func(*args, **kwargs)

        return wrapper

    return decorate


def count_released(count: int) -> None:
    """A campaign's people released into the outbox (once their transaction commits)."""
    if count:
        transaction.on_commit(lambda: SEND_REQUESTS.labels(channel=Channel.CAMPAIGN, result=ACCEPTED).inc(count))


def provider_label(domain: str, *, local: bool, known: dict | None = None) -> str:
    """A destination's provider label without asking the DNS: "local" for a hosted mailbox, else what the
    claim (``known``) or the provider cache knows, else "other"."""
    if local:
        return LOCAL
    return str((known or {}).get(domain) or cached_provider(domain) or Provider.OTHER)


def count_attempts(attempts: Iterable[tuple[str, str]]) -> None:
    """``(outcome, provider)`` pairs of recorded attempts, counted once their transaction commits."""
    counts = Counter(attempts)
    if not counts:
        return

    def add():
        for (outcome, provider), n in counts.items():
            DELIVERY_ATTEMPTS.labels(outcome=outcome, provider=provider).inc(n)

    transaction.on_commit(add)


def event_label(event) -> str | None:
    """The ``DELIVERY_EVENTS`` label of a delivery event, or None for one that is not counted (queued…)."""
    kind, transport = event.event_type, event.transport or ""
    if kind == "sent":
        return "delivered" if transport in _OWN_TRANSPORTS else None
    if kind == "delivered":
        return "delivered"
    if kind == "bounced":
        if event.reason == "expired":  # gave up after temporary failures: apart from bounces
            return "expired"
        return "bounced_hard" if event.reject_reason == "invalid" else "bounced_soft"
    if kind == "deferred" and transport in _NOT_ATTEMPTS:
        return None
    if kind in ("opened", "clicked") and (event.metadata or {}).get("machine"):
        return None  # a mail privacy proxy or a link scanner, not a person: it would inflate the rates
    return kind if kind in _PLAIN_EVENTS else None


def count_recorded_events(sender, events, **kwargs) -> None:
    """Receiver of ``events_recorded``: each event counted under its label once its transaction commits."""
    counts = Counter(label for label in map(event_label, events) if label is not None)
    if not counts:
        return

    def add():
        for label, n in counts.items():
            DELIVERY_EVENTS.labels(event=label).inc(n)

    transaction.on_commit(add)
