#!/usr/bin/env python
"""Outbound delivery benchmark: our engine against Postfix, to the same smtp-sink, in one run.

    python bench/outbound.py                    # 10,000 messages, SQLite, then Postfix
    python bench/outbound.py --db postgres      # the same on a throwaway PostgreSQL database
    python bench/outbound.py --messages 1000    # a quick run
    python bench/outbound.py --help

What it does, everything on loopback and in a temporary folder that is removed
at the end:

1. starts Postfix's ``smtp-sink`` (the receiving side for everybody) and a
   loopback DNS server with MX records for ``--domains`` domains
   (``d{i}.bench.test`` -> ``mx.d{i}.bench.test`` -> 127.0.0.1);
2. migrates a throwaway database (SQLite file, or a new PostgreSQL database),
   creates a hosted sender domain with a DKIM key and ``--senders`` users;
3. **submission**: ``--submit-workers`` processes create the messages through
   ``delivery.services.send_message`` (each message has ``--recipients``
   recipients on distinct random domains and is about ``--size`` bytes); the
   Celery dispatch goes to the file broker in the temp folder and is not
   executed;
4. **delivery**: ``--workers`` processes each loop
   ``delivery.services.engine.run_delivery()`` until no recipient is queued
   or in flight; timed from the start signal until the last worker is done,
   with each worker's peak RSS (``VmHWM``; not ``ru_maxrss``, which a
   process started by fork and exec inherits from its parent);
5. **peer**: private Postfix instances (own config and queue folders, smtpd on
   a loopback port, ``relayhost = [127.0.0.1]:<sink port>``) relay the same
   number of messages of the same size and recipient count to the same sink,
   injected with ``smtp-source``: "queue -> sink" (injected on hold, then
   released and timed until the queue is empty: the like-for-like figure),
   the same with one recipient per SMTP transaction (as our VERP return paths
   force), and "live" (injection and relaying at once, timed from the first
   injected message).

Throttling is switched off for the bench (OUTBOUND_DOMAIN_RATE_PER_MINUTE,
OUTBOUND_SENDER_RATE_PER_MINUTE and OUTBOUND_DOMAIN_CONCURRENCY are set very
high) and the run says so. This is a benchmark, not a test: it asserts no
timing; it fails only if mail is lost.
"""

import argparse
import contextlib
import ctypes
import json
import os
import queue
import random
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.throwaway import ThrowawayDatabase  # noqa: E402
from chaos.infra import NO_SEND_LIMITS  # noqa: E402

if __name__ == "__main__":  # bench/outbound_e2e.py imports this module: let it find this run's state
    sys.modules.setdefault("bench.outbound", sys.modules[__name__])

SENDER_DOMAIN = "sender.bench.test"
DOMAIN_TEMPLATE = "d{}.bench.test"
HIGH = "1000000000"  # "no limit" for the throttling settings
WORDS = (
    "delivery", "queue", "message", "server", "domain", "report", "invoice", "account", "order",
    "shipping", "update", "weekly", "notice", "meeting", "agenda", "budget", "project", "release",
    "summary", "customer", "support", "ticket", "status", "review", "draft", "final",
)  # fmt: skip


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Outbound delivery benchmark: our delivery engine and Postfix, relaying to the same smtp-sink.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--messages", type=int, default=10_000, help="messages to send")
    parser.add_argument("--recipients", type=int, default=3, help="recipients per message, on distinct domains")
    parser.add_argument("--domains", type=int, default=200, help="recipient domains (each with its own MX)")
    parser.add_argument("--senders", type=int, default=10, help="sending users on the hosted, DKIM-signing domain")
    parser.add_argument("--size", type=int, default=2048, help="approximate message size in bytes, before DKIM")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="delivery worker processes")
    parser.add_argument("--submit-workers", type=int, default=None, help="submission processes (default: --workers)")
    parser.add_argument("--batch-size", type=int, default=None, help="OUTBOUND_BATCH_SIZE (default: the setting's)")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite", help="throwaway database kind")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432"),
        help="PostgreSQL server for --db postgres; a database bench_outbound_* is created there and dropped",
    )
    parser.add_argument("--no-postfix", action="store_true", help="skip the Postfix peer")
    parser.add_argument("--postfix-only", action="store_true", help="run only the Postfix peer")
    parser.add_argument("--timeout", type=float, default=1800, help="upper bound in seconds for each phase")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help="first wait up to SECONDS for other processes to leave the CPUs alone (the run reports their load)",
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="run delivery workers (with --end-to-end: gunicorn and Celery workers) under cProfile, stats into DIR",
    )
    e2e = parser.add_argument_group("end to end (--end-to-end)")
    e2e.add_argument(
        "--end-to-end",
        action="store_true",
        help="send through the REST API (gunicorn) while Celery workers deliver, beside Postfix live",
    )
    e2e.add_argument("--clients", type=int, default=8, help="concurrent keep-alive HTTP clients")
    e2e.add_argument("--web-workers", type=int, default=2, help="gunicorn (uvicorn) worker processes")
    e2e.add_argument(
        "--broker",
        default="amqp://guest:guest@127.0.0.1:5672//",
        help="Celery broker (RabbitMQ, or redis://127.0.0.1:6379/11); the bench's queues are named outbench_*",
    )
    e2e.add_argument(
        "--profile-clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="with --profile: each thread's CPU time, or wall time (which counts waiting for the database, a core)",
    )
    e2e.add_argument(
        "--web-conn-max-age",
        type=int,
        default=0,
        help="DATABASE_CONN_MAX_AGE of the web processes (the default 60 exhausts PostgreSQL's connections under ASGI)",
    )
    e2e.add_argument("--cache-url", default="", help="CACHE_URL for the API's rate counters (default: the database)")
    e2e.add_argument(
        "--web-pool",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="DATABASE_POOL of the web processes: a pool of PostgreSQL connections per worker (as under ASGI in "
        "production), or with --no-web-pool a new connection per request",
    )
    e2e.add_argument(
        "--floor",
        action="store_true",
        help="the clients POST to a no-op API endpoint (authentication, throttles, JSON parsing, no mail work): "
        "the web's CPU per request before any mail work; no Celery, nothing delivered",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON to FILE")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (its path is printed)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated messages")
    parser.add_argument("--quiet", action="store_true", help="no progress lines, only the final table")
    # Internal: the same file runs the worker processes.
    parser.add_argument("--role", choices=("submit", "deliver", "sink"), help=argparse.SUPPRESS)
    parser.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.submit_workers is None:
        args.submit_workers = args.workers
    if args.recipients > args.domains:
        parser.error("--recipients cannot exceed --domains (recipients are on distinct domains)")
    if args.end_to_end and (args.postfix_only or min(args.clients, args.web_workers) < 1):
        parser.error("--end-to-end runs both sides, with at least one client and one web worker")
    if min(args.messages, args.recipients, args.domains, args.senders, args.workers, args.submit_workers) < 1:
        parser.error("counts must be at least 1")
    return args


