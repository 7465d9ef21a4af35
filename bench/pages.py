#!/usr/bin/env python
"""Webmail page benchmark: server-side time and SQL queries of the main pages on a big mailbox.

    python bench/pages.py                       # 100,000 messages in one mailbox, SQLite
    python bench/pages.py --messages 1000000    # a million (takes a while to fill)
    python bench/pages.py --db postgres         # on a throwaway PostgreSQL database
    python bench/pages.py --help

It migrates a throwaway database in a temporary folder (or a new PostgreSQL
database ``bench_pages_*``, dropped afterwards), fills one user's mailbox with
``--messages`` messages in conversations of one to five messages, with labels,
stars and some unread mail, and then requests, through Django's test client in
this process (so the figures are the server's work, without a network):

- the inbox, first page;
- a later page of the inbox (following the keyset cursor ``--depth`` pages deep);
- a conversation view (three messages, one with HTML);
- the new-mail poll (the sidebar's unread counts);
- the pages of issue 18 that exist: each settings section, the snoozed and
  scheduled lists, a label's page and its edit page, and the inbox beside a
  reading pane in compact density.

It prints p50/p95/max over ``--runs`` requests, the number of SQL queries
of each page, and the CPU time a request costs (the Django process's, median,
and on a local PostgreSQL its backend's, mean: the load makes requests wait, not
work more), for a small mailbox (100 messages) and the big one, so that a query
count that grows with the mailbox shows up. The mailbox is filled with
bulk inserts (every message shares one stored blob) rather than through the
services, which would take hours for a million messages; the pages read it
through the same selectors as always. A benchmark, not a test: it asserts
nothing about time.
"""

import argparse
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000, help="messages in the big mailbox")
    parser.add_argument("--runs", type=int, default=100, help="requests per page")
    parser.add_argument("--depth", type=int, default=20, help="how many pages deep the 'later page' is")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument(
        "--db-name",
        help="PostgreSQL: use and keep this database (created if missing); a mailbox of the same size and"
        " --archived share already filled in it is reused, so a million is filled once for many runs",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--archived",
        type=int,
        metavar="PERCENT",
        help="archive this share of the big mailbox's messages, in runs of ten (default: each tenth message)",
    )
    parser.add_argument("--main-only", action="store_true", help="only the four pages of issue 19")
    parser.add_argument("--show-queries", action="store_true", help="print the slowest queries of each page")
    parser.add_argument(
        "--profile",
        type=int,
        metavar="REQUESTS",
        help="then profile this many requests of the big mailbox's inbox (CPU clock) and print where they go",
    )
    return parser.parse_args()


def setup_django(args, tmp: Path) -> str | None:
    os.environ["VAR_DIR"] = str(tmp)
    # As in production: no template debugging, no query log (the bench captures queries itself).
    os.environ["DEBUG"] = "false"
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(50)
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"
    pg_name = None
    if args.db == "postgres":
        base = args.postgres_url.rsplit("/", 1)[0]
        if args.db_name:  # kept: not returned, so never dropped
            subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", args.db_name], check=False)  # noqa: S603, S607
            os.environ["DATABASE_URL"] = f"{base}/{args.db_name}"
        else:
            pg_name = f"bench_pages_{secrets.token_hex(4)}"
            subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", pg_name], check=True)  # noqa: S603, S607
            os.environ["DATABASE_URL"] = f"{base}/{pg_name}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webmail.settings")
    import django

    django.setup()

    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return pg_name


