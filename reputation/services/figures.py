"""Keeping the reputation counters as delivery events are recorded, and recounting them from the event log.

``count_events`` listens to ``delivery.services.events.events_recorded``: it runs
inside the transaction of every delivery outcome, so the counters commit or roll
back with the events, and it must cost little. Per batch of events:

- the metrics of each event are decided in memory (``event_metrics``);
- its subjects (sending user, sending domain, stream, campaign, destination
  provider) come from the message the engine hands over with the recipient
  (loaded with its send scope: no query); only events recorded elsewhere (bounce
  reports, ESP webhooks) cost one query for their messages' facts;
- a bounce reported after the message left us (a DSN, an ESP webhook) takes
  back the delivery counted for it: one query for those recipients' earlier
  deliveries, and only for such bounces;
- ONE upsert statement adds every (subject, metric, bucket) count
  (``INSERT … ON CONFLICT DO UPDATE``), rows in key order so that two workers
  lock them in the same order;
- each subject's final outcomes (its volume, ``Figures.sent``) are also counted
  per hour under the metric ``sent``; the upsert returns those hour counts, by
  every worker so far (the row is locked by each in turn), so that the guardrails
  know without a query when a subject is still under the minimum volume;
- ``reputation.signals.figures_changed`` goes out once the transaction commits.

The destination provider is never looked up in the DNS here (see ``provider_of``).
"""

import functools
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.addresses import split_address
from core.bulk import recordset
from core.providers import (
    cached_provider,
    provider_for_domain_name,
    provider_for_mx_hosts,
    remember_provider,
)
from delivery.models import DeliveryEvent
from mailboxes.models import Message, Recipient
from reputation.buckets import DAY, FIVE_MINUTES, FIVE_MINUTES_KEPT, HOUR, SPANS, floor
from reputation.models import ReputationCount, Subject
from reputation.selectors import VOLUME_METRICS
from reputation.signals import figures_changed

logger = logging.getLogger(__name__)

# Our own delivery attempts: a "sent" from these is an acceptance by the receiving server (or a
# relay). The ESP transport's "sent" is only the ESP taking the message: its webhook's
# "delivered" is the outcome (counting both would count one message twice).
# The mailbox simulator answers as a receiving server would (delivery/simulator.py), so it counts as one.
ATTEMPT_TRANSPORTS = ("smtp", "relay", "local", "simulator")
# Outcomes reported after the message left us (bounce reports, ESP webhooks).
LATE_TRANSPORT_PREFIXES = ("report:", "anymail:")
# Deferrals that are no attempt: a claim handed back unattempted (the engine, the reconciler).
NOT_ATTEMPTS = ("engine", "reconciler")
# A subject's final outcomes per hour (delivered + bounced + expired), a metric of its own that no figure reads.
HOURLY_VOLUME = "sent"
_ROWS_PER_STATEMENT = 150  # SQLite: within its bound on a statement's parameters (6 per row)


def event_metrics(event: DeliveryEvent) -> tuple[str, ...]:
    """The reputation metrics one event counts under (see ``reputation.figures``); () for a non-outcome."""
    kind, transport = event.event_type, event.transport or ""
    if kind == "sent":
        return ("delivered",) if transport in ATTEMPT_TRANSPORTS else ()
    if kind == "delivered":
        return ("delivered",)
    if kind == "bounced":
        if event.reason == "expired":  # gave up after temporary failures: apart, never a bounce
            return ("expired",)
        hard = ("bounced_hard",) if event.reject_reason == "invalid" else ("bounced_soft",)
        return (*hard, "unknown_user") if event.reason == "user_unknown" else hard
    if kind == "deferred":
        return () if transport in NOT_ATTEMPTS else ("deferred",)
    if kind == "complained":
        return ("complained",)
    return ()  # queued, rejected (suppressed, cancelled), failed, opened, clicked, unsubscribed…


@dataclass(frozen=True)
class MessageFacts:
    """What a message's events are counted under, besides the destination."""

    incoming: bool
    sender_id: int | None
    stream: str
    domain: str  # the From address's domain (the send scope's workspace when there is no From)
    campaign_id: int | None


def count_events(events: list[DeliveryEvent]) -> None:
    """Add these just-stored events to the counters; ``figures_changed`` follows on commit."""
    counts, subjects = tally(events)
    if not counts:
        return
    volumes = add_counts(counts)
    now = max(event.timestamp for event in events)
    # Subjects that got more than deliveries (a bounce, a complaint, a deferral, a delivery taken back):
    # only those can have come nearer a guardrail.
    worsened = {
        (kind, key)
        for (kind, key, metric, _, _), n in counts.items()
        if metric not in ("delivered", HOURLY_VOLUME) or n < 0
    }
    transaction.on_commit(lambda: _announce(subjects, now, worsened, volumes))


