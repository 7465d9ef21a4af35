"""The operator dashboard's figures, read from the database (docs/DASHBOARDS.md).

Every series is the window cut into the reputation series' buckets (5 minutes for
the hour, hours for the day, days for the week: ``reputation.buckets.series_buckets``),
read with ONE aggregate query over an indexed timestamp (``DeliveryEvent.timestamp``,
``Message.created_at``, ``InboundMessage.received_at``) grouped by the truncated time.
The hour is grouped by minute and folded into 5-minute buckets here (SQL has no
portable 5-minute truncation): at most 60 rows per series. The window is capped at a
week: longer belongs to Prometheus and Grafana (deploy/grafana/mail-platform.json).
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from django.db.models import Count, Min, Q
from django.db.models.functions import Trunc
from django.utils import timezone

from core.providers import Provider
from delivery.models import DeliveryEvent
from inbound.models import InboundMessage
from mailboxes.models import Folder, MailboxItem, Message, Recipient
from mailboxes.search.indexing import pending_changes
from reputation import selectors as reputation
from reputation.buckets import DAY, FIVE_MINUTES, HOUR, floor, series_buckets
from reputation.figures import Window as ReputationWindow
from reputation.models import Subject


class Window(StrEnum):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"


WINDOW_LABELS = {Window.HOUR: "Last hour", Window.DAY: "Last 24 hours", Window.WEEK: "Last 7 days"}

# What SQL truncates each bucket length to (the hour's 5-minute buckets are folded from minutes).
_TRUNC_KIND = {FIVE_MINUTES: "minute", HOUR: "hour", DAY: "day"}

# Delivery events that end a recipient's time in the queue, and those that are an attempt's outcome.
FINISHING_EVENTS = ("sent", "delivered", "bounced", "rejected", "failed")
ATTEMPT_EVENTS = ("sent", "delivered", "deferred", "bounced")
# Events written by bookkeeping, not by a delivery attempt (queueing, requeues, the reconciler, suppression…).
BOOKKEEPING_TRANSPORTS = ("submission", "admin", "engine", "reconciler", "campaign", "suppression", "unsubscribe")
# An outgoing message (a draft or received mail is not a submission).
SUBMITTED_STATUSES = (
    Message.Status.QUEUED, Message.Status.SENT, Message.Status.PARTIALLY_FAILED, Message.Status.FAILED,
)  # fmt: skip
OUTCOMES = ("sent", "deferred", "bounced", "failed")
STREAMS = (Message.Stream.TRANSACTIONAL, Message.Stream.BULK, Message.Stream.PERSONAL)


@dataclass(frozen=True)
class Series:
    """Counts per bucket: ``values[key][i]`` belongs to ``starts[i]``."""

    starts: list[datetime]
    values: dict[str, list[int]]

    def total(self, key: str) -> int:
        return sum(self.values.get(key, []))


@dataclass(frozen=True)
class RateSeries:
    starts: list[datetime]
    values: dict[str, list[float]]


@dataclass(frozen=True)
class Dashboard:
    window: Window
    now: datetime
    span: int  # seconds per bucket
    send: Series  # submitted (messages), attempted (recipients)
    outcomes: Series  # sent, deferred, bounced, failed
    queue_now: dict[str, int]  # queue -> recipients waiting (queued, sending, deferred)
    queue_history: Series  # queue -> recipients waiting at the end of each bucket (derived, see queue_history)
    bounce_rates: RateSeries  # stream -> bounce rate per bucket
    complaint_rates: RateSeries  # stream -> complaint rate per bucket
    provider_bounce_rates: RateSeries  # provider -> bounce rate per bucket
    indexing_lag: timedelta | None  # None: the search index has caught up
    inbound: Series  # received (messages accepted), placed (mailbox copies), spam (copies placed in spam)
    spam_share: RateSeries  # spam: spam copies / placed copies per bucket
    totals: dict[str, int] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return not any(self.totals.values()) and not any(self.queue_now.values())


def dashboard(window: Window = Window.DAY, *, now: datetime | None = None) -> Dashboard:
    """Every figure of the admin dashboard over ``window`` ending ``now``."""
    now = now or timezone.now()
    window = Window(window)
    span, starts = series_buckets(ReputationWindow(window.value), now)
    send = send_rate(starts, span)
    outcomes = delivery_outcomes(starts, span)
    queue_now = queue_depth()
    inbound = inbound_rate(starts, span)
    streams = reputation_series(Subject.STREAM, STREAMS, window, now)
    totals = {
        "submitted": send.total("submitted"),
        "attempted": send.total("attempted"),
        **{key: outcomes.total(key) for key in OUTCOMES},
        "received": inbound.total("received"),
        "placed": inbound.total("placed"),
        "spam": inbound.total("spam"),
    }
    return Dashboard(
        window=window, now=now, span=span, send=send, outcomes=outcomes, queue_now=queue_now,
        queue_history=queue_history(starts, span, queue_now),
        bounce_rates=rates(starts, streams, "bounce_rate"),
        complaint_rates=rates(starts, streams, "complaint_rate"),
        provider_bounce_rates=rates(starts, reputation_series(Subject.PROVIDER, list(Provider), window, now),
                                    "bounce_rate"),
        indexing_lag=indexing_lag(now=now), inbound=inbound,
        spam_share=RateSeries(starts, {"spam": [
            spam / placed if placed else 0.0
            for spam, placed in zip(inbound.values["spam"], inbound.values["placed"], strict=True)
        ]}),
        totals=totals,
    )  # fmt: skip


def _bucketed(queryset, time_field: str, starts: list[datetime], span: int, keys, **counts) -> Series:
    """``counts`` (``name=Count(...)``) of ``queryset`` per bucket, in one grouped query over ``time_field``.

    With ``keys`` (a field name), the series are per value of that field (each count named ``<value>``);
    else per count name.
    """
    end = starts[-1] + timedelta(seconds=span)
    rows = queryset.filter(**{f"{time_field}__gte": starts[0], f"{time_field}__lt": end}).annotate(
        moment=Trunc(time_field, _TRUNC_KIND[span], tzinfo=UTC)
    )
    group = ["moment", keys] if keys else ["moment"]
    index = {start: i for i, start in enumerate(starts)}
    values: dict[str, list[int]] = defaultdict(lambda: [0] * len(starts))
    for row in rows.values(*group).annotate(**counts).order_by():
        position = index.get(floor(row["moment"], span))
        if position is None:
            continue
        for name in counts:
            series_key = row[keys] if keys else name
            values[series_key][position] += row[name] or 0
    return Series(starts, dict(values))


def send_rate(starts: list[datetime], span: int) -> Series:
    """Messages submitted (by creation time) and recipients attempted (attempt outcomes) per bucket."""
    submitted = _bucketed(
        Message.objects.filter(status__in=SUBMITTED_STATUSES), "created_at", starts, span, None, submitted=Count("pk")
    )
    attempted = _bucketed(
        DeliveryEvent.objects.filter(event_type__in=ATTEMPT_EVENTS).exclude(transport__in=BOOKKEEPING_TRANSPORTS),
        "timestamp", starts, span, None, attempted=Count("pk"),
    )  # fmt: skip
    empty = [0] * len(starts)
    return Series(starts, {
        "submitted": submitted.values.get("submitted", empty), "attempted": attempted.values.get("attempted", empty),
    })  # fmt: skip


def delivery_outcomes(starts: list[datetime], span: int) -> Series:
    """Sent (or delivered locally), deferred, bounced and failed (dead letters) events per bucket."""
    grouped = _bucketed(
        DeliveryEvent.objects.filter(event_type__in=("sent", "delivered", "deferred", "bounced", "failed")),
        "timestamp", starts, span, "event_type", n=Count("pk"),
    )  # fmt: skip
    empty = [0] * len(starts)
    values = {key: list(grouped.values.get(key, empty)) for key in OUTCOMES}
    values["sent"] = [a + b for a, b in zip(values["sent"], grouped.values.get("delivered", empty), strict=True)]
    return Series(starts, values)


def queue_depth() -> dict[str, int]:
    """Recipients waiting now (queued, being sent or deferred) per queue; reads the ``status`` index."""
    depth = dict.fromkeys(Recipient.Queue.values, 0)
    rows = (
        Recipient.objects.filter(status__in=Recipient.PENDING_STATUSES)
        .values("queue")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in rows:
        depth[row["queue"]] = row["n"]
    return depth


def queue_history(starts: list[datetime], span: int, depth_now: dict[str, int]) -> Series:
    """Each queue's depth at the end of each bucket, derived backwards from ``depth_now`` and the event log.

    Per bucket, ``queued`` events put recipients in and finishing events (sent, delivered,
    bounced, rejected, failed) take them out; the depth a bucket earlier is the depth now
    minus what came in plus what left since. Approximate: a late bounce report after
    ``sent`` counts as a second exit, and the result is clamped at zero.
    """
    events = DeliveryEvent.objects.filter(recipient__isnull=False)
    entered = _bucketed(
        events.filter(event_type="queued"), "timestamp", starts, span, "recipient__queue", n=Count("pk")
    )
    left = _bucketed(
        events.filter(event_type__in=FINISHING_EVENTS), "timestamp", starts, span, "recipient__queue", n=Count("pk")
    )
    history = {}
    for queue, now_depth in depth_now.items():
        ins = entered.values.get(queue, [0] * len(starts))
        outs = left.values.get(queue, [0] * len(starts))
        depths, depth = [0] * len(starts), now_depth
        for i in range(len(starts) - 1, -1, -1):
            depths[i] = max(depth, 0)
            depth = depth - ins[i] + outs[i]  # the depth at the end of the bucket before
        history[queue] = depths
    return Series(starts, history)


def reputation_series(kind: str, keys, window: Window, now: datetime) -> dict[str, list]:
    """``{key: [Figures per bucket]}`` from the reputation counters (one indexed query per key, through
    ``reputation.selectors.series``); keys with no volume in the window are left out."""
    answer = {}
    for key in keys:
        points = reputation.series(kind, str(key), ReputationWindow(window.value), now=now)
        if any(figures.sent or figures.complained for _, figures in points):
            answer[str(key)] = [figures for _, figures in points]
    return answer


def rates(starts: list[datetime], figures: dict[str, list], rate: str) -> RateSeries:
    """One ``Figures`` rate (``bounce_rate``, ``complaint_rate``…) per key per bucket."""
    return RateSeries(starts, {key: [getattr(point, rate) for point in points] for key, points in figures.items()})


def indexing_lag(*, now: datetime) -> timedelta | None:
    """How long the oldest mailbox change the search indexer has not yet applied has been waiting; None if none.

    Two indexed reads: the cursor rows, and the first change past them (primary key order).
    """
    oldest = pending_changes().aggregate(at=Min("created_at"))["at"]
    if oldest is None:
        return None
    return max(now - oldest, timedelta(0))


def inbound_rate(starts: list[datetime], span: int) -> Series:
    """Messages the MX accepted per bucket, the mailbox copies placed from them and how many of those in spam.

    Read from ``InboundMessage.received_at`` joined to the placed message's items (received copies):
    a copy a user has since moved out of Spam (or into it) counts where it is now.
    """
    received = _bucketed(InboundMessage.objects.all(), "received_at", starts, span, None, received=Count("pk"))
    copy = Q(message__items__origin=MailboxItem.Origin.RECEIVED)
    placed = _bucketed(
        InboundMessage.objects.filter(message__isnull=False), "received_at", starts, span, None,
        placed=Count("message__items", filter=copy),
        spam=Count("message__items", filter=copy & Q(message__items__folder=Folder.SPAM)),
    )  # fmt: skip
    empty = [0] * len(starts)
    return Series(starts, {
        "received": received.values.get("received", empty),
        "placed": placed.values.get("placed", empty),
        "spam": placed.values.get("spam", empty),
    })  # fmt: skip
