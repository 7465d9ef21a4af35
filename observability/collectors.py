"""The figures whose truth is the database, read at each scrape (docs/OBSERVABILITY.md).

A few cheap queries, each served by an existing index (never a scan of a whole table):

- the outbox: recipients waiting by queue and status (``status`` index), those due now and the
  oldest due one (the partial index ``recipient_due``), dead letters (``status`` index);
- search: how far behind the indexer's cursor the change feed is (primary key);
- inbound: accepted messages not yet placed, and the oldest (``inbound_status_time``).

Every process answers a scrape from the same database, so these are gauges of the moment, not
per-process values, and live outside prometheus-client's multi-process files.
"""

import logging
from collections.abc import Callable
from datetime import datetime

from django.db import DatabaseError
from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from inbound.models import InboundMessage
from mailboxes.models import Recipient
from mailboxes.search.indexing import pending_changes

logger = logging.getLogger(__name__)

OUTBOX_WAITING = (Recipient.Status.QUEUED, Recipient.Status.DEFERRED, Recipient.Status.SENDING)
OUTBOX_DUE = (Recipient.Status.QUEUED, Recipient.Status.DEFERRED)
INBOUND_WAITING = (InboundMessage.Status.QUEUED, InboundMessage.Status.PROCESSING)


def _age(now: datetime, since: datetime | None) -> float:
    return max(0.0, (now - since).total_seconds()) if since is not None else 0.0


class DatabaseCollector:
    """A Prometheus collector reading the outbox, the search feed and the inbound queue."""

    def __init__(self, now: Callable[[], datetime] = timezone.now):
        self.now = now

    def collect(self):
        up = GaugeMetricFamily("webmail_metrics_database_up", "1 if the database figures below could be read.")
        try:
            families = list(self._families(self.now()))
        except DatabaseError:
            logger.exception("metrics: the database figures could not be read")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self, now: datetime):
        yield from outbound_families(now)
        yield search_family(now)
        yield from inbound_families(now)


def outbound_families(now: datetime):
    depth = GaugeMetricFamily(
        "webmail_outbound_queue_depth",
        "Outgoing recipients waiting, by queue and status (queued, deferred, sending).",
        labels=["queue", "status"],
    )
    counts = {
        (row["queue"], row["status"]): row["n"]
        for row in Recipient.objects.filter(status__in=OUTBOX_WAITING)
        .values("queue", "status")
        .annotate(n=Count("id"))
        .order_by()
    }
    for queue in Recipient.Queue.values:
        for status in OUTBOX_WAITING:
            depth.add_metric([queue, status.value], counts.get((queue, status.value), 0))
    yield depth

    due = GaugeMetricFamily(
        "webmail_outbound_due_recipients",
        "Outgoing recipients due now (queued or deferred, next attempt time passed), by queue.",
        labels=["queue"],
    )
    oldest = GaugeMetricFamily(
        "webmail_outbound_oldest_due_seconds",
        "How long the longest-waiting due recipient has been due, by queue (0: none due).",
        labels=["queue"],
    )
    rows = {
        row["queue"]: row
        for row in Recipient.objects.filter(status__in=OUTBOX_DUE, next_attempt_at__lte=now)
        .values("queue")
        .annotate(n=Count("id"), since=Min("next_attempt_at"))
        .order_by()
    }
    for queue in Recipient.Queue.values:
        row = rows.get(queue, {})
        due.add_metric([queue], row.get("n", 0))
        oldest.add_metric([queue], _age(now, row.get("since")))
    yield due
    yield oldest

    dead = GaugeMetricFamily(
        "webmail_outbound_dead_letters",
        "Outgoing recipients in the failed state (dead letters: given up on without a bounce), by queue.",
        labels=["queue"],
    )
    failed = dict(
        Recipient.objects.filter(status=Recipient.Status.FAILED)
        .values("queue")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("queue", "n")
    )
    for queue in Recipient.Queue.values:
        dead.add_metric([queue], failed.get(queue, 0))
    yield dead


def search_family(now: datetime) -> GaugeMetricFamily:
    lag = GaugeMetricFamily(
        "webmail_search_indexing_lag_seconds",
        "Age of the oldest mailbox change the search indexer has not applied yet (0: up to date).",
    )
    oldest = pending_changes().order_by("pk").values_list("created_at", flat=True).first()
    lag.add_metric([], _age(now, oldest))
    return lag


def inbound_families(now: datetime):
    depth = GaugeMetricFamily(
        "webmail_inbound_queue_depth",
        "Accepted messages (250 given) not yet placed in mailboxes, by status (queued, processing).",
        labels=["status"],
    )
    oldest = GaugeMetricFamily(
        "webmail_inbound_oldest_queued_seconds",
        "How long the oldest accepted message still queued has waited (0: none).",
    )
    dead = GaugeMetricFamily(
        "webmail_inbound_dead_letters", "Accepted messages whose processing failed for good (dead letters)."
    )
    counts = dict(
        InboundMessage.objects.filter(status__in=(*INBOUND_WAITING, InboundMessage.Status.FAILED))
        .values("status")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("status", "n")
    )
    for status in INBOUND_WAITING:
        depth.add_metric([status.value], counts.get(status.value, 0))
    since = (
        InboundMessage.objects.filter(status=InboundMessage.Status.QUEUED)
        .order_by("received_at")
        .values_list("received_at", flat=True)
        .first()
    )
    oldest.add_metric([], _age(now, since))
    dead.add_metric([], counts.get(InboundMessage.Status.FAILED.value, 0))
    yield depth
    yield oldest
    yield dead
