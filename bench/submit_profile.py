#!/usr/bin/env python
"""Where one API send spends its time: per-send milliseconds, SQL queries per send, and the top of a profile.

    python bench/submit_profile.py                      # 300 sends, SQLite
    python bench/submit_profile.py --db postgres        # a throwaway PostgreSQL database
    python bench/submit_profile.py --sends 1000 --top 40

It migrates a throwaway database (a SQLite file in a temporary folder, or a
new PostgreSQL database ``bench_submit_*``, dropped afterwards), creates a
hosted DKIM-signing domain and a sender with an API token, and sends
``--sends`` messages (``--recipients`` each, on distinct outside domains)
with ``POST /api/emails/send`` through Django's test client: the server's
work without a network. The delivery task each send dispatches lands in
the file broker of the temporary folder and is not run (the delivery phase
is ``bench/outbound.py``'s). The first ``--warmup`` sends are not counted.

Prints the mean and percentiles of the time per send (wall clock, so the
machine's other load counts), the CPU time of this process per send
(``time.process_time``: steadier on a loaded machine), the SQL queries per send grouped by table and
verb, and the top ``--top`` functions of a cProfile of the counted sends by
cumulative time. A benchmark, not a test: it asserts nothing.
"""

import argparse
import cProfile
import io
import os
import pstats
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import throwaway  # noqa: E402
from bench.throwaway import ThrowawayDatabase  # noqa: E402
from chaos.infra import NO_SEND_LIMITS  # noqa: E402

SENDER = "service@shop.bench.test"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sends", type=int, default=300, help="counted API sends")
    parser.add_argument("--warmup", type=int, default=20, help="sends before counting (caches, first queries)")
    parser.add_argument("--recipients", type=int, default=3, help="recipients per message, on distinct domains")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--cache-url", default="", help="CACHE_URL for the API's rate counters (default: the database)")
    parser.add_argument("--top", type=int, default=30, help="profile lines to print")
    parser.add_argument(
        "--profile-clock", choices=("wall", "cpu"), default="wall",
        help="what the profile counts: wall-clock time (waits included) or this process's CPU time",
    )  # fmt: skip
    parser.add_argument("--no-profile", action="store_true", help="time without cProfile")
    return parser.parse_args(argv)


def setup(args, tmp: Path) -> ThrowawayDatabase:
    database = ThrowawayDatabase(args, tmp, prefix="bench_submit")
    throwaway.setup_django(
        database.url,
        tmp,
        CELERY_TASK_ALWAYS_EAGER="false",  # dispatches land in the temp folder's file broker
        ALLOWED_HOSTS="testserver",
        REPUTATION_COMPROMISE_DETECTION="false",
        DOMAIN_VERIFICATION_REQUIRED="false",
        API_THROTTLE_USER="1000000000/min",
        API_THROTTLE_TOKEN="1000000000/min",  # noqa: S106 - a rate, not a secret
        **({"CACHE_URL": args.cache_url} if args.cache_url else {}),
        **NO_SEND_LIMITS,
    )
    return database


def make_client():
    from rest_framework.test import APIClient

    from accounts.services import create_api_token, create_domain, create_mail_user, ensure_dkim_key

    create_domain(name=SENDER.split("@")[1])
    ensure_dkim_key(domain_name=SENDER.split("@")[1])
    user = create_mail_user(address=SENDER, password=None, display_name="Shop")
    _, token = create_api_token(user=user, name="bench")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def payload(args, index: int) -> dict:
    return {
        "to": [f"customer{index}@d{(index + r) % 200}.example" for r in range(args.recipients)],
        "subject": f"Your order {index}",
        "body": f"Hello,\n\nyour order {index} has shipped.\n" + "It is on its way. " * 60 + "\n",
    }


def query_kind(sql: str) -> str:
    head = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "?"
    if head in ("SAVEPOINT", "RELEASE", "ROLLBACK"):
        return head
    if head == "UPDATE":
        match = re.match(r'\s*UPDATE\s+"?(\w+)"?', sql, re.I)
        return f"UPDATE {match.group(1) if match else '?'}"
    match = re.search(r'\b(?:FROM|INTO)\s+"?(\w+)"?', sql, re.I)
    return f"{head} {match.group(1) if match else '?'}"


def send(client, args, index: int) -> None:
    response = client.post("/api/emails/send", payload(args, index), format="json")
    if response.status_code != 202:
        raise SystemExit(f"send {index}: HTTP {response.status_code} {response.content[:500]!r}")


def main(argv=None) -> None:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench_submit_"))
    database = setup(args, tmp)
    try:
        run(args)
    finally:
        from django.db import connections

        connections.close_all()
        database.drop()
        shutil.rmtree(tmp, ignore_errors=True)


def run(args) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = make_client()
    for i in range(args.warmup):
        send(client, args, i)

    queries = Counter()
    per_send_queries = []
    for i in range(args.warmup, args.warmup + 20):  # the query mix, from 20 sends
        with CaptureQueriesContext(connection) as ctx:
            send(client, args, i)
        per_send_queries.append(len(ctx.captured_queries))
        queries.update(query_kind(q["sql"]) for q in ctx.captured_queries)

    start = args.warmup + 20
    times, cpu = [], []
    profile = cProfile.Profile(time.process_time) if args.profile_clock == "cpu" else cProfile.Profile()
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    for i in range(start, start + args.sends):
        began, began_cpu = time.perf_counter(), time.process_time()
        if args.no_profile:
            send(client, args, i)
        else:
            profile.runcall(send, client, args, i)
        times.append((time.perf_counter() - began) * 1000)
        cpu.append((time.process_time() - began_cpu) * 1000)
    load_after = Path("/proc/loadavg").read_text().split()[:3]

    times.sort()
    pct = lambda p: times[min(len(times) - 1, int(len(times) * p))]  # noqa: E731
    print(f"database: {connection.vendor}; {args.sends} API sends of {args.recipients} recipients; shared machine")
    print(f"load average before {' '.join(load_before)}, after {' '.join(load_after)}")
    print(
        f"per send: mean {statistics.mean(times):.2f} ms, p50 {pct(0.5):.2f}, p95 {pct(0.95):.2f}, "
        f"max {times[-1]:.2f} ms ({'under cProfile' if not args.no_profile else 'no profiler'}); "
        f"{1000 / statistics.mean(times):.0f} sends/s in one process"
    )
    print(
        f"CPU of this process per send: mean {statistics.mean(cpu):.2f} ms, median {statistics.median(cpu):.2f} ms "
        "(the database server's CPU not counted)"
    )
    print(f"SQL queries per send: {statistics.mean(per_send_queries):.1f} (20 sends)")
    for kind, count in queries.most_common():
        print(f"  {count / len(per_send_queries):5.1f}  {kind}")
    if not args.no_profile:
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(args.top)
        print(out.getvalue())


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webmail.settings")
    main()
