"""Reading the reputation figures: sums of a few counter buckets per subject and window.

CONTRACT (issue 16): the ``figures`` helper implements these; the guardrails, the
abuse checks and the admin page call them. Keys: user id as str, domain name,
stream name, campaign id as str, ``core.providers.Provider`` value.

Each call is ONE query over ``ReputationCount`` (index ``kind, span, bucket``),
never a scan of the event log. Which buckets make up a window: ``reputation.buckets``.
"""

from collections import defaultdict
from datetime import datetime

from django.db.models import Q, Sum
from django.utils import timezone

from core.lookups import any_of
from reputation.buckets import series_buckets, window_ranges
from reputation.figures import Figures, Window
from reputation.models import ReputationCount

# The final outcomes: a subject's volume (``Figures.sent``).
VOLUME_METRICS = ("delivered", "bounced_hard", "bounced_soft", "expired")


def _in_window(window: Window, now: datetime) -> Q:
    condition = Q()
    for span, first, last in window_ranges(window, now):
        condition |= Q(span=span, bucket__gte=first, bucket__lte=last)
    return condition


def figures(kind: str, key: str, window: Window, *, now: datetime | None = None) -> Figures:
    """One subject's figures over the window ending ``now``."""
    return figures_many(kind, [key], window, now=now).get(key, Figures())


def figures_many(kind: str, keys, window: Window, *, now: datetime | None = None) -> dict[str, Figures]:
    """Several subjects' figures in one query; ``keys=None``: every subject of that kind with counts.

    With ``keys``, every key asked for is in the answer (``Figures()`` when it has no counts).
    """
    now = now or timezone.now()
    rows = ReputationCount.objects.filter(_in_window(window, now), kind=kind)
    if keys is not None:
        keys = [str(key) for key in keys]
        if not keys:
            return {}
        rows = rows.filter(any_of("key", keys))
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for key, metric, total in (
        rows.values("key", "metric").annotate(total=Sum("count")).values_list("key", "metric", "total")
    ):
        counts[key][metric] = total
    answer = {key: Figures.from_counts(values) for key, values in counts.items()}
    if keys is not None:
        return {key: answer.get(key, Figures()) for key in keys}
    return answer


def figures_of_subjects(wanted, *, now: datetime | None = None) -> dict[tuple[str, str], Figures]:
    """Several kinds' subjects, each kind over its own window, in ONE query: ``{(kind, key): Figures}``.

    ``wanted``: ``{kind: (window, keys)}``. Every (kind, key) asked for is in the answer
    (``Figures()`` when it has no counts). What the guardrails judge after each commit of outcomes.
    """
    now = now or timezone.now()
    condition, asked = Q(), []
    for kind, (window, keys) in wanted.items():
        keys = [str(key) for key in keys]
        if keys:
            condition |= Q(_in_window(window, now), any_of("key", keys), kind=kind)
            asked += [(kind, key) for key in keys]
    if not asked:
        return {}
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    rows = ReputationCount.objects.filter(condition).values("kind", "key", "metric").annotate(total=Sum("count"))
    for kind, key, metric, total in rows.values_list("kind", "key", "metric", "total"):
        counts[kind, key][metric] = total
    return {subject: Figures.from_counts(counts.get(subject, {})) for subject in asked}


def series(kind: str, key: str, window: Window, *, now: datetime | None = None) -> list[tuple[datetime, Figures]]:
    """The window cut into buckets (5 minutes for an hour, hours for a day, days for a week or month), in order.

    Every bucket is there, the empty ones as ``Figures()``; the last one holds ``now`` (it is partial).
    """
    now = now or timezone.now()
    span, buckets = series_buckets(window, now)
    rows = ReputationCount.objects.filter(
        kind=kind, key=str(key), span=span, bucket__gte=buckets[0], bucket__lte=buckets[-1]
    ).values_list("bucket", "metric", "count")
    counts: dict[datetime, dict[str, int]] = defaultdict(dict)
    for bucket, metric, count in rows:
        counts[bucket][metric] = count
    return [(bucket, Figures.from_counts(counts.get(bucket, {}))) for bucket in buckets]


def subjects(kind: str, window: Window, *, now: datetime | None = None, min_volume: int = 1) -> dict[str, int]:
    """``{key: volume}`` of the subjects of a kind with at least ``min_volume`` final outcomes in the window,
    the busiest first (volume: delivered + bounced + expired, the bounce rates' denominator)."""
    now = now or timezone.now()
    rows = (
        ReputationCount.objects.filter(_in_window(window, now), kind=kind, metric__in=VOLUME_METRICS)
        .values("key")
        .annotate(volume=Sum("count"))
        .filter(volume__gte=max(min_volume, 1))
        .order_by("-volume", "key")
        .values_list("key", "volume")
    )
    return dict(rows)