def fill(user, count: int, *, blob, labels, archived: int | None = None) -> None:
    """``count`` messages in threads of 1-5, newest last; about 2 % unread, 1 % starred, 20 % labelled."""
    from django.db import transaction
    from django.utils import timezone

    from mailboxes.models import Folder, MailboxItem, Message, Thread

    now = timezone.now()
    start = now - timedelta(minutes=count)
    made, batch = 0, 5000
    through = MailboxItem.labels.through
    while made < count:
        size = min(batch, count - made)
        with transaction.atomic():
            threads, messages, shapes = [], [], []
            n = made
            while n < made + size:
                length = min(1 + n % 5, made + size - n)
                threads.append(
                    Thread(
                        user=user,
                        subject=f"Conversation {n}",
                        subject_key=f"conversation {n}",
                        latest_at=start + timedelta(minutes=n + length - 1),
                        message_count=length,
                        senders=[{"name": "Bench Sender", "address": "sender@remote.example"}],
                        addresses=["sender@remote.example"],
                        snippet="The quick brown fox jumps over the lazy dog.",
                    )
                )
                shapes.append((n, length))
                n += length
            Thread.objects.bulk_create(threads)
            for (first, length), thread in zip(shapes, threads, strict=True):
                for k in range(length):
                    messages.append(
                        Message(
                            blob=blob,
                            message_id=f"bench-{first + k}@remote.example",
                            subject=thread.subject,
                            from_name="Bench Sender",
                            from_address="sender@remote.example",
                            to=[{"name": "", "address": user.username}],
                            date=start + timedelta(minutes=first + k),
                            size=blob.size,
                            snippet=thread.snippet,
                            created_at=start + timedelta(minutes=first + k),
                        )
                    )
            Message.objects.bulk_create(messages)
            items, thread_of = [], []
            for (_first, length), thread in zip(shapes, threads, strict=True):
                thread_of += [thread] * length
            for i, (message, thread) in enumerate(zip(messages, thread_of, strict=True)):
                number = made + i
                items.append(
                    MailboxItem(
                        user=user,
                        message=message,
                        thread=thread,
                        origin=MailboxItem.Origin.RECEIVED,
                        folder=Folder.ARCHIVE if _archived(number, archived) else Folder.INBOX,
                        is_read=number % 50 != 0,
                        is_starred=number % 100 == 0,
                        received_at=message.date,
                    )
                )
            MailboxItem.objects.bulk_create(items)
            unread = {}
            for item in items:
                if not item.is_read:
                    unread[item.thread_id] = unread.get(item.thread_id, 0) + 1
            for thread in threads:
                if thread.pk in unread:
                    thread.unread_count = unread[thread.pk]
            Thread.objects.bulk_update([t for t in threads if t.pk in unread], ["unread_count"])
            links = [
                through(mailboxitem_id=item.pk, label_id=labels[(made + i) % len(labels)].pk)
                for i, item in enumerate(items)
                if (made + i) % 5 == 0
            ]
            through.objects.bulk_create(links)
        made += size
        print(f"\r  filled {made:,} / {count:,}", end="", flush=True)
    print()