# --- small helpers -------------------------------------------------------------------------------


def log(args, text: str) -> None:
    if not args.quiet:
        print(text, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.recv(1)  # the greeting: the server is really serving, not just listening
            return True
        time.sleep(0.05)
    return False


def which(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(Path(d) / name) for d in ("/usr/sbin", "/usr/local/sbin", "/sbin") if (Path(d) / name).exists()), None
    )


def run(cmd: list[str], timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout, **kwargs)  # noqa: S603


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (from /proc; 0 if unreadable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def pss_kib(pid: int) -> int:
    """Proportional set size: shared pages divided among the processes that share them."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def become_subreaper() -> None:
    """Postfix daemonises; as subreaper its processes become our children and are reaped at the end."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def reap_children() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


class OtherLoad:
    """CPU used by processes that are not part of this run (another benchmark, a build): it skews the figures.

    Everything below this process (workers, sink, Postfix, which becomes our
    child as we are its subreaper) is ours, and so are PostgreSQL backends of
    our database; other PostgreSQL backends count as foreign, its auxiliary
    processes as neither. Sampled once a second.
    """

    def __init__(self):
        self.me = os.getpid()
        self.database = ""
        self.hz = os.sysconf("SC_CLK_TCK")
        self.ticks = 0
        self._seen: dict[int, int] = {}
        self._lock = threading.Lock()
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while True:
            current = self._foreign()
            with self._lock:
                self.ticks += sum(max(0, t - self._seen[p]) for p, t in current.items() if p in self._seen)
                self._seen = current
            time.sleep(1)

    def _foreign(self) -> dict[int, int]:
        stats = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    raw = Path(f"/proc/{entry.name}/stat").read_text()
                    name, rest = raw[raw.index("(") + 1 : raw.rindex(")")], raw[raw.rindex(")") + 1 :].split()
                    stats[int(entry.name)] = (name, int(rest[1]), int(rest[11]) + int(rest[12]))
        ours = set(_tree(self.me, {pid: ppid for pid, (_, ppid, _) in stats.items()}))
        foreign = {}
        for pid, (name, ppid, ticks) in stats.items():
            if pid in ours or pid == 2 or ppid == 2:  # ours, or a kernel thread
                continue
            if name == "postgres" and not self._foreign_backend(pid):
                continue
            foreign[pid] = ticks
        return foreign

    def _foreign_backend(self, pid: int) -> bool:
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").split()
        except OSError:
            return False
        # "postgres: 15/main: USER DATABASE HOST(PORT) STATE" for a client backend
        return len(title) >= 5 and "(" in title[4] and title[3] != self.database

    def mark(self) -> tuple[float, int]:
        with self._lock:
            return time.monotonic(), self.ticks

    def cores_since(self, mark: tuple[float, int]) -> float:
        time.sleep(1.1)  # one more sample
        with self._lock:
            return (self.ticks - mark[1]) / self.hz / max(0.001, time.monotonic() - mark[0])

    def wait_quiet(self, args, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while True:
            mark = self.mark()
            time.sleep(4)
            load = self.cores_since(mark)
            if load < 0.15:
                return
            if time.monotonic() >= deadline:
                log(args, f"· still {load:.2f} cores busy elsewhere; going on (the figures will show it)")
                return
            log(args, f"· waiting for the machine to be quiet: other processes use {load:.2f} cores")


def _tree(root: int, parents: dict[int, int]) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


OTHER_LOAD: OtherLoad | None = None


def other_load_mark():
    return OTHER_LOAD.mark() if OTHER_LOAD else None


def other_load_since(mark) -> float | None:
    return round(OTHER_LOAD.cores_since(mark), 3) if OTHER_LOAD and mark else None


def mb(kib: float) -> str:
    return f"{kib / 1024:.0f} MB"


def message_plan(args, index: int) -> tuple[int, list[str], str, str]:
    """Message ``index``: (sender number, recipients on distinct domains, subject, body of about --size bytes)."""
    rng = random.Random(f"{args.seed}:{index}")
    domains = rng.sample(range(args.domains), args.recipients)
    recipients = [f"user{rng.randrange(10_000)}@{DOMAIN_TEMPLATE.format(d)}" for d in domains]
    subject = f"Bench {index}: {' '.join(rng.choices(WORDS, k=4))}"
    target = max(64, args.size - 420)  # the headers compose() writes take about 420 bytes
    lines, length = [], 0
    while length < target:
        line = " ".join(rng.choices(WORDS, k=10))[:72]
        lines.append(line)
        length += len(line) + 2
    return index % args.senders, recipients, subject, "\n".join(lines) + "\n"


def django_env(args, tmp: Path, db_url: str, dns_nameserver: str, sink_port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"CELERY_BROKER_URL", "S3_BUCKET", "ELASTICSEARCH_URL", "DATABASE_URL", "SECRET_KEY_FILE"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="webmail.settings",
        DATABASE_URL=db_url,
        VAR_DIR=str(tmp / "var"),
        MAILSTORE_DIR=str(tmp / "mailstore"),
        DNS_NAMESERVERS=dns_nameserver,
        SMTP_DELIVERY_PORT=str(sink_port),
        SMTP_TIMEOUT="30",
        MAIL_TRANSPORT="mx",
        MAIL_HOSTNAME="bench.localhost",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1",
        LOG_LEVEL="WARNING",
        CELERY_TASK_ALWAYS_EAGER="false",
        OUTBOUND_DOMAIN_RATE_PER_MINUTE=HIGH,
        OUTBOUND_SENDER_RATE_PER_MINUTE=HIGH,
        OUTBOUND_DOMAIN_CONCURRENCY=HIGH,
        # A few senders sending thousands of messages to new addresses is the benchmark, not a hijack.
        REPUTATION_COMPROMISE_DETECTION="false",
        # Its domains have no DNS to publish an ownership token in (docs/DOMAINS.md); no quotas (NO_SEND_LIMITS).
        DOMAIN_VERIFICATION_REQUIRED="false",
        **NO_SEND_LIMITS,
        PYTHONUNBUFFERED="1",
    )
    if args.batch_size:
        env["OUTBOUND_BATCH_SIZE"] = str(args.batch_size)
    return env


# --- the sink ------------------------------------------------------------------------------------


class Sink:
    """Postfix's smtp-sink on a loopback port, counting the transactions it accepts (``-c``)."""

    def __init__(self, tmp: Path):
        self.port = free_port()
        self.count = 0  # SMTP transactions ("." accepted)
        self.sessions = 0  # SMTP sessions ended
        self.kind = "smtp-sink"
        binary = which("smtp-sink")
        if binary:
            cmd = [binary, "-c", "-m", "8192"]
            if os.geteuid() == 0:
                cmd += ["-u", "postfix" if _user_exists("postfix") else "nobody"]
            cmd += [f"127.0.0.1:{self.port}", "4096"]
        else:  # no Postfix here: a small Python stand-in keeps our side measurable
            self.kind = "python stand-in (smtp-sink not installed)"
            cmd = [sys.executable, __file__, "--role", "sink", "--port", str(self.port)]
        self.stderr = open(tmp / "sink.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(  # noqa: S603
            cmd, stdout=subprocess.PIPE, stderr=self.stderr, preexec_fn=_raise_nofile, cwd=tmp
        )
        threading.Thread(target=self._read, daemon=True).start()
        if not wait_for_port(self.port, 10):
            raise RuntimeError(f"the sink did not start (see {tmp / 'sink.log'})")

    def _read(self) -> None:
        pattern = re.compile(rb"sess=(\d+) quit=\d+ mesg=(\d+)")
        pending = b""
        while chunk := self.proc.stdout.read1(65536):
            pending += chunk
            matches = pattern.findall(pending)
            if matches:
                self.sessions, self.count = (int(n) for n in matches[-1])
            pending = pending[-64:]

    def wait_for(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.count < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.count >= count

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.stderr.close()


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 20_000)), hard))