def _announce(
    subjects: set[tuple[str, str]],
    now: datetime,
    worsened: set[tuple[str, str]] | None = None,
    volumes: dict[tuple[str, str], tuple[int, int]] | None = None,
) -> None:
    """``figures_changed``, robustly: a failing listener (a guardrail) is logged, and never fails the delivery
    whose outcome is committed already. ``worsened``: the subjects that got more than deliveries
    (None: any may have); ``volumes``: ``{(kind, key): (hour, its final outcomes in that hour)}`` as the
    upsert left them (see ``add_counts``)."""
    for receiver, error in figures_changed.send_robust(
        sender=None, subjects=subjects, now=now, worsened=worsened, volumes=volumes
    ):
        if isinstance(error, Exception):
            logger.error("figures_changed receiver %r failed", receiver, exc_info=error)


def tally(events: list[DeliveryEvent]) -> tuple[Counter, set]:
    """``(Counter {(kind, key, metric, span, bucket): n}, {(kind, key)}``) of these events, in the order given.

    A bucket is its start in seconds since the epoch (ints compare and hash faster than datetimes).
    A late bounce's recipient's earlier delivery is asked of the event log (events before these),
    and seen among these events.
    """
    counted = [(event, metrics) for event in events if event.recipient_id and (metrics := event_metrics(event))]
    if not counted:
        return Counter(), set()
    facts = _message_facts(event for event, _ in counted)
    late = [e for e, _ in counted if e.event_type == "bounced" and e.transport.startswith(LATE_TRANSPORT_PREFIXES)]
    delivered_before = _delivered_before(late, counted)
    counts: Counter = Counter()
    subjects: set[tuple[str, str]] = set()
    buckets_of: dict[int, list[tuple[int, int]]] = {}  # 5-minute slot -> its (span, bucket start)s, worked out once
    for event, metrics in counted:
        message = facts.get(event.message_id)
        if message is None or message.incoming:
            continue
        keys = _subjects(event, message)
        subjects.update(keys)
        moves = dict.fromkeys(metrics, 1)
        if "delivered" in moves:
            delivered_before[event.recipient_id] = True
        elif event.event_type == "bounced" and delivered_before.get(event.recipient_id):
            moves["delivered"] = -1  # it was counted delivered when it left us: it was not
            delivered_before[event.recipient_id] = False
        slot = int(event.timestamp.timestamp()) // FIVE_MINUTES
        buckets = buckets_of.get(slot)
        if buckets is None:
            start = slot * FIVE_MINUTES
            buckets = buckets_of[slot] = [(span, start - start % span) for span in SPANS]
        volume = sum(n for metric, n in moves.items() if metric in VOLUME_METRICS)
        hour = next(bucket for span, bucket in buckets if span == HOUR)
        for kind, key in keys:
            for metric, n in moves.items():
                for span, bucket in buckets:
                    counts[kind, key, metric, span, bucket] += n
            if volume:
                counts[kind, key, HOURLY_VOLUME, HOUR, hour] += volume
    return Counter({key: n for key, n in counts.items() if n}), subjects


def _subjects(event: DeliveryEvent, message: MessageFacts) -> list[tuple[str, str]]:
    keys = [(Subject.STREAM.value, message.stream)]
    if message.sender_id:
        keys.append((Subject.USER.value, str(message.sender_id)))
    if message.domain:
        keys.append((Subject.DOMAIN.value, message.domain))
    if message.campaign_id:
        keys.append((Subject.CAMPAIGN.value, str(message.campaign_id)))
    if event.transport != "local":  # a hosted mailbox is no provider's
        recipient = event.recipient if DeliveryEvent.recipient.is_cached(event) else None
        keys.append((Subject.PROVIDER.value, provider_of(event, recipient)))
    return keys


# --- the facts of the messages --------------------------------------------------------


def _message_facts(events: Iterable[DeliveryEvent]) -> dict[int, MessageFacts]:
    """Each event's message's facts: from the objects handed over (the engine's), else one query for the rest."""
    facts: dict[int, MessageFacts] = {}
    missing = set()
    for event in events:
        if event.message_id in facts or event.message_id in missing:
            continue
        loaded = _loaded_message(event)
        if loaded is None or not Message.send_scope.is_cached(loaded):
            missing.add(event.message_id)
            continue
        # The engine's messages come with their send scope, which names the campaign when there is one.
        scope = getattr(loaded, "send_scope", None)
        facts[event.message_id] = _facts(
            loaded.status,
            loaded.sender_id,
            loaded.stream,
            loaded.from_address,
            "",
            scope.campaign_id if scope else None,
        )
    if missing:
        rows = Message.objects.filter(pk__in=missing).values_list(
            "pk", "status", "sender_id", "stream", "from_address", "send_scope__domain__name",
            "send_scope__campaign_id", "campaign__id",
        )  # fmt: skip
        for pk, status, sender_id, stream, from_address, scope_domain, scope_campaign, campaign in rows:
            facts[pk] = _facts(status, sender_id, stream, from_address, scope_domain or "", scope_campaign or campaign)
    return facts