# The shape ``fill`` gives, computed by PostgreSQL: threads start every 10 messages at offsets 0, 1, 3 and 7
# with 1, 2, 4 and 3 messages (thread of message n: 4 * (n / 10) + j); the same flags, folders and labels.
_PG_FILL = """
INSERT INTO mailboxes_thread (id, user_id, subject, subject_key, starts_with_reply, latest_at, message_count,
    unread_count, senders, addresses, snippet, has_attachments, created_at)
SELECT %(thread_base)s + t, %(user)s, 'Conversation ' || n, 'conversation ' || n, false,
    %(start)s + (n + len - 1) * interval '1 minute', len,
    CASE WHEN n %% 50 = 0 OR (n + len - 1) / 50 > n / 50 THEN 1 ELSE 0 END,
    '[{"name": "Bench Sender", "address": "sender@remote.example"}]', '["sender@remote.example"]',
    'The quick brown fox jumps over the lazy dog.', false, now()
FROM (
    SELECT t, n, LEAST((ARRAY[1, 2, 4, 3])[t %% 4 + 1], %(count)s - n) AS len
    FROM (SELECT t, 10 * (t / 4) + (ARRAY[0, 1, 3, 7])[t %% 4 + 1] AS n
          FROM generate_series(%(first)s / 10 * 4, (%(last)s + 9) / 10 * 4 - 1) AS t) AS starts
    WHERE n >= %(first)s AND n < %(last)s
) AS threads;

INSERT INTO mailboxes_message (id, status, message_id, in_reply_to, "references", subject, from_name, from_address,
    "to", cc, date, size, snippet, has_attachments, headers, parse_defects, created_at, updated_at, blob_id,
    sender_id, stream, content_fingerprint)
SELECT %(message_base)s + n, 'received', 'bench-' || n || '@remote.example', '', '[]',
    'Conversation ' || (10 * (n / 10) + (ARRAY[0, 1, 1, 3, 3, 3, 3, 7, 7, 7])[n %% 10 + 1]),
    'Bench Sender', 'sender@remote.example', %(to)s, '[]', %(start)s + n * interval '1 minute', %(size)s,
    'The quick brown fox jumps over the lazy dog.', false, '{}', '[]', %(start)s + n * interval '1 minute', now(),
    %(blob)s, NULL, 'personal', ''
FROM generate_series(%(first)s, %(last)s - 1) AS n;

INSERT INTO mailboxes_mailboxitem (id, user_id, message_id, thread_id, origin, folder, previous_folder, is_read,
    is_starred, received_at, updated_at, send_scheduled)
SELECT %(item_base)s + n, %(user)s, %(message_base)s + n,
    %(thread_base)s + 4 * (n / 10) + (ARRAY[0, 1, 1, 2, 2, 2, 2, 3, 3, 3])[n %% 10 + 1], 'received',
    CASE WHEN (%(archived)s::int IS NULL AND n %% 10 = 0) OR n %% 100 < %(archived)s::int
        THEN 'archive' ELSE 'inbox' END, '', n %% 50 <> 0, n %% 100 = 0,
    %(start)s + n * interval '1 minute', now(), false
FROM generate_series(%(first)s, %(last)s - 1) AS n;

INSERT INTO mailboxes_mailboxitem_labels (mailboxitem_id, label_id)
SELECT %(item_base)s + n, (%(labels)s::bigint[])[n %% %(label_count)s + 1]
FROM generate_series(%(first)s, %(last)s - 1) AS n WHERE n %% 5 = 0;
"""


def _archived(number: int, archived: int | None) -> bool:
    """Whether message ``number`` goes to the Archive: each tenth, or ``archived`` % in runs of ten."""
    return number % 10 == 0 if archived is None else number % 100 < archived


def fill_postgres(user, count: int, *, blob, labels, archived: int | None = None) -> None:
    """``fill``, computed by PostgreSQL itself (``INSERT … SELECT generate_series``): a million in minutes.

    Ids are taken above the tables' highest and the sequences moved past them afterwards.
    """
    import json

    from django.db import connection, transaction
    from django.utils import timezone

    start = timezone.now() - timedelta(minutes=count)
    with connection.cursor() as cursor:
        bases = {}
        for name, table in (("thread_base", "thread"), ("message_base", "message"), ("item_base", "mailboxitem")):
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM mailboxes_{table}")  # noqa: S608
            bases[name] = cursor.fetchone()[0]
    params = {
        **bases,
        "user": user.pk,
        "start": start,
        "count": count,
        "to": json.dumps([{"name": "", "address": user.username}]),
        "size": blob.size,
        "blob": blob.pk,
        "labels": [label.pk for label in labels],
        "label_count": len(labels),
        "archived": archived,
    }
    made, batch = 0, 100_000
    while made < count:
        size = min(batch, count - made)
        with transaction.atomic(), connection.cursor() as cursor:
            for statement in _PG_FILL.strip().split(";\n\n"):
                cursor.execute(statement, {**params, "first": made, "last": made + size})
        made += size
        print(f"\r  filled {made:,} / {count:,}", end="", flush=True)
    print()
    with connection.cursor() as cursor:
        for table in ("thread", "message", "mailboxitem"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('mailboxes_{table}', 'id'), "  # noqa: S608
                f"(SELECT MAX(id) FROM mailboxes_{table}))"
            )