def python_sink_main(port: int) -> None:
    """Accept SMTP, discard, print ``mesg=N`` per transaction like ``smtp-sink -c`` (fallback only)."""
    import asyncio

    count = sessions = 0

    async def session(reader, writer):
        nonlocal count, sessions
        writer.write(b"220 sink ESMTP\r\n")
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                writer.write(b"250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
            elif verb == b"DATA":
                writer.write(b"354 go ahead\r\n")
                while (data := await reader.readline()) and data != b".\r\n":
                    pass
                count += 1
                writer.write(b"250 2.0.0 Ok\r\n")
                sys.stdout.write(f"sess={sessions} quit={sessions} mesg={count}\r")
                sys.stdout.flush()
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                sessions += 1
                sys.stdout.write(f"sess={sessions} quit={sessions} mesg={count}\r")
                sys.stdout.flush()
                break
            else:
                writer.write(b"250 2.0.0 Ok\r\n")
            await writer.drain()
        writer.close()

    async def serve():
        server = await asyncio.start_server(session, "127.0.0.1", port, backlog=4096)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


# --- the loopback DNS ----------------------------------------------------------------------------


def start_dns(args):
    try:
        from tests.support.dns_server import LoopbackDNS
    except ImportError as exc:
        sys.exit(f"bench/outbound: the loopback DNS server needs dnslib ({exc}); pip install -r requirements-dev.txt")
    dns = LoopbackDNS().start()
    for i in range(args.domains):
        domain = DOMAIN_TEMPLATE.format(i)
        dns.resolver.add(f"{domain}. 3600 IN MX 10 mx.{domain}.")
        dns.resolver.add(f"mx.{domain}. 3600 IN A 127.0.0.1")
    return dns


# --- databases -----------------------------------------------------------------------------------


# --- worker processes ----------------------------------------------------------------------------


class Worker:
    """A child running this file with ``--role``: it says READY, waits for GO, then says RESULT."""

    def __init__(self, args, role: str, index: int, env: dict, tmp: Path, extra: list[str] = ()):
        cmd = [sys.executable, __file__, "--role", role, "--index", str(index), *_forwarded(args), *extra]
        self.log_path = tmp / f"{role}-{index}.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(  # noqa: S603
            cmd, env=env, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True
        )
        self.lines: queue.Queue = queue.Queue()
        self.ready: dict | None = None
        self.result: dict | None = None
        self.peak_hwm_kib = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def expect(self, word: str, deadline: float) -> dict:
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, min(1.0, deadline - time.monotonic())))
            except queue.Empty:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"{self.log_path.stem}: no {word} in time") from None
                self.sample()
                continue
            if line is None:
                raise RuntimeError(f"{self.log_path.stem} exited early; its log:\n{self.tail()}")
            if line.startswith(word + " "):
                return json.loads(line[len(word) + 1 :])

    def go(self) -> None:
        self.proc.stdin.write("GO\n")
        self.proc.stdin.flush()

    def sample(self) -> None:
        self.peak_hwm_kib = max(self.peak_hwm_kib, rss_kib(self.proc.pid, "VmHWM"))

    def tail(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-3000:]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.log.close()