def _loaded_message(event: DeliveryEvent) -> Message | None:
    if DeliveryEvent.message.is_cached(event):
        return event.message
    recipient = event.recipient if DeliveryEvent.recipient.is_cached(event) else None
    if recipient is not None and Recipient.message.is_cached(recipient):
        return recipient.message
    return None


def _facts(status, sender_id, stream, from_address, scope_domain, campaign_id) -> MessageFacts:
    domain = split_address(from_address)[1].lower() if from_address and "@" in from_address else ""
    return MessageFacts(
        incoming=status == Message.Status.RECEIVED,
        sender_id=sender_id,
        stream=stream,
        domain=domain or scope_domain.lower(),
        campaign_id=campaign_id,
    )


def _delivered_before(late: list[DeliveryEvent], counted) -> dict[int, bool]:
    """Which recipients of late bounces had a delivery counted before this batch: one query, for those only."""
    if not late:
        return {}
    recipient_ids = {event.recipient_id for event in late}
    below = min(event.pk for event, _ in counted if event.pk) if any(e.pk for e, _ in counted) else None
    earlier = DeliveryEvent.objects.filter(recipient_id__in=recipient_ids, event_type__in=("sent", "delivered"))
    if below is not None:
        earlier = earlier.filter(pk__lt=below)
    delivered = {}
    for recipient_id, event_type, transport in earlier.values_list("recipient_id", "event_type", "transport"):
        if event_metrics(DeliveryEvent(event_type=event_type, transport=transport)):
            delivered[recipient_id] = True
    return delivered


# --- the destination provider -----------------------------------------------------------


def provider_of(event: DeliveryEvent, recipient: Recipient | None) -> str:
    """The destination provider of an event, without a DNS lookup.

    In order: the big consumer domains by name; the MX host our SMTP
    transport reached for this event (remembered for the domain in ``core.providers``' cache);
    what is remembered of the domain (an earlier delivery, or an MX lookup
    shaping made); the Remote-MTA a bounce report names, or the MX host the
    recipient's last attempt reached (direct MX delivery only: a relay's host
    is not the destination's); else OTHER.
    """
    domain = recipient.domain if recipient is not None else ""
    known = provider_for_domain_name(domain) if domain else None
    if known is not None:
        return known.value
    host = _host_name((event.metadata or {}).get("remote_host") or "")
    if host and event.transport == "smtp":
        provider = provider_for_mx_hosts([host])
        if domain:  # a later report about the domain, shaping and the admin then know it without a lookup
            remember_provider(domain, provider)
        return provider.value
    remembered = cached_provider(domain) if domain else None
    if remembered is not None:
        return remembered.value
    hosts = [host] if host and event.transport.startswith("report:") else []
    if recipient is not None and recipient.remote_host and _direct_mx_delivery():
        hosts.append(_host_name(recipient.remote_host))
    return provider_for_mx_hosts(hosts).value


def _host_name(value: str) -> str:
    """``gmail-smtp-in.l.google.com`` out of a Remote-MTA such as ``dns; gmail-smtp-in.l.google.com [1.2.3.4]``."""
    value = value.split(";", 1)[-1].strip()
    return value.split()[0].strip("[]").lower().rstrip(".") if value else ""


def _direct_mx_delivery() -> bool:
    return settings.MAIL_TRANSPORT.get("BACKEND", "").endswith(".MXTransport")


# --- writing the counts -------------------------------------------------------------------