def make_mailbox(address: str, count: int, archived: int | None = None):
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from accounts.models import Domain
    from accounts.services import create_domain, create_mail_user
    from delivery.services import send_message
    from mailboxes.blobstore import store_blob
    from mailboxes.services import create_label

    raw = (
        f"From: Bench Sender <sender@remote.example>\r\nTo: {address}\r\nSubject: Conversation\r\n"
        "Message-ID: <bench@remote.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        "<p>The <b>quick</b> brown fox <a href='https://example.org/'>jumps</a> over the lazy dog.</p>\r\n"
    )
    blob = store_blob(raw.encode())  # content-addressed: on reuse, writes the file again into this run's store
    existing = get_user_model().objects.filter(username=address).first()
    if existing is not None:  # filled by an earlier run (--db-name): its biggest conversation, as below
        print(f"  reusing {address}")
        return existing, _conversation_to_show(existing)
    if not Domain.objects.filter(name="bench.test").exists():
        create_domain(name="bench.test")
        # Verified, as a domain in use is: an unverified one may not send to remote.example.
        Domain.objects.filter(name="bench.test").update(verified_at=timezone.now())
    user = create_mail_user(address=address, password=secrets.token_urlsafe(), display_name="Bench User")
    labels = [create_label(user=user, name=name) for name in ("Work", "Family", "Travel", "Receipts")]
    from django.db import connection

    fill_mailbox = fill_postgres if connection.vendor == "postgresql" else fill
    fill_mailbox(user, count, blob=blob, labels=labels, archived=archived)
    # One real conversation through the services, with a sent message and its delivery status.
    send_message(user=user, to=["someone@remote.example"], subject="A conversation", text="Hello there.")
    return user, _conversation_to_show(user)


def _conversation_to_show(user) -> int:
    from mailboxes.models import MailboxItem

    return MailboxItem.objects.filter(user=user).order_by("-thread__message_count", "-pk")[0].thread_id


class QueryTimer:
    """Counts and times the SQL of one request (an execute wrapper: works with DEBUG off)."""

    def __init__(self):
        self.queries = []

    def __call__(self, execute, sql, params, many, context):
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.queries.append(((time.perf_counter() - began) * 1000, sql, params))


def measure(client, url: str, runs: int, show_queries: bool = False) -> tuple:
    """Server time of each of ``runs`` requests, the number of queries, and the SQL time of each request."""
    from django.db import connection

    client.get(url)  # warm up caches and connections
    timer = QueryTimer()
    with connection.execute_wrapper(timer):
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    if show_queries:
        print(f"\n  {url}")
        for ms, sql, _params in sorted(timer.queries, key=lambda q: q[0], reverse=True)[:4]:
            print(f"    {ms:6.1f} ms  {sql[:150]}")
    times, sql_times, cpu_times = [], [], []
    db_began = database_cpu()
    for _ in range(runs):
        run_timer = QueryTimer()
        with connection.execute_wrapper(run_timer):
            began, cpu_began = time.perf_counter(), time.process_time()
            client.get(url)
            times.append((time.perf_counter() - began) * 1000)
            cpu_times.append((time.process_time() - cpu_began) * 1000)
        sql_times.append(sum(ms for ms, _sql, _params in run_timer.queries))
    db_cpu = None if db_began is None else (database_cpu() - db_began) / runs
    cpu = (statistics.median(cpu_times), db_cpu)
    return times, len(timer.queries), sql_times, pages_read(timer.queries, show=show_queries), cpu


