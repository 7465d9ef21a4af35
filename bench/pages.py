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

It prints p50/p95/max over ``--runs`` requests and the number of SQL queries
of each page, for a small mailbox (100 messages) and the big one, so that a
query count that grows with the mailbox shows up. The mailbox is filled with
bulk inserts (every message shares one stored blob) rather than through the
services, which would take hours for a million messages; the pages read it
through the same selectors as always. A benchmark, not a test: it asserts
nothing about time.
"""

import argparse
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
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--show-queries", action="store_true", help="print the slowest queries of each page")
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
        pg_name = f"bench_pages_{secrets.token_hex(4)}"
        base = args.postgres_url.rsplit("/", 1)[0]
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", pg_name], check=True)  # noqa: S603, S607
        os.environ["DATABASE_URL"] = f"{base}/{pg_name}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webmail.settings")
    import django

    django.setup()

    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return pg_name


def fill(user, count: int, *, blob, labels) -> None:
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
                        folder=Folder.INBOX if number % 10 else Folder.ARCHIVE,
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


def make_mailbox(address: str, count: int):
    from django.utils import timezone

    from accounts.models import Domain
    from accounts.services import create_domain, create_mail_user
    from delivery.services import send_message
    from mailboxes.blobstore import store_blob
    from mailboxes.models import MailboxItem
    from mailboxes.services import create_label

    if not Domain.objects.filter(name="bench.test").exists():
        create_domain(name="bench.test")
        # Verified, as a domain in use is: an unverified one may not send to remote.example.
        Domain.objects.filter(name="bench.test").update(verified_at=timezone.now())
    user = create_mail_user(address=address, password=secrets.token_urlsafe(), display_name="Bench User")
    labels = [create_label(user=user, name=name) for name in ("Work", "Family", "Travel", "Receipts")]
    raw = (
        f"From: Bench Sender <sender@remote.example>\r\nTo: {address}\r\nSubject: Conversation\r\n"
        "Message-ID: <bench@remote.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        "<p>The <b>quick</b> brown fox <a href='https://example.org/'>jumps</a> over the lazy dog.</p>\r\n"
    )
    blob = store_blob(raw.encode())
    fill(user, count, blob=blob, labels=labels)
    # One real conversation through the services, with a sent message and its delivery status.
    send_message(user=user, to=["someone@remote.example"], subject="A conversation", text="Hello there.")
    thread_id = MailboxItem.objects.filter(user=user).order_by("-thread__message_count", "-pk")[0].thread_id
    return user, thread_id


class QueryTimer:
    """Counts and times the SQL of one request (an execute wrapper: works with DEBUG off)."""

    def __init__(self):
        self.queries = []

    def __call__(self, execute, sql, params, many, context):
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.queries.append(((time.perf_counter() - began) * 1000, sql))


def measure(client, url: str, runs: int, show_queries: bool = False) -> tuple[list[float], int]:
    from django.db import connection

    client.get(url)  # warm up caches and connections
    timer = QueryTimer()
    with connection.execute_wrapper(timer):
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    if show_queries:
        print(f"\n  {url}")
        for ms, sql in sorted(timer.queries, reverse=True)[:4]:
            print(f"    {ms:6.1f} ms  {sql[:150]}")
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - began) * 1000)
    return times, len(timer.queries)


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
    pages += issue_18_pages(user)
    rows = []
    for name, url in pages:
        rows.append(timed_row(label, name, client, url, args))
    # The list beside a reading pane, in compact density (the user's preferences, then back to the defaults).
    from accounts.services import update_preferences

    update_preferences(user=user, reading_pane="right", density="compact")
    rows.append(timed_row(label, "inbox, reading pane", client, "/mail/", args))
    update_preferences(user=user, reading_pane="off", density="comfortable")
    return rows


def timed_row(label: str, name: str, client, url: str, args) -> tuple:
    times, queries = measure(client, url, args.runs, show_queries=args.show_queries)
    q = statistics.quantiles(times, n=100)
    return (label, name, q[49], q[94], max(times), queries)


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
        big_user, big_thread = make_mailbox("big@bench.test", args.messages)
        print(f"  in {time.perf_counter() - began:.0f} s")
        from django.db import connection

        with connection.cursor() as cursor:  # what autovacuum would do after such a load
            cursor.execute("ANALYZE")
        rows = report("100", small_user, small_thread, args) + report(f"{args.messages:,}", big_user, big_thread, args)
        print(f"\n{'mailbox':>10}  {'page':<28} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'queries':>8}")
        for label, name, p50, p95, worst, queries in rows:
            print(f"{label:>10}  {name:<28} {p50:8.1f} {p95:8.1f} {worst:8.1f} {queries:8d}")
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