def add_counts(counts: Counter) -> dict[tuple[str, str], tuple[int, int]]:
    """Add ``{(kind, key, metric, span, bucket start in epoch seconds): n}`` to the counters: INSERT … ON CONFLICT
    DO UPDATE. Returns ``{(kind, key): (hour, count)}``: the hourly volume rows (``HOURLY_VOLUME``) it
    wrote, as they stand after it, for the subjects whose counts here fall in one hour.

    One statement on PostgreSQL (the rows as one JSON parameter, ``core.bulk``);
    elsewhere one per ``_ROWS_PER_STATEMENT`` rows. Rows go in key order.
    """
    rows = sorted(counts.items())
    if not rows:
        return {}
    hours: dict[tuple[str, str], set[int]] = {}
    for kind, key, metric, _, bucket in counts:
        if metric == HOURLY_VOLUME:
            hours.setdefault((kind, key), set()).add(bucket)
    written = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            fields = [ReputationCount._meta.get_field(name) for name in _COLUMNS]
            moments = {bucket: datetime.fromtimestamp(bucket, UTC) for bucket in {key[4] for key, _ in rows}}
            records = [
                {"kind": kind, "key": key, "metric": metric, "span": span, "bucket": moments[bucket], "count": n}
                for (kind, key, metric, span, bucket), n in rows
            ]
            source, parameter = recordset(fields, records, ordinality=True)
            cursor.execute(_upsert_sql(connection.vendor, source), [parameter])
            written = cursor.fetchall()
        else:
            adapt = connection.ops.adapt_datetimefield_value
            adapted = {bucket: adapt(datetime.fromtimestamp(bucket, UTC)) for bucket in {key[4] for key, _ in rows}}
            for start in range(0, len(rows), _ROWS_PER_STATEMENT):
                chunk = rows[start : start + _ROWS_PER_STATEMENT]
                params = [
                    v
                    for (kind, key, metric, span, bucket), n in chunk
                    for v in (kind, key, metric, span, adapted[bucket], n)
                ]
                cursor.execute(_upsert_sql(connection.vendor, len(chunk)), params)
                written += cursor.fetchall()
    # A subject counted in two hours here (a batch across the hour) is left out: which row is which needs no parsing.
    return {
        (kind, key): (next(iter(hours[kind, key])), count)
        for kind, key, metric, count in written
        if metric == HOURLY_VOLUME and len(hours.get((kind, key), ())) == 1
    }


_COLUMNS = ("kind", "key", "metric", "span", "bucket", "count")


@functools.cache
def _upsert_sql(vendor: str, source: str | int) -> str:
    """The upsert: from a recordset (``source``: its SQL) or a VALUES list of ``source`` rows. Built once each."""
    quote = connection.ops.quote_name
    table = quote(ReputationCount._meta.db_table)
    columns = ", ".join(quote(name) for name in _COLUMNS)
    if isinstance(source, int):
        rows = f"VALUES {', '.join(['(%s, %s, %s, %s, %s, %s)'] * source)}"
    else:
        rows = f"SELECT {columns} FROM {source} ORDER BY ordinality"  # noqa: S608 - names from the model only
    conflict = ", ".join(quote(name) for name in _COLUMNS[:-1])
    count = quote("count")
    # Only names from the model are formatted in; every value is a parameter.
    kind, key, metric = (quote(name) for name in _COLUMNS[:3])
    return (
        f"INSERT INTO {table} ({columns}) {rows} "  # noqa: S608
        f"ON CONFLICT ({conflict}) DO UPDATE SET {count} = {table}.{count} + excluded.{count} "
        f"RETURNING {kind}, {key}, {metric}, {count}"
    )


# --- pruning and rebuilding ---------------------------------------------------------------


def prune_counts(*, now: datetime | None = None) -> int:
    """Delete the buckets no window reads any more; returns how many rows went."""
    now = now or timezone.now()
    kept = {
        FIVE_MINUTES: FIVE_MINUTES_KEPT,
        HOUR: timedelta(days=settings.REPUTATION_HOURLY_KEPT_DAYS),
        DAY: timedelta(days=settings.REPUTATION_DAILY_KEPT_DAYS),
    }
    deleted = 0
    for span, keep in kept.items():
        deleted += ReputationCount.objects.filter(span=span, bucket__lt=floor(now - keep, span)).delete()[0]
    return deleted


def rebuild_counts(*, since: datetime, batch_size: int = 2000, progress=None) -> int:
    """Recount every counter from ``since`` (rounded down to the day) out of the event log; returns events read.

    The counters of those buckets are deleted and the events up to the latest
    one stored when the rebuild starts are counted again, in id order and in
    batches; events recorded meanwhile were counted live into the emptied
    buckets. ``progress(done, total)`` is called after each batch.
    """
    since = floor(since, DAY)
    with transaction.atomic():
        last_id = DeliveryEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        ReputationCount.objects.filter(bucket__gte=since).delete()
    events = (
        DeliveryEvent.objects.filter(timestamp__gte=since, pk__lte=last_id, recipient__isnull=False)
        .select_related("recipient")
        .order_by("pk")
    )
    total = events.count()
    done, after = 0, 0
    while True:
        batch = list(events.filter(pk__gt=after)[:batch_size])
        if not batch:
            break
        counts, _ = tally(batch)  # a late bounce's earlier delivery: asked of the log, as when counted live
        with transaction.atomic():
            add_counts(counts)
        done += len(batch)
        after = batch[-1].pk
        if progress is not None:
            progress(done, total)
    return done