def database_cpu() -> float | None:
    """PostgreSQL on this machine: the CPU ms its backend for this connection has used (/proc, 10 ms ticks).

    With the Django process's own CPU time, a measure of a request's work that the load does not inflate
    (a loaded machine makes every request wait, not work more)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # a server on another machine
        return None
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def pages_read(queries, show: bool = False) -> int | None:
    """PostgreSQL: the 8 kB pages (shared buffers hit or read) the request's SELECTs touch, by EXPLAIN
    (ANALYZE, BUFFERS): a measure of the work that does not depend on the machine's load. None on SQLite."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    total = 0
    with connection.cursor() as cursor:
        for _ms, sql, params in queries:
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
            plan = cursor.fetchone()[0]
            plan = plan if isinstance(plan, list) else json.loads(plan)
            node = plan[0]["Plan"]
            pages = node.get("Shared Hit Blocks", 0) + node.get("Shared Read Blocks", 0)
            total += pages
            if show and pages > 100:
                print(f"    {pages:6d} buffers  {sql[:300]}")
            if show and pages > 1000:  # where they go
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params)
                print("\n".join(f"      {line}" for (line,) in cursor.fetchall()))
    return total


def later_page_url(client, depth: int) -> str:
    url = "/mail/"
    for _ in range(depth):
        found = re.search(r'href="\?after=([^"]+)" rel="next"', client.get(url).content.decode())
        if not found:
            break
        url = f"/mail/?after={found.group(1)}"
    return url


def report(label: str, user, thread_id: int, args) -> list[tuple]:
    from django.test import Client

    client = Client()
    client.force_login(user)
    pages = [
        ("inbox", "/mail/"),
        (f"inbox page {args.depth + 1}", later_page_url(client, args.depth)),
        ("conversation", f"/mail/t/{thread_id}/"),
        ("unread counts (poll)", "/mail/poll/?since=0"),
    ]
    rows = [timed_row(label, name, client, url, args) for name, url in pages]
    if args.main_only:
        return rows
    for name, url in issue_18_pages(user):
        rows.append(timed_row(label, name, client, url, args))
    # The list beside a reading pane, in compact density (the user's preferences, then back to the defaults).
    from accounts.services import update_preferences

    update_preferences(user=user, reading_pane="right", density="compact")
    rows.append(timed_row(label, "inbox, reading pane", client, "/mail/", args))
    update_preferences(user=user, reading_pane="off", density="comfortable")
    return rows


def timed_row(label: str, name: str, client, url: str, args) -> tuple:
    times, queries, sql_times, pages, (cpu, db_cpu) = measure(client, url, args.runs, show_queries=args.show_queries)
    q = statistics.quantiles(times, n=100, method="inclusive")  # never past the slowest
    sql = statistics.quantiles(sql_times, n=100, method="inclusive")
    return (label, name, q[49], q[94], max(times), queries, sql[49], sql[94], pages, cpu, db_cpu)


def profile_inbox(user, requests: int) -> None:
    """Where the inbox's CPU goes: cProfile on the CPU clock over ``requests`` requests, split into the
    template engine, the SQL (cursor execution and the ORM's rows) and the rest of the view."""
    import cProfile
    import pstats

    from django.test import Client

    client = Client()
    client.force_login(user)
    client.get("/mail/")  # warm: templates compiled, connection open
    # Unprofiled first (cProfile inflates the template engine's many small calls the most): the CPU of
    # a request and, timed around the loader, of its template.
    from django.template import loader

    in_template = [0.0]
    render_to_string = loader.render_to_string

    def timed(*args, **kwargs):
        began = time.process_time()
        try:
            return render_to_string(*args, **kwargs)
        finally:
            in_template[0] += time.process_time() - began

    loader.render_to_string = timed
    try:
        began = time.process_time()
        for _ in range(requests):
            client.get("/mail/")
        whole = time.process_time() - began
    finally:
        loader.render_to_string = render_to_string
    print(
        f"\ninbox of {user.email}, {requests} requests, unprofiled: {whole / requests * 1000:.1f} ms CPU each,"
        f" of which the template {in_template[0] / requests * 1000:.1f} ms ({in_template[0] / whole:.0%})"
    )
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for _ in range(requests):
        client.get("/mail/")
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = max(stats.total_tt, 1e-9)

    def cumulative(path: str, function: str) -> float:
        return sum(value[3] for key, value in stats.stats.items() if key[0].endswith(path) and key[2] == function)

    parts = {  # each an entry point that does not nest in itself or in the other
        "the template (render_to_string)": cumulative("django/template/loader.py", "render_to_string"),
        "SQL statements (CursorWrapper._execute)": cumulative("django/db/backends/utils.py", "_execute"),
    }
    print(f"\nprofile of {requests} inbox requests, {user.email}: {total / requests * 1000:.1f} ms CPU each (profiled)")
    for name, seconds in parts.items():
        print(f"  {name:<40} {seconds / total:6.1%}")
    stats.sort_stats("cumulative").print_stats(25)


