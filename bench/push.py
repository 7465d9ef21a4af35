#!/usr/bin/env python
"""Push benchmark: from a message's placement to its event on every open page, with many pages open.

    python bench/push.py                         # 100 clients (100 users), 300 messages at 20/s, SQLite
    python bench/push.py --db postgres           # the same on a throwaway PostgreSQL database
    python bench/push.py --users 25              # 100 clients as 25 users with 4 tabs each
    python bench/push.py --clients 1000 --workers 2
    python bench/push.py --help

What it does, on loopback, in a temporary folder removed at the end:

1. migrates a throwaway database (SQLite file, or a new PostgreSQL database on
   ``--postgres-url``), creates ``--users`` users on ``bench.test`` and a signed-in
   session for each;
2. starts the production web stack as ``make run`` and production do: gunicorn with
   ``--workers`` uvicorn workers on the ASGI app (``deploy/gunicorn.conf.py``);
3. opens ``--clients`` event streams (``/mail/events/``), spread over the users, and
   waits until each has been answered (its ``retry:`` line: it is subscribed);
4. delivers ``--messages`` messages, round robin over the users, at ``--rate`` per second
   through the real placement path (``store_message`` + ``place_message``, what the
   inbound pipeline's workers run), in this process; the clock of a message starts
   when its placement's transaction has committed;
5. every client stamps each ``mail`` event as it is read; a message's latency on a client
   is the time to the first event of that client whose id reaches the message's change;
6. with ``--refresh``, each client then does what the page does on an event (push.js):
   it asks for the sidebar (``/mail/poll/``), then for the inbox (the page asks for it when
   the sidebar says new mail came: every event here is new mail), over a second kept-alive
   connection; a message is in the open list when an
   inbox answer read by that client holds its subject. Events that come during a refresh
   are answered by one more refresh, as htmx queues them.

It prints p50/p95/p99/max over every (message, client of its user) pair and the errors
(clients that failed, events that never came within ``--timeout``). A benchmark, not a
test: it asserts nothing about time.
"""

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.throwaway import ThrowawayDatabase, setup_django  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=100, help="open event streams")
    parser.add_argument("--users", type=int, default=100, help="users the clients are spread over")
    parser.add_argument("--messages", type=int, default=300, help="messages delivered")
    parser.add_argument("--rate", type=float, default=20.0, help="messages delivered per second")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn (uvicorn) worker processes")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite", help="throwaway database kind")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432"),
        help="PostgreSQL server for --db postgres; a database bench_push_* is created there and dropped",
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the last events")
    parser.add_argument(
        "--refresh", action="store_true", help="also fetch the sidebar and the inbox after each event, as the page does"
    )
    return parser.parse_args()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


SUBJECT = re.compile(rb"Push (\d+)\b")


async def http_get(reader, writer, path: str, headers: str) -> tuple[int, bytes]:
    """One GET on a kept-alive HTTP/1.1 connection: (status, body), by Content-Length or chunks."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode())
    await writer.drain()
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionResetError("closed by the server")  # its keep-alive timeout ran out
    status = int(status_line.split()[1])
    length, chunked = 0, False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if not chunked:
        return status, await reader.readexactly(length)
    body = b""
    while size := int((await reader.readline()).split(b";")[0], 16):
        body += await reader.readexactly(size)
        await reader.readline()
    await reader.readline()
    return status, body


class Client:
    """One page's event stream: a plain HTTP/1.1 connection read line by line."""

    def __init__(self, number: int, user_index: int, session: str, refresh: bool = False):
        self.number, self.user_index, self.session = number, user_index, session
        self.events: list[tuple[int, float]] = []  # (change id, time read)
        self.error = ""
        self.refresh = refresh
        self.wanted = asyncio.Event()  # an event came: refresh (coalesced, as htmx queues requests)
        self.listed: dict[int, float] = {}  # message number -> time an inbox answer first held it
        self.refreshes = 0

    async def refresher(self, port: int) -> None:
        """What push.js and the page do on an event: the sidebar, then the list (the sidebar says new mail)."""
        connection = None
        headers = f"Cookie: sessionid={self.session}\r\nHX-Request: true\r\n"

        async def get(path: str, target: str) -> bytes:
            nonlocal connection
            for attempt in (1, 2):  # a browser opens a new connection when the server closed its idle one
                if connection is None:
                    connection = await asyncio.open_connection("127.0.0.1", port)
                try:
                    status, body = await http_get(*connection, path, f"{headers}HX-Target: {target}\r\n")
                    break
                except (ConnectionError, asyncio.IncompleteReadError):
                    connection[1].close()
                    connection = None
                    if attempt == 2:
                        raise
            if status != 200:
                raise RuntimeError(f"{path} answered {status}")
            return body

        try:
            while True:
                await self.wanted.wait()
                self.wanted.clear()
                await get("/mail/poll/?since=0", "sidebar")  # the headers htmx sends: the list comes alone
                body = await get("/mail/", "conversation-list")
                now = time.time()
                self.refreshes += 1
                for number in SUBJECT.findall(body):
                    self.listed.setdefault(int(number), now)
        except asyncio.CancelledError:
            if connection is not None:
                connection[1].close()
            raise
        except Exception as exc:  # reported, and what it missed counts as errors
            self.error = self.error or repr(exc)

    async def run(self, port: int, ready: asyncio.Event, counter: list, stop: asyncio.Event) -> None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                (
                    "GET /mail/events/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                    f"Cookie: sessionid={self.session}\r\n\r\n"
                ).encode()
            )
            await writer.drain()
            status = await reader.readline()
            if b" 200 " not in status:
                raise RuntimeError(status.decode().strip())
            while (await reader.readline()) not in (b"\r\n", b""):
                pass  # headers
            subscribed = False
            reading = asyncio.ensure_future(self._read(reader))
            refreshing = asyncio.ensure_future(self.refresher(port)) if self.refresh else None
            # Chunked transfer: the first chunk is the retry line, written once the stream is subscribed.
            while not subscribed:
                await asyncio.sleep(0.01)
                subscribed = self._subscribed
            counter[0] += 1
            if counter[0] == counter[1]:
                ready.set()
            await stop.wait()
            reading.cancel()
            if refreshing is not None:
                refreshing.cancel()
            writer.close()
        except Exception as exc:  # reported, and the pair counts as an error
            self.error = repr(exc)
            counter[0] += 1
            if counter[0] == counter[1]:
                ready.set()

    _subscribed = False

    async def _read(self, reader) -> None:
        while True:
            line = await reader.readline()
            if not line:
                self.error = self.error or "the stream ended"
                return
            text = line.decode().strip()
            if text.startswith("retry:"):
                self._subscribed = True
            elif text.startswith("id: "):
                self.events.append((int(text[4:].split(".")[0]), time.time()))
                self.wanted.set()