def _forwarded(args) -> list[str]:
    out = ["--messages", str(args.messages), "--recipients", str(args.recipients), "--domains", str(args.domains)]
    out += ["--senders", str(args.senders), "--size", str(args.size), "--seed", str(args.seed)]
    out += ["--workers", str(args.workers), "--submit-workers", str(args.submit_workers)]
    out += ["--timeout", str(args.timeout)]
    if args.profile:
        out += ["--profile", str(Path(args.profile).resolve())]
    return out


def _say(word: str, payload: dict) -> None:
    sys.stdout.write(f"{word} {json.dumps(payload)}\n")
    sys.stdout.flush()


def _wait_for_go() -> None:
    if sys.stdin.readline().strip() != "GO":
        sys.exit(0)


def worker_main(args) -> None:
    import django

    django.setup()
    if args.role == "submit":
        submit_worker(args)
    else:
        deliver_worker(args)


def submit_worker(args) -> None:
    from accounts.models import User
    from delivery.services import send_message

    indexes = range(args.index, args.messages, args.submit_workers)
    senders = {u.email: u for u in User.objects.filter(email__endswith="@" + SENDER_DOMAIN)}
    plans = [message_plan(args, i) for i in indexes]
    _say("READY", {"rss_kib": rss_kib(os.getpid())})
    _wait_for_go()
    started = time.monotonic()
    for sender, recipients, subject, body in plans:
        send_message(user=senders[f"sender{sender}@{SENDER_DOMAIN}"], to=recipients, subject=subject, text=body)
    finished = time.monotonic()
    _say(
        "RESULT",
        {
            "messages": len(plans),
            "started": started,
            "finished": finished,
            "peak_rss_kib": rss_kib(os.getpid(), "VmHWM"),
        },
    )


def deliver_worker(args) -> None:
    from django.db import connection

    from delivery.services.engine import RunReport, run_delivery
    from delivery.transports import get_transport, reset_transport
    from mailboxes.models import Recipient

    connection.ensure_connection()
    backend_pid = None
    if connection.vendor == "postgresql":  # the server process serving this worker, same machine
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend_pid = cursor.fetchone()[0]
    get_transport()
    in_flight = Recipient.objects.filter(status__in=[Recipient.Status.QUEUED, Recipient.Status.SENDING])
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
    _say("READY", {"rss_kib": rss_kib(os.getpid())})
    _wait_for_go()
    deadline = time.monotonic() + args.timeout
    total, runs, waits = RunReport(), 0, 0
    cpu_before = cpu_seconds(os.getpid()), cpu_seconds(backend_pid) if backend_pid else 0.0
    started = time.monotonic()
    if profiler:
        profiler.enable()
    while time.monotonic() < deadline:
        report = run_delivery()
        total.add(report)
        runs += 1
        if report.claimed == 0:  # nothing claimable now: finished, or the other workers hold the rest
            if not in_flight.exists():
                break
            waits += 1
            time.sleep(0.02)
    finished = time.monotonic()
    cpu_after = cpu_seconds(os.getpid()), cpu_seconds(backend_pid) if backend_pid else 0.0
    if profiler:
        profiler.disable()
        profiler.dump_stats(str(Path(args.profile) / f"deliver-{args.index}.pstats"))
    reset_transport()  # QUIT the pooled connections (after the clock stopped, as Postfix keeps its cache)
    _say(
        "RESULT",
        {
            "report": {name: getattr(total, name) for name in total.__dataclass_fields__},
            "runs": runs,
            "waits": waits,
            "started": started,
            "finished": finished,
            "timed_out": finished >= deadline,
            "peak_rss_kib": rss_kib(os.getpid(), "VmHWM"),
            "cpu_s": cpu_after[0] - cpu_before[0],
            "db_backend_cpu_s": cpu_after[1] - cpu_before[1],
        },
    )


# --- our side ------------------------------------------------------------------------------------


def setup_database(args, env: dict) -> dict:
    """Migrate and create the sender domain (with its DKIM key) and users, in this process."""
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    from accounts.services import create_domain, create_mail_user, ensure_dkim_key

    call_command("migrate", verbosity=0, interactive=False)
    create_domain(name=SENDER_DOMAIN)
    domain, _ = ensure_dkim_key(domain_name=SENDER_DOMAIN)
    for i in range(args.senders):
        create_mail_user(address=f"sender{i}@{SENDER_DOMAIN}", password=None, display_name=f"Bench Sender {i}")
    _declare_delivery_queues()
    return {"dkim_selector": domain.dkim_selector, "dkim_key_bits": key_bits(domain.dkim_private_key)}


def _declare_delivery_queues() -> None:
    """Declare the delivery queues once, here, before the submission processes publish.

    kombu's file transport creates an exchange's table file without holding
    its lock first: two processes declaring at once can read it empty (a
    JSONDecodeError that stopped a run). Once the file exists, they lock it.
    """
    from mailboxes.models import Recipient
    from webmail.celery import app

    with app.connection_for_write() as connection:
        for name in Recipient.Queue.values:
            app.amqp.queues[name](connection.default_channel).declare()


def key_bits(pem: str) -> int:
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_private_key(pem.encode(), password=None).key_size


