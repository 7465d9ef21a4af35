#!/usr/bin/env python
"""Campaign results benchmark: what counting costs transactional mail and campaigns, reading and exporting results.

    python bench/campaign_results.py                        # 20,000 recipients, SQLite
    python bench/campaign_results.py --db postgres          # on a throwaway PostgreSQL database
    python bench/campaign_results.py --recipients 100000
    python bench/campaign_results.py --help

It migrates a throwaway database (a SQLite file in a temporary folder, or a
new PostgreSQL database ``bench_results_*``, dropped afterwards), then:

1. **transactional events**: ``record_delivery_event`` on a transactional
   recipient ``--events`` times with the campaign counter's receiver connected
   and again with it disconnected: microseconds per event (CPU) and queries
   per event, each way;
2. **campaign events**: a campaign of ``--recipients`` people (rows made in
   bulk), whose "sent" events are stored and signalled in batches of
   ``--batch`` as the engine's ``record_results`` does; the same again with
   the receiver disconnected: the counting's cost per event;
3. **reading**: ``results_of`` on that campaign: milliseconds and queries;
4. **export**: the CSV export of every recipient: seconds, and the peak of
   Python memory (``tracemalloc``) while it streams.

A benchmark, not a test: it asserts nothing about time.
"""

import argparse
import shutil
import sys
import tempfile
import time
import tracemalloc
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import throwaway  # noqa: E402
from bench.throwaway import ThrowawayDatabase  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=2_000, help="transactional events, each way")
    parser.add_argument("--batch", type=int, default=100, help="events per recorded batch")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_results_"))
    database = ThrowawayDatabase(args, tmp, prefix="bench_results")
    try:
        throwaway.setup_django(database.url, tmp)
        run(args)
    finally:
        database.drop()
        shutil.rmtree(tmp, ignore_errors=True)


def run(args) -> None:
    from django.db import connection

    from campaigns.apps import count_results
    from delivery.services.events import events_recorded

    world = World(args.recipients)
    print(f"database: {connection.vendor}; campaign of {args.recipients:,} recipients; batches of {args.batch}")

    def without_receiver(work):
        events_recorded.disconnect(count_results, dispatch_uid="campaigns.count_results")
        try:
            return work()
        finally:
            events_recorded.connect(count_results, dispatch_uid="campaigns.count_results")

    def transactional():
        with counting_queries() as queries:
            seconds = world.record_transactional(args.events)
        return seconds, queries.count / args.events

    transactional()  # warm-up: the first of two runs would pay for caches the second finds filled
    (without_s, without_q), (with_s, with_q) = without_receiver(transactional), transactional()
    print(
        f"1. transactional event: {with_s / args.events * 1e6:,.0f} µs CPU and {with_q:.1f} queries with the "
        f"counters, {without_s / args.events * 1e6:,.0f} µs and {without_q:.1f} queries without"
    )

    uncounted = without_receiver(lambda: world.record_campaign_sends(args.batch))
    world.forget_events()
    counted = world.record_campaign_sends(args.batch)
    n = args.recipients
    print(
        f"2. campaign events: {n / counted[1]:,.0f} events/s ({n / counted[0]:,.0f}/CPU-s) counted, "
        f"{n / uncounted[1]:,.0f}/s ({n / uncounted[0]:,.0f}/CPU-s) uncounted: the counting adds "
        f"{(counted[1] - uncounted[1]) / n * 1e6:,.0f} µs per event ({(counted[0] - uncounted[0]) / n * 1e6:,.0f} CPU)"
    )
    started = time.perf_counter()
    world.rebuild()
    print(f"   rebuild_tallies from the {n:,} events: {time.perf_counter() - started:,.1f} s")

    with counting_queries() as queries:
        started = time.perf_counter()
        results = world.results()
        elapsed = time.perf_counter() - started
    print(
        f"3. results_of: {elapsed * 1000:,.1f} ms, {queries.count} queries "
        f"(delivered {results.progress.sent:,}, {len(results.domains)} domains)"
    )

    tracemalloc.start()
    started = time.perf_counter()
    size = world.export()
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"4. CSV export: {size / 1e6:,.1f} MB in {elapsed:,.1f} s, peak Python memory {peak / 1e6:,.1f} MB")


