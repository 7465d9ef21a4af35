#!/usr/bin/env python
"""Indexing rate on a kept corpus: index it again from an empty index, with CPU per message, profile, workers.

    python bench/search.py --db postgres --messages 20000 --keep --no-notmuch --runs 1 --warmup 0
    # ... kept /tmp/bench-search-XXXX and database bench_search_YYYY
    python bench/search_indexing.py --folder /tmp/bench-search-XXXX \\
        --db-url postgres://postgres@127.0.0.1:5432/bench_search_YYYY [--profile] [--workers 2]

Empties the index (``search_document``, and the cursors set back to 0, as before the first run),
then runs ``index_changes()`` until the feed and the sweep are caught up, as ``bench/search.py``
does, in ``--workers`` processes at once (each its own connection, as Celery workers would be).
Prints messages per second, and the CPU per message of the Python processes and of their
PostgreSQL backends (read from ``/proc``: the database runs on this machine), which the load of
other work on a shared machine changes much less than the rate; SQL statements per batch.
``--profile`` runs one worker under cProfile and prints where its time goes. ``--explain``
prints EXPLAIN (ANALYZE, BUFFERS) of one batch's statements, rolled back.
Asserts nothing.
"""

import argparse
import cProfile
import io
import multiprocessing
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.throwaway import setup_django  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folder", required=True, help="the temporary folder a --keep run of bench/search.py kept")
    parser.add_argument("--db-url", required=True, help="its database")
    parser.add_argument("--batch-size", type=int, default=None, help="SEARCH_INDEX_BATCH_SIZE (default: settings)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--split-items",
        action="store_true",
        help="each worker indexes its share of the items (id modulo workers) by index_items, without the feed: "
        "what parallel workers would give if the feed were partitioned",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile one worker (no --workers)")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN one batch's statements, then stop")
    parser.add_argument("--top", type=int, default=35, help="profile lines printed")
    return parser.parse_args(argv)


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def backend_cpu(cursor) -> float | None:
    """CPU seconds used so far by this connection's PostgreSQL backend process (None on another database)."""
    if cursor.db.vendor != "postgresql":
        return None
    cursor.execute("SELECT pg_backend_pid()")
    pid = cursor.fetchone()[0]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def reset_index() -> int:
    from django.db import connection

    from mailboxes.models import MailboxChange

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE search_document")
        cursor.execute("DELETE FROM search_indexcursor")
        cursor.execute("CHECKPOINT")
    return MailboxChange.objects.count()


def index_share(args, share: int) -> int:
    """Indexes the items whose id modulo ``args.workers`` is ``share``, a batch per transaction."""
    from django.db import transaction

    from mailboxes.models import MailboxItem
    from mailboxes.search.indexing import index_items

    ids = [pk for pk in MailboxItem.objects.order_by("pk").values_list("pk", flat=True) if pk % args.workers == share]
    total = 0
    for start in range(0, len(ids), args.batch_size):
        with transaction.atomic():
            total += index_items(ids[start : start + args.batch_size])
    return total


def work(args, queue=None, share: int = 0) -> dict:
    """One indexing worker: ``index_changes`` until it finds nothing twice (another may hold the cursor)."""
    from django.db import connection

    from mailboxes.search.indexing import index_changes

    statements = 0

    def count(execute, sql, params, many, context):
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    connection.close()  # a forked worker opens its own
    with connection.cursor() as cursor:
        db_cpu = backend_cpu(cursor)
    cpu, started = time.process_time(), time.monotonic()
    total, idle = 0, 0
    profiler = cProfile.Profile() if args.profile else None
    with connection.execute_wrapper(count):
        while args.split_items and idle < 1:
            total = index_share(args, share)
            idle = 1
        while not args.split_items and idle < 2:
            if profiler:
                profiler.enable()
            done = index_changes(batch_size=args.batch_size, max_batches=20)
            if profiler:
                profiler.disable()
            total += done
            idle = 0 if done else idle + 1
            if not done and args.workers > 1:
                time.sleep(0.05)  # the other worker may be in the middle of a batch
    seconds = time.monotonic() - started
    with connection.cursor() as cursor:
        db_cpu = backend_cpu(cursor) - db_cpu
    result = {
        "indexed": total,
        "seconds": seconds,
        "python_cpu": time.process_time() - cpu,
        "db_cpu": db_cpu,
        "statements": statements,
    }
    if profiler:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(args.top)
        stats.sort_stats("tottime").print_stats(args.top)
        result["profile"] = out.getvalue()
    if queue is not None:
        queue.put(result)
    return result


def explain(args) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of every statement of one feed batch, rolled back."""
    from django.db import connection, transaction

    from mailboxes.search.indexing import index_changes

    captured: list[tuple[str, object]] = []

    def capture(execute, sql, params, many, context):
        if not many and sql.lstrip().upper().startswith(("SELECT", "INSERT", "UPDATE", "DELETE")):
            captured.append((sql, params))
        return execute(sql, params, many, context)

    with transaction.atomic():
        with connection.execute_wrapper(capture):
            index_changes(batch_size=args.batch_size, max_batches=1)
        transaction.set_rollback(True)
    with transaction.atomic(), connection.cursor() as cursor:
        for sql, params in captured:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            shown = sql if len(sql) < 400 else sql[:400] + f"… ({len(sql)} characters)"
            print(f"\n-- {shown}")
            print("\n".join(row[0] for row in cursor.fetchall()))
        transaction.set_rollback(True)


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_django(args.db_url, Path(args.folder))
    from django.conf import settings

    args.batch_size = args.batch_size or settings.SEARCH_INDEX_BATCH_SIZE
    changes = reset_index()
    if args.explain:
        explain(args)
        return 0
    load = os.getloadavg()
    log(f"index emptied; {changes} changes to follow, batch {args.batch_size}, {args.workers} worker(s), load {load}")
    started = time.monotonic()
    if args.workers == 1:
        results = [work(args)]
    else:
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        from django.db import connection

        connection.close()
        processes = [context.Process(target=work, args=(args, queue, n)) for n in range(args.workers)]
        for process in processes:
            process.start()
        results = [queue.get() for _ in processes]
        for process in processes:
            process.join()
    wall = time.monotonic() - started
    total = sum(r["indexed"] for r in results)
    python_cpu = sum(r["python_cpu"] for r in results)
    db_cpu = sum(r["db_cpu"] for r in results)
    statements = sum(r["statements"] for r in results)
    print(f"load average at start {load[0]:.2f}, at end {os.getloadavg()[0]:.2f}")
    print(f"indexing: {total} items in {wall:.2f} s = {total / wall:.1f} msg/s ({args.workers} worker(s))")
    for n, r in enumerate(results):
        cpu = f"{r['python_cpu']:.1f} s Python CPU, {r['db_cpu']:.1f} s database CPU"
        print(f"  worker {n}: {r['indexed']} items, {cpu}")
    print(
        f"CPU per message: {1000 * python_cpu / total:.3f} ms Python + {1000 * db_cpu / total:.3f} ms PostgreSQL "
        f"= {1000 * (python_cpu + db_cpu) / total:.3f} ms; "
        f"{statements} SQL statements ({statements / (total / args.batch_size):.1f} per {args.batch_size} items)"
    )
    if results[0].get("profile"):
        print(results[0]["profile"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
