#!/usr/bin/env python
"""Template benchmark: renders per second of a realistic template, and the batch API's accepted recipients per second.

    python bench/templates.py                          # 5,000 renders, 5 batches of 1,000, SQLite
    python bench/templates.py --db postgres            # the batch API on a throwaway PostgreSQL database
    python bench/templates.py --renders 20000 --batches 10
    python bench/templates.py --db postgres --renders 0 --clients 2   # two workers at once
    python bench/templates.py --help

It migrates a throwaway database in a temporary folder (or a new PostgreSQL
database ``bench_templates_*``, dropped afterwards), creates a hosted domain,
a service user with an API token and a transactional template whose version
has 10 declared variables, a loop over 5 items and a stylesheet to inline
(with an ``@media`` rule kept for phones), then:

1. **rendering**: ``campaigns.rendering.render_version`` for ``--renders``
   recipients (each with its own name and order number), once with the
   version's own text part and once with the text part generated from the
   HTML; prints renders per second (wall clock) and per CPU-second
   (``time.process_time``: what one core does, whatever else the machine runs);
2. **batch API**: ``--clients`` processes (forked, each with its own
   database connection, as a server's workers) each send ``--batches``
   requests to ``POST /api/emails/send-template/batch`` with ``--batch-size``
   personalizations, through Django's test client (the server's work without
   a network), all starting together; prints the accepted recipients per
   second of all of them (wall clock, first start to last end), per
   CPU-second of the client processes (the database server's CPU not
   counted), and the time per request. The delivery task each request
   dispatches lands in the file broker of the temporary folder and is not run.

A benchmark, not a test: it asserts nothing about time.
"""

import argparse
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import throwaway  # noqa: E402
from bench.throwaway import ThrowawayDatabase  # noqa: E402

CSS = """
body { font-family: Arial, sans-serif; color: #222; margin: 0; }
.wrap { max-width: 600px; margin: 0 auto; padding: 16px; }
h1 { font-size: 22px; color: #0a5; }
table { width: 100%; border-collapse: collapse; }
td { padding: 6px; border-bottom: 1px solid #eee; }
.total td { font-weight: bold; }
.footer { font-size: 12px; color: #888; }
@media (max-width: 600px) { .wrap { padding: 8px; } h1 { font-size: 18px; } }
"""
HTML = (
    "<!doctype html><html><head><style>" + CSS + "</style></head><body><div class='wrap'>"
    "<h1>Thanks, {{ first }} {{ last }}!</h1>"
    "<p>Your order <b>{{ order }}</b> of {{ placed|date('%d %B %Y') }} ships to:</p>"
    "<p>{{ street }}<br>{{ zip }} {{ city }}<br>{{ country }}</p>"
    "<table>{% for item in items %}<tr><td>{{ loop.index }}</td><td>{{ item.name }}</td>"
    "<td>{{ item.qty }}</td><td>{{ item.price }}</td></tr>{% endfor %}"
    "<tr class='total'><td colspan='3'>Total</td><td>{{ total }}</td></tr></table>"
    "<p class='footer'>Shop Inc., 1 Main Street. You receive this because you ordered from us.</p>"
    "</div></body></html>"
)
TEXT = (
    "Thanks, {{ first }} {{ last }}!\n\nYour order {{ order }} of {{ placed }} ships to:\n"
    "{{ street }}\n{{ zip }} {{ city }}\n{{ country }}\n\n"
    "{% for item in items %}{{ loop.index }}. {{ item.name }} x {{ item.qty }}: {{ item.price }}\n{% endfor %}"
    "Total: {{ total }}\n"
)
VARIABLES = [
    {"name": name, "type": "string", "required": True}
    for name in ("first", "last", "order", "street", "zip", "city", "country", "total")
] + [{"name": "placed", "type": "date", "required": True}, {"name": "items", "type": "list", "required": True}]


def values(n: int) -> dict:
    return {
        "first": f"Ann{n}",
        "last": "Lee",
        "order": f"A-{n:06d}",
        "street": f"{n} Rue de Rivoli",
        "zip": "75001",
        "city": "Paris",
        "country": "France",
        "total": f"€{n % 500}.00",
        "placed": "2026-12-01",
        "items": [{"name": f"Item {i} <special>", "qty": i + 1, "price": f"€{i + 1}.00"} for i in range(5)],
    }


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--renders", type=int, default=5000, help="renders in each rendering run (0: none)")
    parser.add_argument("--batches", type=int, default=5, help="batch API requests")
    parser.add_argument("--batch-size", type=int, default=1000, help="personalizations per request (max 1,000)")
    parser.add_argument(
        "--clients", type=int, default=1, help="processes sending batches at once (a server's workers), each its own"
    )
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432"),
        help="PostgreSQL server for --db postgres; a database bench_templates_* is created there and dropped",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return parser.parse_args()