class QueryCounter:
    count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


@contextmanager
def counting_queries():
    """Counts the statements run inside (without keeping them, unlike CaptureQueriesContext)."""
    from django.db import connection

    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        yield counter


class World:
    """A hosted domain, one transactional recipient, and a campaign whose audience is released to the outbox."""

    def __init__(self, recipients: int):
        from django.utils import timezone

        from accounts.models import Domain
        from campaigns.models import Campaign, CampaignRecipient
        from delivery.models import SendScope
        from mailboxes.models import Message, Recipient
        from mailboxes.services import store_message

        now = timezone.now()
        domain = Domain.objects.create(name="shop.bench.test")
        raw = b"From: news@shop.bench.test\r\nTo: a@d0.bench.test\r\nSubject: Sale\r\n\r\nHello.\r\n"
        personal, _ = store_message(raw=raw, status=Message.Status.QUEUED)
        self.transactional = Recipient.objects.create(
            message=personal, address="a@d0.bench.test", kind="to", domain="d0.bench.test"
        )
        message, _ = store_message(raw=raw, status=Message.Status.QUEUED, stream=Message.Stream.BULK)
        self.campaign = Campaign.objects.create(
            domain=domain, name="Sale", status=Campaign.Status.SENDING, message=message,
            audience_size=recipients, released_count=recipients, started_at=now,
        )  # fmt: skip
        SendScope.objects.create(message=message, domain=domain, campaign_id=self.campaign.pk)
        addresses = [(f"p{n}@d{n % 50}.bench.test", f"d{n % 50}.bench.test") for n in range(recipients)]
        outbox = Recipient.objects.bulk_create(
            [
                Recipient(message=message, address=address, kind="to", domain=domain_name, queue="bulk")
                for address, domain_name in addresses
            ],
            batch_size=2000,
        )
        CampaignRecipient.objects.bulk_create(
            [
                CampaignRecipient(campaign=self.campaign, address=r.address, domain=r.domain, recipient=r)
                for r in outbox
            ],
            batch_size=2000,
        )
        # As the engine has them: each with its message and send scope loaded.
        message = Message.objects.select_related("send_scope").get(pk=message.pk)
        for recipient in outbox:
            recipient.message = message
        self.outbox = outbox

    def record_transactional(self, count: int) -> float:
        from delivery.services.events import record_delivery_event

        started = time.process_time()
        for _ in range(count):
            record_delivery_event(recipient=self.transactional, event_type="deferred", transport="smtp")
        return time.process_time() - started

    def record_campaign_sends(self, batch: int) -> tuple[float, float]:
        """Store a "sent" event per recipient, a batch per transaction as ``record_results`` does.

        Returns (CPU, wall) seconds: on PostgreSQL the database's work is in the wall time only.
        """
        from django.db import transaction

        from core.bulk import insert_objects
        from delivery.models import DeliveryEvent
        from delivery.services.events import events_recorded, new_delivery_event

        started, cpu = time.perf_counter(), time.process_time()
        for start in range(0, len(self.outbox), batch):
            with transaction.atomic():
                events = [
                    new_delivery_event(recipient=r, event_type="sent", transport="smtp")
                    for r in self.outbox[start : start + batch]
                ]
                insert_objects(events)
                events_recorded.send(sender=DeliveryEvent, events=events)
        return time.process_time() - cpu, time.perf_counter() - started

    def forget_events(self) -> None:
        from delivery.models import DeliveryEvent

        DeliveryEvent.objects.filter(message_id=self.campaign.message_id).delete()

    def rebuild(self) -> None:
        from campaigns.services.results import rebuild_tallies

        rebuild_tallies(self.campaign)

    def results(self):
        from campaigns.selectors.results import results_of

        return results_of(self.campaign)

    def export(self) -> int:
        from campaigns.results_export import export_results

        return sum(len(chunk) for chunk in export_results(self.campaign))


if __name__ == "__main__":
    main()