def run_workers(args, role: str, count: int, env: dict, tmp: Path, progress) -> tuple[float, list[Worker]]:
    workers = [Worker(args, role, i, env, tmp) for i in range(count)]
    try:
        deadline = time.monotonic() + 300
        for worker in workers:
            worker.ready = worker.expect("READY", deadline)
        started = time.monotonic()
        load_mark = other_load_mark()
        for worker in workers:
            worker.go()
        deadline = started + args.timeout
        pending = list(workers)
        last_progress = started
        while pending:
            for worker in list(pending):
                worker.sample()
                with contextlib.suppress(queue.Empty):
                    line = worker.lines.get_nowait()
                    if line is None:
                        raise RuntimeError(f"{worker.log_path.stem} exited early; its log:\n{worker.tail()}")
                    if line.startswith("RESULT "):
                        worker.result = json.loads(line[7:])
                        pending.remove(worker)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{role} did not finish within {args.timeout:.0f} s")
            if time.monotonic() - last_progress >= 10:
                last_progress = time.monotonic()
                progress(last_progress - started)
            time.sleep(0.05)
        finished = max(w.result["finished"] for w in workers)
        for worker in workers:
            worker.other_load = other_load_since(load_mark)
        return finished - started, workers
    finally:
        for worker in workers:
            worker.close()


def run_ours(args, tmp: Path, env: dict, sink: Sink, results: dict) -> None:
    setup = setup_database(args, env)
    from django.db import connection
    from django.db.models import Avg, Count

    from delivery.models import DeliveryEvent
    from mailboxes.models import Message, Recipient

    expected = args.messages * args.recipients
    log(args, f"· submitting {args.messages} messages with {args.submit_workers} process(es) through send_message …")

    def submit_progress(elapsed):
        log(args, f"  {elapsed:5.0f} s: {Message.objects.count()} messages stored")

    submit_s, submitters = run_workers(args, "submit", args.submit_workers, env, tmp, submit_progress)
    queued = Recipient.objects.filter(status=Recipient.Status.QUEUED).count()
    dispatched = sum(1 for _ in (tmp / "var" / "celery" / "queue").iterdir())
    avg_size = Message.objects.aggregate(size=Avg("size"))["size"] or 0
    if queued != expected:
        raise RuntimeError(f"submission queued {queued} recipients, expected {expected}")
    results["ours_submission"] = {
        "seconds": submit_s,
        "messages": args.messages,
        "recipients": queued,
        "celery_tasks_dispatched": dispatched,
        "avg_message_bytes": round(avg_size),
        "peak_rss_kib": [max(w.result["peak_rss_kib"], w.peak_hwm_kib) for w in submitters],
        "other_load_cores": submitters[0].other_load,
        **setup,
    }
    log(args, f"  {args.messages / submit_s:.0f} messages/s; {dispatched} delivery tasks dispatched (not run)")
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    connection.close()

    log(args, f"· delivering with {args.workers} worker(s) looping run_delivery() …")
    before, sessions_before = sink.count, sink.sessions

    def deliver_progress(elapsed):
        log(args, f"  {elapsed:5.0f} s: {sink.count - before}/{expected} transactions at the sink")

    deliver_s, workers = run_workers(args, "deliver", args.workers, env, tmp, deliver_progress)
    sink.wait_for(before + expected, 10)
    time.sleep(0.5)  # the workers' QUITs of their pooled connections reach the sink's session count
    statuses = dict(Recipient.objects.values_list("status").annotate(n=Count("pk")).order_by())
    reports = [w.result["report"] for w in workers]
    results["ours_delivery"] = {
        "seconds": deliver_s,
        "messages": args.messages,
        "recipients": expected,
        "sink_transactions": sink.count - before,
        "sink_sessions": sink.sessions - sessions_before,
        "other_load_cores": workers[0].other_load,
        "recipient_statuses": statuses,
        "message_statuses": dict(Message.objects.values_list("status").annotate(n=Count("pk")).order_by()),
        "delivery_events": DeliveryEvent.objects.count(),
        "workers": [
            {
                "peak_rss_kib": max(w.result["peak_rss_kib"], w.peak_hwm_kib),
                "rss_at_start_kib": w.ready["rss_kib"],
                "claimed": w.result["report"]["claimed"],
                "batches": w.result["report"]["batches"],
                "idle_waits": w.result["waits"],
                "timed_out": w.result["timed_out"],
                "cpu_s": w.result["cpu_s"],
                "db_backend_cpu_s": w.result["db_backend_cpu_s"],
            }
            for w in workers
        ],
        "report": {k: sum(r[k] for r in reports) for k in reports[0]},
    }
    connection.close()
    if statuses.get(Recipient.Status.SENT, 0) != expected:
        raise RuntimeError(f"not every recipient was sent: {statuses} (worker logs in {tmp})")
    log(args, f"  {args.messages / deliver_s:.0f} messages/s, {expected / deliver_s:.0f} recipients/s")


# --- Postfix -------------------------------------------------------------------------------------

POSTFIX_BINARIES = ("postfix", "postsuper", "postqueue", "smtp-source", "smtp-sink")

MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup     unix  n - n 60 1 pickup
cleanup    unix  n - n -  0 cleanup
qmgr       unix  n - n 300 1 qmgr
rewrite    unix  - - n -  - trivial-rewrite
bounce     unix  - - n -  0 bounce
defer      unix  - - n -  0 bounce
trace      unix  - - n -  0 bounce
verify     unix  - - n -  1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n -  - proxymap
proxywrite unix  - - n -  1 proxymap
smtp       unix  - - n -  - smtp
relay      unix  - - n -  - smtp
showq      unix  n - n -  - showq
error      unix  - - n -  - error
retry      unix  - - n -  - error
discard    unix  - - n -  - discard
local      unix  - n n -  - local
anvil      unix  - - n -  1 anvil
scache     unix  - - n -  1 scache
postlog    unix-dgram n - n - 1 postlogd
"""


class Postfix:
    """A private Postfix instance (its own config and queue folders) relaying everything to the sink."""

    QUEUES = ("maildrop", "incoming", "active", "deferred", "hold")

    def __init__(self, base: Path, sink_port: int, *, hold: bool, recipient_limit: int | None):
        self.base = base
        self.etc, self.spool, self.maillog = base / "etc", base / "queue", base / "maillog"
        self.port = free_port()
        for path in (self.etc, self.spool, base / "data"):
            path.mkdir(parents=True)
        shutil.chown(base / "data", "postfix")
        base.chmod(0o755)
        settings = {
            "compatibility_level": "3.6",
            "queue_directory": self.spool,
            "data_directory": base / "data",
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": "postfix.bench.test",
            "mydomain": "bench.test",
            "mydestination": "",
            "local_recipient_maps": "",
            "alias_maps": "",
            "alias_database": "",
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "relayhost": f"[127.0.0.1]:{sink_port}",
            "smtpd_relay_restrictions": "permit_mynetworks, reject",
            "smtpd_peername_lookup": "no",
            "smtp_tls_security_level": "none",
            "smtpd_tls_security_level": "none",
            "maillog_file": self.maillog,
            "maillog_file_prefixes": base,
            "syslog_name": "postfix-bench",
            "biff": "no",
            "message_size_limit": "52428800",
        }
        if hold:  # everything injected waits in the hold queue until release()
            settings["smtpd_client_restrictions"] = "check_client_access static:HOLD"
            settings["in_flow_delay"] = "0"  # nothing drains the queue meanwhile: do not slow the injection
        if recipient_limit:
            # (In this mode Postfix 3.7 opens one SMTP session per transaction: the sink counts them.)
            settings["smtp_destination_recipient_limit"] = str(recipient_limit)
        (self.etc / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
        (self.etc / "master.cf").write_text(MASTER_CF.format(port=self.port))
        self.master_pid = 0
        self.peak_pss_kib = 0
        self.peak_processes = 0
        self._log_offset = 0
        self.sent = self.deferred = self.bounced = 0
        self._sampling = False

    def _postfix(self, *words) -> subprocess.CompletedProcess:
        # postfix(1) reports errors to syslog, or to a terminal: give it one through script(1) if we can.
        cmd = [which("postfix"), "-c", str(self.etc), *words]
        if which("script"):
            cmd = [which("script"), "-qec", " ".join(cmd), "/dev/null"]
        return run(cmd)

    def start(self) -> None:
        for words in (("check",), ("start",)):
            done = self._postfix(*words)
            if done.returncode:
                raise RuntimeError(f"postfix {words[0]} failed: {done.stdout}{done.stderr}{self._log_tail()}")
        if not wait_for_port(self.port, 15):
            raise RuntimeError(f"postfix smtpd did not come up on port {self.port}{self._log_tail()}")
        with contextlib.suppress(OSError, ValueError):
            self.master_pid = int((self.spool / "pid" / "master.pid").read_text().strip())
        self._sampling = True
        threading.Thread(target=self._sample_memory, daemon=True).start()

    def _log_tail(self) -> str:
        return "\n" + self.maillog.read_text(errors="replace")[-2000:] if self.maillog.exists() else ""

    def _sample_memory(self) -> None:
        while self._sampling and self.master_pid:
            pids = descendants(self.master_pid)
            self.peak_processes = max(self.peak_processes, len(pids))
            self.peak_pss_kib = max(self.peak_pss_kib, sum(pss_kib(p) for p in pids))
            time.sleep(0.5)

    def stop(self) -> None:
        self._sampling = False
        self._postfix("stop")
        deadline = time.monotonic() + 10
        while self.master_pid and Path(f"/proc/{self.master_pid}").exists() and time.monotonic() < deadline:
            reap_children()
            time.sleep(0.1)
        if self.master_pid and Path(f"/proc/{self.master_pid}").exists():
            self._postfix("abort")
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.master_pid, signal.SIGKILL)
        reap_children()

    def queued(self) -> int:
        count = 0
        for name in self.QUEUES:
            for _root, _dirs, files in os.walk(self.spool / name):
                count += len(files)
        return count

    def count_log(self) -> int:
        """Update the per-recipient outcome counts from the new part of the mail log; returns ``sent``."""
        if not self.maillog.exists():
            return 0
        with open(self.maillog, "rb") as handle:
            handle.seek(self._log_offset)
            data = handle.read()
        cut = data.rfind(b"\n") + 1
        self._log_offset += cut
        chunk = data[:cut]
        self.sent += chunk.count(b"status=sent")
        self.deferred += chunk.count(b"status=deferred")
        self.bounced += chunk.count(b"status=bounced")
        return self.sent

    def release(self) -> None:
        for cmd in (
            [which("postsuper"), "-c", str(self.etc), "-H", "ALL"],
            [which("postqueue"), "-c", str(self.etc), "-f"],
        ):
            done = run(cmd)
            if done.returncode:
                raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr}")

    def wait_delivered(self, recipients: int, deadline: float, poll: float = 0.02) -> bool:
        while time.monotonic() < deadline:
            if self.count_log() + self.bounced >= recipients and self.queued() == 0:
                return True
            time.sleep(poll)
        return False


def descendants(root: int) -> list[int]:
    parents = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = Path(f"/proc/{entry.name}/stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return _tree(root, parents)


def postfix_cpu_seconds(master_pid: int) -> float:
    """CPU used so far by Postfix's processes: the live ones, and the exited ones their master reaped."""
    hz, total = os.sysconf("SC_CLK_TCK"), 0
    for pid in descendants(master_pid) if master_pid else ():
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
    return total / hz