def setup_django(args, tmp: Path) -> ThrowawayDatabase:
    database = ThrowawayDatabase(args, tmp, prefix="bench_templates")
    throwaway.setup_django(
        database.url, tmp, ALLOWED_HOSTS="testserver",
        CELERY_TASK_ALWAYS_EAGER="false",  # dispatches land in the temp folder's file broker
        API_THROTTLE_USER="100000/min", API_THROTTLE_TOKEN="100000/min",  # noqa: S106 - a rate
    )  # fmt: skip
    return database


def make_world():
    from accounts.models import Domain
    from accounts.services import create_api_token, create_mail_user
    from campaigns.models import Template, TemplateVersion

    Domain.objects.get_or_create(name="shop.bench.test")
    user = create_mail_user(address="receipts@shop.bench.test", password=secrets.token_urlsafe(), display_name="Shop")
    _, token = create_api_token(user=user, name="bench")
    versions = {}
    for key, text in (("with_text", TEXT), ("generated_text", "")):
        template = Template.objects.create(domain=Domain.objects.get(name="shop.bench.test"), key=key)
        version = TemplateVersion.objects.create(
            template=template, number=1, subject="Your order {{ order }}", html=HTML, text=text, variables=VARIABLES
        )
        template.active_version = version
        template.save(update_fields=["active_version"])
        versions[key] = version
    return token, versions


def bench_rendering(versions, count: int) -> None:
    from campaigns.rendering import render_version

    inputs = [values(n) for n in range(count)]
    print(f"rendering: {count} recipients, 10 variables, a loop over 5 items, CSS inlined")
    for key, version in versions.items():
        render_version(version, inputs[0])  # compiled once per version, as in production
        wall, cpu = time.perf_counter(), time.process_time()
        size = 0
        for value in inputs:
            rendered = render_version(version, value)
            size += len(rendered.html) + len(rendered.text)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(
            f"  {key:15} {count / wall:8,.0f} renders/s   {count / cpu:8,.0f} renders per CPU-second"
            f"   ({size / count / 1024:.1f} KiB of HTML and text each)"
        )


def bench_batch_api(token: str, batches: int, size: int, clients: int) -> None:
    """``clients`` processes, each with its own database connection, sending ``batches`` requests at once."""
    import multiprocessing

    from django.db import connections

    from mailboxes.models import Message

    connections.close_all()  # each process opens its own connection, as a server's workers do
    context = multiprocessing.get_context("fork")
    start, results = context.Barrier(clients), context.Queue()
    workers = [
        context.Process(target=_client, args=(token, number, batches, size, start, results))
        for number in range(clients)
    ]
    for worker in workers:
        worker.start()
    reports = [results.get() for _ in workers]
    for worker in workers:
        worker.join()
    if any(isinstance(report, str) for report in reports):
        raise SystemExit("\n".join(report for report in reports if isinstance(report, str)))
    times = [t for report in reports for t in report["times"]]
    wall = max(r["end"] for r in reports) - min(r["start"] for r in reports)
    cpu = sum(r["cpu"] for r in reports)
    total = clients * batches * size
    print(
        f"batch API: {clients} client process(es) x {batches} requests of {size} personalizations "
        f"({Message.objects.count()} messages stored)"
    )
    print(
        f"  {total / wall:8,.0f} accepted recipients/s (all clients, wall)   {total / cpu:8,.0f} per CPU-second of "
        f"the clients   per request: p50 {statistics.median(times) * 1000:,.0f} ms, max {max(times) * 1000:,.0f} ms"
    )


def _client(token: str, number: int, batches: int, size: int, start, results) -> None:
    """One client process: its own requests (and addresses), timed from when every client is ready."""
    from django.db import connections
    from rest_framework.test import APIClient

    try:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        bodies = [
            {
                "templateId": "with_text",
                "personalizations": [
                    {"to": [f"customer{number}-{b}-{n}@d{n % 50}.bench.test"], "variables": values(n)}
                    for n in range(size)
                ],
            }
            for b in range(batches)
        ]
        start.wait()
        times, began, cpu = [], time.perf_counter(), time.process_time()
        for body in bodies:
            sent = time.perf_counter()
            response = client.post("/api/emails/send-template/batch", body, format="json")
            times.append(time.perf_counter() - sent)
            if response.status_code != 202:
                raise RuntimeError(f"batch refused: {response.status_code} {response.content[:500]!r}")
        end, cpu = time.perf_counter(), time.process_time() - cpu
        results.put({"times": times, "start": began, "end": end, "cpu": cpu})
    except Exception as exc:  # noqa: BLE001 - reported by the parent, which waits for every client
        start.abort()
        results.put(f"client {number}: {exc!r}")
    finally:
        connections.close_all()


def main() -> None:
    args = parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_templates_"))
    database = None
    try:
        database = setup_django(args, tmp)
        from django.db import connection

        print(f"database: {connection.vendor}; CPUs: {os.cpu_count()}; load average: {os.getloadavg()}")
        token, versions = make_world()
        if args.renders:
            bench_rendering(versions, args.renders)
        bench_batch_api(token, args.batches, args.batch_size, args.clients)
        print(f"load average after: {os.getloadavg()}")
    finally:
        if database:
            from django.db import connections

            connections.close_all()
            database.drop()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
