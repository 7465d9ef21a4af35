#!/usr/bin/env python
"""Reputation counters benchmark: what counting costs each recorded delivery outcome.

    python bench/reputation.py                   # 2,000 messages each way, SQLite
    python bench/reputation.py --db postgres     # on a throwaway PostgreSQL database
    python bench/reputation.py --messages 500    # a quick run
    python bench/reputation.py --help

Everything on loopback, in a temporary folder removed at the end:

1. starts Postfix's ``smtp-sink`` (a Python stand-in if Postfix is missing)
   and a loopback DNS server: ``--domains`` domains ``d{i}.bench.test``
   whose MX is ``mx.d{i}.bench.test`` -> 127.0.0.1, and a tenth of them at
   ``gmail-smtp-in.l.google.com`` (so the provider recognition by MX host runs);
2. migrates a throwaway database (SQLite file, or a new PostgreSQL database);
3. **engine**: submits ``--messages`` messages of ``--recipients`` recipients
   (``send_message``, not timed), then times the real engine
   (``run_delivery`` in this process) delivering them all to the sink, with the
   reputation receiver disconnected, then again with it connected (twice,
   alternated, after a warm-up run): outcomes per second, wall and CPU, and
   statements per outcome, each way;
4. **counting alone**: ``count_events`` over the stored "sent" events in
   batches of ``--batch`` (as the engine hands them over, each with its
   recipient and message loaded): µs per event, statements per batch.

A benchmark, not a test: it asserts nothing about time.
"""

import argparse
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import throwaway  # noqa: E402
from bench.outbound import HIGH, Sink  # noqa: E402
from bench.throwaway import ThrowawayDatabase  # noqa: E402

DOMAIN_TEMPLATE = "d{}.bench.test"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--messages", type=int, default=2_000, help="messages per timed run")
    parser.add_argument("--recipients", type=int, default=1, help="recipients per message")
    parser.add_argument("--domains", type=int, default=50)
    parser.add_argument("--batch", type=int, default=100, help="events per count_events call (step 4)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_reputation_"))
    database = ThrowawayDatabase(args, tmp, prefix="bench_reputation")
    sink = Sink(tmp)
    dns = start_dns(args)
    try:
        throwaway.setup_django(
            database.url, tmp, DNS_NAMESERVERS=dns.nameserver, SMTP_DELIVERY_PORT=str(sink.port), MAIL_TRANSPORT="mx",
            MAIL_HOSTNAME="bench.localhost", OUTBOUND_DOMAIN_RATE_PER_MINUTE=HIGH,
            OUTBOUND_SENDER_RATE_PER_MINUTE=HIGH, OUTBOUND_DOMAIN_CONCURRENCY=HIGH,
        )  # fmt: skip
        run(args, sink)
    finally:
        dns.stop()
        sink.stop()
        database.drop()
        shutil.rmtree(tmp, ignore_errors=True)


def start_dns(args):
    from tests.support.dns_server import LoopbackDNS

    dns = LoopbackDNS().start()
    dns.resolver.add("gmail-smtp-in.l.google.com. 3600 IN A 127.0.0.1")
    for i in range(args.domains):
        domain = DOMAIN_TEMPLATE.format(i)
        if i % 10 == 0:
            dns.resolver.add(f"{domain}. 3600 IN MX 5 gmail-smtp-in.l.google.com.")
        else:
            dns.resolver.add(f"{domain}. 3600 IN MX 10 mx.{domain}.")
            dns.resolver.add(f"mx.{domain}. 3600 IN A 127.0.0.1")
    return dns


class QueryCounter:
    count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


@contextmanager
def counting_queries():
    from django.db import connection

    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        yield counter


@contextmanager
def receiver(connected: bool):
    from delivery.services.events import events_recorded
    from reputation.apps import count_outcomes

    if not connected:
        events_recorded.disconnect(count_outcomes, dispatch_uid="reputation.count_outcomes")
    try:
        yield
    finally:
        events_recorded.connect(count_outcomes, dispatch_uid="reputation.count_outcomes")