def main() -> None:
    args = parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-push-"))
    database = ThrowawayDatabase(args, tmp, prefix="bench_push")
    server = None
    try:
        setup_django(database.url, tmp, ALLOWED_HOSTS="127.0.0.1", METRICS_DIR="")
        from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
        from django.contrib.sessions.backends.db import SessionStore

        from accounts.services import create_domain, create_mail_user
        from mailboxes.models import MailboxChange
        from mailboxes.services import place_message, store_message
        from tests.factories import raw_email
        from tests.support.smtp_server import free_port

        create_domain(name="bench.test")
        users, sessions = [], []
        for n in range(args.users):
            user = create_mail_user(address=f"user{n}@bench.test", password=None, display_name=f"U{n}")
            session = SessionStore()
            session[SESSION_KEY] = str(user.pk)
            session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
            session[HASH_SESSION_KEY] = user.get_session_auth_hash()
            session.save()
            users.append(user)
            sessions.append(session.session_key)

        port = free_port()
        server = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "webmail.asgi:application",
             "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers), "--backlog", "4096"],
            cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        started = 0
        for line in server.stderr:
            started += "Application startup complete" in line
            if started == args.workers:
                break
        threading.Thread(target=lambda: server.stderr.read(), daemon=True).start()

        clients = [Client(n, n % args.users, sessions[n % args.users], args.refresh) for n in range(args.clients)]
        loop = asyncio.new_event_loop()
        ready, stop = asyncio.Event(), asyncio.Event()
        counter = [0, len(clients)]

        async def run_clients():
            await asyncio.gather(*(client.run(port, ready, counter, stop) for client in clients))

        thread = threading.Thread(target=lambda: loop.run_until_complete(run_clients()), daemon=True)
        thread.start()
        asyncio.run_coroutine_threadsafe(ready.wait(), loop).result(timeout=120)
        print(f"{sum(not c.error for c in clients)} of {len(clients)} streams open over {args.users} users, "
              f"{args.workers} worker(s), {database.url.split('://')[0]}")  # fmt: skip

        committed: list[tuple[int, int, float]] = []  # (user index, change id, commit time); message n is the nth
        interval = 1 / args.rate
        began = time.monotonic()
        for n in range(args.messages):
            time.sleep(max(0.0, began + n * interval - time.monotonic()))  # a steady rate
            index = n % args.users
            message, _ = store_message(raw=raw_email(subject=f"Push {n}", to=users[index].email))
            item = place_message(user=users[index], message=message)
            commit = time.time()
            change = MailboxChange.objects.filter(item_id=item.pk, kind=MailboxChange.Kind.NEW).values_list("pk")[0][0]
            committed.append((index, change, commit))
        sent_seconds = time.monotonic() - began

        def missing() -> int:
            count = 0
            for n, (index, change, _) in enumerate(committed):
                for client in clients:
                    if client.user_index == index and not client.error:
                        count += not any(c >= change for c, _ in client.events)
                        count += args.refresh and n not in client.listed
            return count

        deadline = time.monotonic() + args.timeout
        while missing() and time.monotonic() < deadline:
            time.sleep(0.1)
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)

        latencies, listed, errors = [], [], 0
        for n, (index, change, commit) in enumerate(committed):
            for client in clients:
                if client.user_index != index:
                    continue
                got = [at for c, at in client.events if c >= change]
                if not got:
                    errors += 1
                else:
                    latencies.append(got[0] - commit)
                if args.refresh:
                    if n in client.listed:
                        listed.append(client.listed[n] - commit)
                    else:
                        errors += 1
        failed = [c.error for c in clients if c.error]
        print(f"{len(committed)} messages in {sent_seconds:.1f} s ({len(committed) / sent_seconds:.1f}/s); "
              f"{len(latencies)} deliveries to pages, {errors} errors, {len(failed)} failed clients")  # fmt: skip
        if failed:
            print("  first failure:", failed[0])
        for name, values in (("event read", latencies), ("in the open list", listed)):
            if values:
                ms = [v * 1000 for v in values]
                print(
                    f"placement commit -> {name}: p50 {percentile(ms, 50):.0f} ms, p95 {percentile(ms, 95):.0f} ms, "
                    f"p99 {percentile(ms, 99):.0f} ms, max {max(ms):.0f} ms, mean {statistics.mean(ms):.0f} ms"
                )
        if args.refresh:
            print(f"  {sum(c.refreshes for c in clients)} refreshes (sidebar + inbox) by {len(clients)} clients")
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        from django.db import connections

        connections.close_all()
        database.drop()
        subprocess.run(["rm", "-rf", str(tmp)], check=False)  # noqa: S603, S607


if __name__ == "__main__":
    main()