def smtp_source(args, port: int, message_file: Path, sessions: int = 20) -> list[str]:
    return [
        which("smtp-source"), "-d", "-N", "-s", str(sessions), "-m", str(args.messages), "-r", str(args.recipients),
        "-F", str(message_file), "-f", f"sender0@{SENDER_DOMAIN}", "-t", f"rcpt@{DOMAIN_TEMPLATE.format(0)}",
        f"127.0.0.1:{port}",
    ]  # fmt: skip


# (results key, label, injected on hold then released?, smtp_destination_recipient_limit)
POSTFIX_MODES = (
    ("postfix_queue", "queue -> sink", True, None),
    ("postfix_queue_1rcpt", "queue -> sink, 1 recipient per transaction", True, 1),
    ("postfix_live", "live: smtp-source -> Postfix -> sink", False, None),
)


def run_postfix(args, tmp: Path, sink: Sink, results: dict, sample_raw: bytes, modes=POSTFIX_MODES) -> None:
    """Postfix relaying ``args.messages`` copies of ``sample_raw`` (``args.recipients`` recipients each) to the sink,
    once per mode; the figures go into ``results`` under each mode's key."""
    missing = [b for b in POSTFIX_BINARIES if not which(b)]
    if missing:
        print(
            f"bench/outbound: Postfix is not installed (missing {', '.join(missing)}): the peer figure is skipped.\n"
            "  Install it with: DEBIAN_FRONTEND=noninteractive apt-get install -y postfix",
            file=sys.stderr,
        )
        results["postfix_skipped"] = f"missing {', '.join(missing)}"
        return
    if os.geteuid() != 0:
        print(
            "bench/outbound: a private Postfix instance needs root here: the peer figure is skipped.", file=sys.stderr
        )
        results["postfix_skipped"] = "not root"
        return
    message_file = tmp / "postfix-message.eml"
    message_file.write_bytes(sample_raw.replace(b"\r\n", b"\n"))  # smtp-source -F appends CRLF to each line
    recipients = args.messages * args.recipients
    for key, label, hold, limit in modes:
        log(args, f"· Postfix, {label} …")
        instance = Postfix(tmp / key, sink.port, hold=hold, recipient_limit=limit)
        try:
            instance.start()
            before, sessions_before = sink.count, sink.sessions
            figures = {"messages": args.messages, "recipients": recipients}
            load_mark = None
            source_cmd = smtp_source(args, instance.port, message_file)
            if hold:
                inject_started = time.monotonic()
                done = run(source_cmd, timeout=args.timeout)  # 100,000 messages take minutes to inject
                if done.returncode:
                    raise RuntimeError(f"smtp-source failed: {done.stdout}{done.stderr}")
                deadline = time.monotonic() + args.timeout
                while instance.queued() < args.messages and time.monotonic() < deadline:
                    time.sleep(0.05)
                figures["injected_seconds"] = time.monotonic() - inject_started
                started = time.monotonic()
                load_mark = other_load_mark()
                instance.release()
                ok = instance.wait_delivered(recipients, started + args.timeout)
            else:
                cpu_before = postfix_cpu_seconds(instance.master_pid)
                started = time.monotonic()
                load_mark = other_load_mark()
                source = subprocess.Popen(source_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603
                ok = instance.wait_delivered(recipients, started + args.timeout)
                figures["cpu_s"] = postfix_cpu_seconds(instance.master_pid) - cpu_before
                source.wait(30)
                figures["injected_seconds"] = None
            seconds = time.monotonic() - started
            figures["other_load_cores"] = other_load_since(load_mark)
            sink.wait_for(before + 1, 5)
            figures.update(
                seconds=seconds,
                completed=ok,
                sent=instance.sent,
                deferred=instance.deferred,
                bounced=instance.bounced,
                sink_transactions=sink.count - before,
                peak_pss_kib_all_processes=instance.peak_pss_kib,
                peak_processes=instance.peak_processes,
            )
            results[key] = figures
            if not ok:
                raise RuntimeError(f"Postfix ({label}) did not deliver everything: {figures}")
            log(args, f"  {args.messages / seconds:.0f} messages/s, {recipients / seconds:.0f} recipients/s")
        finally:
            instance.stop()
            if key in results:
                time.sleep(0.5)
                results[key]["sink_sessions"] = sink.sessions - sessions_before


# --- report --------------------------------------------------------------------------------------


def print_table(args, results: dict) -> None:
    n, r = args.messages, args.recipients
    sub = results.get("ours_submission")
    size = sub["avg_message_bytes"] if sub else args.size
    print()
    print(
        f"Outbound benchmark: {n} messages x {r} recipients on {args.domains} domains, ~{size} bytes, "
        f"DKIM-signed (rsa-{sub['dkim_key_bits'] if sub else '?'}); nproc {os.cpu_count()}"
    )
    print(
        f"database {args.db}, {args.workers} delivery worker(s), {args.submit_workers} submission process(es); "
        "throttling off (OUTBOUND_*_RATE_PER_MINUTE and OUTBOUND_DOMAIN_CONCURRENCY set to 1e9)"
    )
    print()
    rows = []
    if sub:
        rows.append(("ours: submission (send_message)", sub, f"max {mb(max(sub['peak_rss_kib']))} per process"))
    deliv = results.get("ours_delivery")
    if deliv:
        peak = max(w["peak_rss_kib"] for w in deliv["workers"])
        rows.append(("ours: delivery (outbox -> sink)", deliv, f"max {mb(peak)} per worker"))
        both = {"seconds": sub["seconds"] + deliv["seconds"]}
        rows.append(("ours: submission + delivery", both, ""))
    for key, label in (
        ("postfix_queue", "Postfix: queue -> sink"),
        ("postfix_queue_1rcpt", "Postfix: queue -> sink, 1 rcpt/txn"),
        ("postfix_live", "Postfix: smtp-source -> Postfix -> sink"),
    ):
        if key in results:
            fig = results[key]
            memory = f"{mb(fig['peak_pss_kib_all_processes'])} PSS, {fig['peak_processes']} processes"
            rows.append((label, fig, memory))
    print(f"{'':40} {'seconds':>8} {'msg/s':>8} {'rcpt/s':>8}  peak memory")
    for label, fig, memory in rows:
        s = fig["seconds"]
        print(f"{label:40} {s:8.1f} {n / s:8.0f} {n * r / s:8.0f}  {memory}")
    loads = [(label, fig.get("other_load_cores")) for label, fig, _ in rows if fig.get("other_load_cores") is not None]
    if loads:
        busiest = max(load for _, load in loads)
        print(
            "other processes on the machine (CPU cores in use, average per phase): "
            + ", ".join(f"{label.split(' (')[0]} {load:.2f}" for label, load in loads)
        )
        if busiest >= 0.1:
            print(f"WARNING: up to {busiest:.2f} cores were busy with other work: these figures are skewed")
    if deliv:
        worker_cpu = sum(w["cpu_s"] for w in deliv["workers"])
        backend_cpu = sum(w["db_backend_cpu_s"] for w in deliv["workers"])
        print(
            f"delivery CPU per message: workers {1000 * worker_cpu / n:.2f} ms"
            + (f" + their PostgreSQL backends {1000 * backend_cpu / n:.2f} ms" if backend_cpu else "")
            + " (less skewed by other load than the rates)"
        )
    if "postfix_skipped" in results:
        print(f"Postfix peer skipped: {results['postfix_skipped']}")
    if deliv and "postfix_queue" in results:
        ours = n / deliv["seconds"]
        peer = n / results["postfix_queue"]["seconds"]
        peak = max(w["peak_rss_kib"] for w in deliv["workers"])
        print()
        print(
            f"delivery vs Postfix queue -> sink: {ours:.0f} / {peer:.0f} msg/s = {ours / peer:.2f}x "
            f"({'meets' if ours >= peer else 'below'} the Postfix figure); "
            f"worker peak RSS {mb(peak)} ({'under' if peak < 200 * 1024 else 'over'} 200 MB)"
        )


def interrupt(signum, frame):
    raise KeyboardInterrupt


def orchestrate(args) -> int:
    global OTHER_LOAD
    signal.signal(signal.SIGTERM, interrupt)  # clean up (Postfix, sink, database, temp folder) when stopped
    signal.signal(signal.SIGINT, interrupt)  # even when started in the background with SIGINT ignored
    become_subreaper()
    OTHER_LOAD = OtherLoad()
    tmp = Path(tempfile.mkdtemp(prefix="bench-outbound-"))
    tmp.chmod(0o755)
    results: dict = {"args": {k: v for k, v in vars(args).items() if k not in ("role", "index", "port")}}
    results["machine"] = {"nproc": os.cpu_count(), "mem_total_kib": mem_total_kib()}
    sink = dns = database = None
    status = 0
    try:
        sink = Sink(tmp)
        results["sink"] = sink.kind
        log(args, f"· {sink.kind} on 127.0.0.1:{sink.port}; temporary folder {tmp}")
        sample_raw = _sample_message(args)
        if args.wait_quiet:
            OTHER_LOAD.wait_quiet(args, args.wait_quiet)
        if not args.postfix_only:
            dns = start_dns(args)
            database = ThrowawayDatabase(args, tmp, prefix="bench_outbound")
            OTHER_LOAD.database = database.name
            env = django_env(args, tmp, database.url, dns.nameserver, sink.port)
            if args.end_to_end:
                from bench.outbound_e2e import run_end_to_end

                run_end_to_end(args, tmp, env, sink, results, database.name)
            else:
                run_ours(args, tmp, env, sink, results)
            sample_raw = _stored_sample(sample_raw)
        if not args.no_postfix:
            modes = [m for m in POSTFIX_MODES if m[0] == "postfix_live"] if args.end_to_end else POSTFIX_MODES
            run_postfix(args, tmp, sink, results, sample_raw, modes)
    except (RuntimeError, TimeoutError) as exc:
        print(f"bench/outbound: {exc}", file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        status = 130
    finally:
        close_django()
        if sink:
            sink.stop()
        if dns:
            dns.stop()
        if database:
            with contextlib.suppress(Exception):
                database.drop()
        reap_children()
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.end_to_end:
        from bench.outbound_e2e import print_end_to_end

        print_end_to_end(args, results)
    else:
        print_table(args, results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return status


def mem_total_kib() -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    return 0


def _sample_message(args) -> bytes:
    """A message shaped like ours when our side does not run (--postfix-only)."""
    from email.message import EmailMessage

    _, recipients, subject, body = message_plan(args, 0)
    msg = EmailMessage()
    msg["From"] = f"Bench Sender 0 <sender0@{SENDER_DOMAIN}>"
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = subject
    msg["Message-ID"] = f"<bench.0@{SENDER_DOMAIN}>"
    msg.set_content(body)
    return msg.as_bytes()


def _stored_sample(default: bytes) -> bytes:
    """One of the messages our side sent, byte for byte, for Postfix to relay."""
    from mailboxes.blobstore import read_blob
    from mailboxes.models import Message

    message = Message.objects.select_related("blob").order_by("pk").first()
    return read_blob(message.blob) if message else default


def close_django() -> None:
    if "django.db" in sys.modules:
        from django.db import connections

        with contextlib.suppress(Exception):
            connections.close_all()


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.role == "sink":
        python_sink_main(args.port)
        return 0
    if args.role:
        worker_main(args)
        return 0
    return orchestrate(args)


if __name__ == "__main__":
    sys.exit(main())