def run(args, sink: Sink) -> None:
    from django.db import connection

    from accounts.models import Domain
    from tests.factories import UserFactory

    Domain.objects.get_or_create(name="sender.bench.test")
    sender = UserFactory(address="bench@sender.bench.test")
    outcomes = args.messages * args.recipients
    print(
        f"database: {connection.vendor}; sink: {sink.kind}; {args.messages:,} messages x {args.recipients} "
        f"recipient(s) per run over {args.domains} domains"
    )
    serial = [0]

    def delivery_run(connected: bool, messages: int) -> tuple[float, float, int]:
        submit(sender, messages, args, serial)
        with receiver(connected), counting_queries() as queries:
            wall, cpu = time.perf_counter(), time.process_time()
            deliver_all()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        return wall, cpu, queries.count

    delivery_run(True, max(50, args.messages // 10))  # warm-up: connections, caches, the first DKIM signing
    runs = {False: [], True: []}
    for connected in (False, True, False, True):
        runs[connected].append(delivery_run(connected, args.messages))
    for connected in (False, True):
        wall = min(r[0] for r in runs[connected])
        cpu = min(r[1] for r in runs[connected])
        queries = runs[connected][0][2]
        runs[connected] = (wall, cpu, queries)
        label = "with the counters   " if connected else "without the counters"
        print(
            f"3. engine {label}: {outcomes / wall:,.0f} outcomes/s (best of 2; {wall / outcomes * 1e6:,.0f} µs "
            f"wall, {cpu / outcomes * 1e6:,.0f} µs CPU per outcome), {queries / outcomes:.2f} statements per outcome"
        )
    (wall_off, cpu_off, q_off), (wall_on, cpu_on, q_on) = runs[False], runs[True]
    print(
        f"   the counting adds {(wall_on - wall_off) / outcomes * 1e6:,.0f} µs wall, "
        f"{(cpu_on - cpu_off) / outcomes * 1e6:,.0f} µs CPU, {(q_on - q_off) / outcomes:.2f} statements per outcome"
    )
    count_alone(args)


def submit(sender, messages: int, args, serial: list[int]) -> None:
    from delivery.services import send_message

    for _ in range(messages):
        n = serial[0]
        serial[0] += 1
        to = [f"r{n}-{k}@{DOMAIN_TEMPLATE.format((n + k) % args.domains)}" for k in range(args.recipients)]
        send_message(user=sender, to=to, subject=f"Bench {n}", text="Numbers inside.\n" * 20)


def deliver_all() -> None:
    from delivery.services.engine import run_delivery
    from mailboxes.models import Recipient

    while True:
        report = run_delivery()
        if not report.claimed and not Recipient.objects.filter(status__in=("queued", "sending")).exists():
            return


def count_alone(args) -> None:
    from django.db import transaction

    from delivery.models import DeliveryEvent
    from mailboxes.models import Message, Recipient
    from reputation.services.figures import count_events

    events = list(DeliveryEvent.objects.filter(event_type="sent").order_by("pk"))
    recipients = Recipient.objects.in_bulk([e.recipient_id for e in events])
    messages = Message.objects.select_related("send_scope").in_bulk({e.message_id for e in events})
    for event in events:  # as the engine hands them over
        recipient = recipients[event.recipient_id]
        recipient.message = messages[event.message_id]
        event.recipient = recipient
    batches = [events[start : start + args.batch] for start in range(0, len(events), args.batch)]
    with counting_queries() as queries:
        wall, cpu = time.perf_counter(), time.process_time()
        with transaction.atomic():  # the engine's transaction is there anyway: its commit is not the counting's
            for batch in batches:
                count_events(batch)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"4. count_events alone: {len(events):,} events in batches of {args.batch}: "
        f"{wall / len(events) * 1e6:,.1f} µs wall, {cpu / len(events) * 1e6:,.1f} µs CPU per event, "
        f"{(queries.count - 2) / len(batches):.1f} statements per batch"
    )


if __name__ == "__main__":
    main()