def issue_18_pages(user) -> list[tuple[str, str]]:
    """The pages of issue 18 that exist on this code: every settings section whose URL resolves, the
    snoozed and scheduled lists if they have named URLs, a label's page and its edit page."""
    from django.urls import NoReverseMatch, reverse

    from accounts.settings_sections import SECTIONS
    from mailboxes.models import Label
    from mailboxes.selectors import LIST_VIEWS

    pages = []
    for section in SECTIONS:
        try:
            pages.append((f"settings: {section.slug}", reverse(section.url_name)))
        except NoReverseMatch:
            continue
    for name in ("snoozed", "scheduled"):
        try:
            pages.append((name, reverse(f"mailboxes:{name}")))
        except NoReverseMatch:
            if name in LIST_VIEWS:  # or a folder of the list view
                pages.append((name, reverse("mailboxes:folder", args=[name])))
    label = Label.objects.filter(user=user, name="Work").first()
    if label:
        pages.append(("label page", reverse("mailboxes:label", args=[label.pk])))
        pages.append(("label edit", reverse("mailboxes:edit_label", args=[label.pk])))
    return pages


def check_counters(user) -> None:
    """Whether the triggers' counters equal a fresh count after the fill (on code that has them)."""
    try:
        from mailboxes.services.counters import count_afresh, stored_counters
    except ImportError:  # a tree from before the counters (for a before/after run)
        return
    began = time.perf_counter()
    right = stored_counters(user_id=user.pk) == count_afresh(user_id=user.pk)
    print(f"counters equal a fresh count: {right} (counted in {time.perf_counter() - began:.1f} s)")


def main():
    args = parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    pg_name = None
    try:
        pg_name = setup_django(args, tmp)
        from django.conf import settings

        print(f"database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}; runs per page: {args.runs}")
        small_user, small_thread = make_mailbox("small@bench.test", 100)
        print(f"filling {args.messages:,} messages…")
        began = time.perf_counter()
        big = f"big-{args.messages}-{'tenth' if args.archived is None else args.archived}@bench.test"
        big_user, big_thread = make_mailbox(big, args.messages, archived=args.archived)
        print(f"  in {time.perf_counter() - began:.0f} s")
        check_counters(big_user)
        from django.db import connection

        with connection.cursor() as cursor:  # what autovacuum would do after such a load
            cursor.execute("ANALYZE")
        rows = report("100", small_user, small_thread, args) + report(f"{args.messages:,}", big_user, big_thread, args)
        print(
            f"\n{'mailbox':>10}  {'page':<28} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'queries':>8}"
            f" {'SQL p50':>8} {'SQL p95':>8} {'buffers':>8} {'CPU p50':>8} {'DB CPU':>8}"
        )
        for label, name, p50, p95, worst, queries, sql50, sql95, pages, cpu, db_cpu in rows:
            print(
                f"{label:>10}  {name:<28} {p50:8.1f} {p95:8.1f} {worst:8.1f} {queries:8d} {sql50:8.1f} {sql95:8.1f}"
                f" {'' if pages is None else pages:>8} {cpu:8.1f} {'' if db_cpu is None else f'{db_cpu:.1f}':>8}"
            )
        if args.profile:
            profile_inbox(big_user, args.profile)
    finally:
        if pg_name:
            from django.db import connections

            connections.close_all()
            subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", pg_name], check=False)  # noqa: S603, S607
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
