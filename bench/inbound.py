#!/usr/bin/env python
"""Inbound benchmark: our MX and inbound pipeline against Postfix delivering to a Maildir, in one run.

    python bench/inbound.py                         # 10,000 messages of 2 KB over 20 connections, SQLite
    python bench/inbound.py --db postgres           # the same on a throwaway PostgreSQL database
    python bench/inbound.py --broker redis://127.0.0.1:6379/15   # Redis instead of the file broker
    python bench/inbound.py --messages 300          # a quick run
    python bench/inbound.py --help

What it does, everything on loopback and in a temporary folder that is removed
at the end:

1. starts a loopback DNS server (``tests/support/dns_server.py``) answering the
   SPF and DMARC lookups for the sending domain ``bench.example`` and the HELO
   name, so authentication runs in full and no query leaves the machine;
2. migrates a throwaway database (SQLite file, or a new PostgreSQL database),
   creates the hosted domain ``bench.test`` and ``--users`` users;
3. starts the MX (``manage.py runsmtpd``) and ``--workers`` Celery workers
   (``-Q inbound,default --pool prefork --concurrency C``) as subprocesses, on
   the embedded file broker in the temp folder or on ``--broker``; a few
   warm-up messages go through first (imports, first connections);
4. **acceptance**: Postfix's ``smtp-source`` sends ``--messages`` messages of
   ``--size`` bytes over ``--connections`` parallel sessions (one message per
   connection, as in the issue, or ``--reuse-connections``); timed by its wall
   time;
5. **visible in inbox**: the database is polled until every accepted message
   is processed (bounded by ``--timeout``); the rate is messages / (last
   ``processed_at`` - start of sending), the lag of each message is
   ``InboundMessage.processed_at - received_at`` (received_at is stamped
   before the MX answers 250, processed_at after the placement committed);
6. **peer**: a private Postfix instance (own config and queue folders, smtpd
   on a loopback port, ``virtual`` delivery into Maildirs in the temp folder
   as uid ``nobody``) receives the same ``smtp-source`` load; accepted/s is
   smtp-source's wall time, Maildir/s counts files in ``Maildir/new`` until
   all are there, and the lag is Postfix's own ``delay=`` per delivery;
7. **the operator's stack** (before the plain Postfix; ``--no-stack`` skips it):
   Postfix with rspamd as its milter (SPF, DKIM, DMARC, Bayes trained with
   ``--bayes-train`` messages each way, on a private redis-server) delivering
   over LMTP to Dovecot into the same Maildirs, indexed by fts-xapian
   (``--no-fts``: without), every piece a private instance
   (``bench/peers/stack.py``, which also says which rspamd modules are off and
   why); measured as the plain Postfix, after a few warm-up messages.

CPU per message, for every side, from the start of sending until everything
is visible: user+system time of the process trees including the children
they reaped (Postfix's smtpd/cleanup/lmtp, Dovecot's lmtp and indexer) --
ours: the MX, the Celery workers and PostgreSQL's processes serving the
benchmark's database plus its background writers; the stack: Postfix,
rspamd, its Redis, Dovecot (the files' page cache and the kernel's disk work
are not counted on either side). ``--mx-cprofile FILE`` profiles the MX in all
its threads (bench/mx_cprofile.py).

The MX's per-client rate limits (SMTPD_*_PER_MINUTE_PER_IP) are switched off
for the run, since every message comes from 127.0.0.1; the run says so. This
is a benchmark, not a test: it asserts no timing; it fails only if mail is lost.
"""

import argparse
import contextlib
import ctypes
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.peers.stack import DISABLED_MODULES, Dovecot, Redis, Rspamd, tree_cpu_seconds  # noqa: E402
from bench.throwaway import ThrowawayDatabase  # noqa: E402

HOSTED_DOMAIN = "bench.test"
SENDER_DOMAIN = "bench.example"
HELO_NAME = "client.bench.example"
SENDER = f"sender@{SENDER_DOMAIN}"
DONE_STATUSES = ("delivered", "quarantined", "failed", "report")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Inbound benchmark: our MX + inbound queue, and Postfix delivering to a Maildir, "
        "under the same smtp-source load.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--messages", type=int, default=10_000, help="messages to send")
    parser.add_argument("--connections", type=int, default=20, help="parallel SMTP sessions (smtp-source -s)")
    parser.add_argument("--size", type=int, default=2048, help="message payload bytes (smtp-source -l)")
    parser.add_argument(
        "--reuse-connections", action="store_true", help="send every message of a session over one connection (-d)"
    )
    parser.add_argument("--users", type=int, default=10, help="hosted users created on bench.test")
    parser.add_argument(
        "--rcpt-users",
        type=int,
        default=1,
        help="spread the load over this many recipients (one smtp-source per user, sessions split); "
        "1 = every message to user1@bench.test, as in the issue",
    )
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite", help="throwaway database kind")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432"),
        help="PostgreSQL server for --db postgres; a database bench_inbound_* is created there and dropped",
    )
    parser.add_argument(
        "--broker",
        default="",
        help="CELERY_BROKER_URL for the run, e.g. redis://127.0.0.1:6379/15 (its inbound/default queues are "
        "purged); default: the embedded file broker in the temp folder",
    )
    parser.add_argument("--workers", type=int, default=1, help="Celery worker processes (each a prefork pool)")
    parser.add_argument(
        "--mx-processes", type=int, default=1, help="runsmtpd processes sharing the port (SMTPD_REUSE_PORT)"
    )
    parser.add_argument("--concurrency", type=int, default=2, help="prefork children per Celery worker")
    parser.add_argument("--conn-max-age", type=int, default=None, help="DATABASE_CONN_MAX_AGE (default: the setting)")
    parser.add_argument("--warmup", type=int, default=20, help="warm-up messages before the clock starts")
    parser.add_argument("--no-postfix", action="store_true", help="skip the Postfix peer")
    parser.add_argument("--postfix-only", action="store_true", help="run only the peers")
    parser.add_argument(
        "--no-stack", action="store_true", help="skip the Postfix + rspamd + Dovecot peer (bench/peers/stack.py)"
    )
    parser.add_argument("--no-fts", action="store_true", help="the stack's Dovecot without its full-text index")
    parser.add_argument(
        "--bayes-train", type=int, default=250, help="ham and spam messages each to train rspamd's Bayes with (0: none)"
    )
    parser.add_argument("--timeout", type=float, default=1200, help="upper bound in seconds for each phase")
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="run the MX and the workers under py-spy (record, raw collapsed stacks into DIR); needs py-spy",
    )
    parser.add_argument(
        "--mx-cprofile",
        metavar="FILE",
        help="run the MX under cProfile in every thread, on each thread's CPU clock (bench/mx_cprofile.py); "
        "the merged pstats file is written to FILE when the MX stops",
    )
    parser.add_argument(
        "--profile-idle", action="store_true", help="with --profile, also sample threads that wait (py-spy --idle)"
    )
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON to FILE")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (its path is printed)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines, only the final table")
    args = parser.parse_args(argv)
    counts = (args.messages, args.connections, args.users, args.workers, args.concurrency, args.size, args.mx_processes)
    if min(counts) < 1:
        parser.error("counts must be at least 1")
    if not 1 <= args.rcpt_users <= min(args.users, args.connections):
        parser.error("--rcpt-users must be between 1 and min(--users, --connections)")
    if args.rcpt_users > 1 and args.users < 2:
        parser.error("--rcpt-users needs --users of at least 2")
    return args


# --- small helpers (after bench/outbound.py) -----------------------------------------------------


def log(args, text: str) -> None:
    if not args.quiet:
        print(text, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            if sock.recv(1):  # the greeting: the server is really serving, not just listening
                sock.sendall(b"QUIT\r\n")
                return True
        time.sleep(0.05)
    return False


def which(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(Path(d) / name) for d in ("/usr/sbin", "/usr/local/sbin", "/sbin") if (Path(d) / name).exists()), None
    )


def run(cmd: list[str], timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout, **kwargs)  # noqa: S603


def proc_status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = Path(f"/proc/{entry.name}/stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def become_subreaper() -> None:
    """Postfix daemonises; as subreaper its processes become our children and are reaped at the end."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def reap_children() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def mb(kib: float) -> str:
    return f"{kib / 1024:.0f} MB"


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))  # nearest rank
    return ordered[k]


def lag_summary(lags: list[float]) -> dict:
    return {
        "p50": percentile(lags, 50),
        "p95": percentile(lags, 95),
        "p99": percentile(lags, 99),
        "max": max(lags) if lags else None,
        "mean": statistics.fmean(lags) if lags else None,
    }


def smtp_source_cmds(args, port: int, messages: int | None = None, rcpt_base: int = 1) -> list[list[str]]:
    """One smtp-source per recipient user; sessions and messages split between them."""
    total = args.messages if messages is None else messages
    k = args.rcpt_users if messages is None else 1
    cmds = []
    for i in range(k):
        count = total // k + (1 if i < total % k else 0)
        sessions = args.connections // k + (1 if i < args.connections % k else 0)
        cmd = [which("smtp-source"), "-A", "-l", str(args.size), "-m", str(count), "-s", str(sessions)]
        if args.reuse_connections:
            cmd.append("-d")
        cmd += ["-M", HELO_NAME, "-f", SENDER, "-t", f"user{rcpt_base + i}@{HOSTED_DOMAIN}", f"127.0.0.1:{port}"]
        cmds.append(cmd)
    return cmds


def run_smtp_source(args, port: int, messages: int | None = None, rcpt_base: int = 1) -> tuple[float, float]:
    """Runs the load; returns (wall-clock start, seconds)."""
    cmds = smtp_source_cmds(args, port, messages, rcpt_base)
    started_wall, started = time.time(), time.monotonic()
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in cmds]  # noqa: S603
    failures = []
    for proc in procs:
        out, err = proc.communicate(timeout=args.timeout)
        if proc.returncode:
            failures.append(f"{out}{err}".strip()[-500:])
    seconds = time.monotonic() - started
    if failures:
        raise RuntimeError("smtp-source failed: " + " | ".join(failures))
    return started_wall, seconds


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (0 if it is gone)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


POSTGRES_BACKGROUND = ("walwriter", "checkpointer", "background writer", "autovacuum launcher")


def postgres_pids(database: str | None = None) -> list[int]:
    """PostgreSQL's processes; with ``database``, only its backends plus the server's background writers.

    The server is shared with other work: counting every backend would count theirs too. Autovacuum
    workers and backends that ended during the run are not counted (the postmaster reaps them).
    """
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if Path(f"/proc/{entry.name}/comm").read_text().strip() != "postgres":
                    continue
                if database:
                    title = Path(f"/proc/{entry.name}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                    words = title.split()
                    if not (database in words or any(title.startswith(f"postgres: {b}") for b in POSTGRES_BACKGROUND)):
                        continue
                pids.append(int(entry.name))
    return pids


def machine_cpu_seconds() -> float:
    """Busy CPU time of the whole machine (all cores) from /proc/stat."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds spent by named process trees (and the whole machine) between two snapshots.

    A tree counts its live processes and the children they reaped (``tree_cpu_seconds``), so a
    Postfix smtpd or a prefork child that ended during the run is counted. PostgreSQL: the
    backends of ``database`` and the server's background writers (with ``database=None``: every
    postgres process, other people's backends included).
    """

    def __init__(self, roots: dict[str, int], database: str | None = None, postgres: bool = True):
        self.roots = roots
        self.database = database
        self.postgres = postgres
        self.before = self._snapshot()

    def _snapshot(self) -> dict[str, float]:
        snap = {name: tree_cpu_seconds(root) for name, root in self.roots.items()}
        if self.postgres:
            snap["postgres"] = sum(process_cpu_seconds(p) for p in postgres_pids(self.database))
        snap["machine"] = machine_cpu_seconds()
        return snap

    def spent(self) -> dict[str, float]:
        after = self._snapshot()
        return {name: max(0.0, after[name] - self.before.get(name, 0.0)) for name in after}


class MemorySampler:
    """Peak RSS per process of a few process trees, sampled every half second (plus VmHWM at the end)."""

    def __init__(self):
        self.roots: dict[str, int] = {}
        self.peak_rss: dict[str, dict[int, int]] = {}
        self.peak_tree_rss: dict[str, int] = {}
        self._running = True
        threading.Thread(target=self._loop, daemon=True).start()

    def watch(self, name: str, pid: int) -> None:
        self.roots[name] = pid
        self.peak_rss.setdefault(name, {})
        self.peak_tree_rss.setdefault(name, 0)

    def sample(self) -> None:
        for name, root in list(self.roots.items()):
            total = 0
            for pid in descendants(root):
                hwm = max(proc_status_kib(pid, "VmHWM"), proc_status_kib(pid, "VmRSS"))
                if hwm:
                    self.peak_rss[name][pid] = max(self.peak_rss[name].get(pid, 0), hwm)
                total += proc_status_kib(pid, "VmRSS")
            self.peak_tree_rss[name] = max(self.peak_tree_rss[name], total)

    def _loop(self) -> None:
        while self._running:
            with contextlib.suppress(Exception):
                self.sample()
            time.sleep(0.5)

    def stop(self) -> None:
        self._running = False

    def max_process(self, prefix: str) -> int:
        return max((v for n, d in self.peak_rss.items() if n.startswith(prefix) for v in d.values()), default=0)


# --- DNS and database -----------------------------------------------------------------------------


def start_dns():
    try:
        from tests.support.dns_server import LoopbackDNS
    except ImportError as exc:
        sys.exit(f"bench/inbound: the loopback DNS server needs dnslib ({exc}); pip install -r requirements-dev.txt")
    for attempt in range(5):  # its TCP side reuses the UDP side's free port number, which may be taken
        try:
            dns = LoopbackDNS().start()
            break
        except OSError:
            if attempt == 4:
                raise
    for line in (
        f'{SENDER_DOMAIN}. 3600 IN TXT "v=spf1 ip4:127.0.0.0/8 -all"',
        f"{SENDER_DOMAIN}. 3600 IN A 127.0.0.1",
        f'_dmarc.{SENDER_DOMAIN}. 3600 IN TXT "v=DMARC1; p=none"',
        f'{HELO_NAME}. 3600 IN TXT "v=spf1 a -all"',
        f"{HELO_NAME}. 3600 IN A 127.0.0.1",
    ):
        dns.resolver.add(line)
    return dns


def django_env(args, tmp: Path, db_url: str, dns_nameserver: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"CELERY_BROKER_URL", "S3_BUCKET", "ELASTICSEARCH_URL", "DATABASE_URL", "SECRET_KEY_FILE",
                     "CLAMD_URL", "RSPAMD_URL"}
    }  # fmt: skip
    env.update(
        DJANGO_SETTINGS_MODULE="webmail.settings",
        DATABASE_URL=db_url,
        VAR_DIR=str(tmp / "var"),
        MAILSTORE_DIR=str(tmp / "mailstore"),
        DNS_NAMESERVERS=dns_nameserver,
        DNS_TIMEOUT="5",
        MAIL_HOSTNAME="mx.bench.test",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1",
        LOG_LEVEL="WARNING",
        CELERY_TASK_ALWAYS_EAGER="false",
        # Every message comes from 127.0.0.1: the per-client limits would measure themselves.
        SMTPD_CONNECTIONS_PER_MINUTE_PER_IP="0",
        SMTPD_MESSAGES_PER_MINUTE_PER_IP="0",
        PYTHONUNBUFFERED="1",
    )
    if args.broker:
        env["CELERY_BROKER_URL"] = args.broker
    if args.conn_max_age is not None:
        env["DATABASE_CONN_MAX_AGE"] = str(args.conn_max_age)
    return env


def setup_database(args, env: dict) -> None:
    """Migrate and create the hosted domain and its users, in this process."""
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    from accounts.services import create_domain, create_mail_user

    call_command("migrate", verbosity=0, interactive=False)
    create_domain(name=HOSTED_DOMAIN)
    for i in range(args.users + 1):  # user0 takes the warm-up messages
        create_mail_user(address=f"user{i}@{HOSTED_DOMAIN}", password=None, display_name=f"Bench User {i}")


def purge_redis(url: str) -> None:
    try:
        import redis
    except ImportError:
        sys.exit("bench/inbound: --broker redis://… needs the redis package (pip install redis)")
    client = redis.Redis.from_url(url)
    client.delete("inbound", "default", "unacked", "unacked_index", "unacked_mutex")


# --- our side ------------------------------------------------------------------------------------


class Service:
    """A long-running subprocess (the MX, a Celery worker) with its log in the temp folder."""

    def __init__(self, name: str, cmd: list[str], env: dict, tmp: Path, profile: str | None, idle: bool = False):
        self.name = name
        self.log_path = tmp / f"{name}.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        if profile:
            pyspy = which("py-spy") or os.environ.get("PY_SPY")
            if not pyspy:
                raise RuntimeError("--profile needs py-spy on PATH (pip install py-spy) or PY_SPY=/path/to/py-spy")
            out = Path(profile) / f"{name}.txt"
            cmd = [pyspy, "record", "--subprocesses", *(["--idle"] if idle else []), "--rate", "200",
                   "--format", "raw", "--output", str(out), "--", *cmd]  # fmt: skip
        self.proc = subprocess.Popen(  # noqa: S603
            cmd, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    @property
    def root_pid(self) -> int:
        """The Python process (under py-spy, its child)."""
        kids = [p for p in descendants(self.proc.pid) if p != self.proc.pid]
        name = Path(f"/proc/{self.proc.pid}/comm")
        with contextlib.suppress(OSError):
            if name.read_text().strip() == "py-spy" and kids:
                return min(kids)
        return self.proc.pid

    def tail(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-3000:]

    def stop(self, grace: float = 20) -> None:
        if self.proc.poll() is None:
            # Signal the Python process (py-spy then writes its profile when it exits).
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.root_pid, signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.log.close()


def start_ours(args, tmp: Path, env: dict, memory: MemorySampler) -> tuple[int, list[Service]]:
    port = free_port()
    services = []
    profile = str(Path(args.profile).resolve()) if args.profile else None
    mx_env = {**env, "SMTPD_REUSE_PORT": "1"} if args.mx_processes > 1 else env
    for i in range(args.mx_processes):
        name = "mx" if args.mx_processes == 1 else f"mx-{i}"
        cmd = [sys.executable, "manage.py", "runsmtpd", "--host", "127.0.0.1", "--port", str(port)]
        if args.mx_cprofile:
            out = Path(args.mx_cprofile).resolve()
            out = out if args.mx_processes == 1 else out.with_name(f"{out.stem}-{i}{out.suffix}")
            cmd[1:1] = [str(ROOT / "bench" / "mx_cprofile.py"), str(out)]
        services.append(Service(name, cmd, mx_env, tmp, profile, args.profile_idle))
    mxs = list(services)
    for i in range(args.workers):
        cmd = [
            sys.executable, "-m", "celery", "-A", "webmail", "worker", "-Q", "inbound,default",
            "--pool", "prefork", "--concurrency", str(args.concurrency), "--loglevel", "WARNING",
            "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"bench{i}@%h",
        ]  # fmt: skip
        services.append(Service(f"worker-{i}", cmd, env, tmp, profile, args.profile_idle))
    if not wait_for_port(port, 60, mxs[0].proc):
        raise RuntimeError(f"the MX did not start; its log:\n{mxs[0].tail()}")
    time.sleep(0.5 * (len(mxs) - 1))  # the others bind the same port a moment later
    for service in services:
        if service.proc.poll() is not None:
            raise RuntimeError(f"{service.name} exited at start; its log:\n{service.tail()}")
        memory.watch(service.name, service.proc.pid)
    return port, services


def processed_count(after_pk: int) -> int:
    from inbound.models import InboundMessage

    return InboundMessage.objects.filter(pk__gt=after_pk, status__in=DONE_STATUSES).count()


def wait_processed(args, after_pk: int, expected: int, deadline: float, services, progress=None) -> int:
    last_progress, done = time.monotonic(), 0
    while time.monotonic() < deadline:
        done = processed_count(after_pk)
        if done >= expected:
            return done
        for service in services:
            if service.proc.poll() is not None:
                raise RuntimeError(f"{service.name} exited early; its log:\n{service.tail()}")
        if progress and time.monotonic() - last_progress >= 10:
            last_progress = time.monotonic()
            progress(done)
        time.sleep(0.25)
    return done


def run_ours(args, tmp: Path, env: dict, results: dict, db_name: str = "") -> None:
    setup_database(args, env)
    from django.db import connection
    from django.db.models import Count

    from inbound.models import InboundMessage
    from mailboxes.models import MailboxChange, MailboxItem

    if args.broker.startswith("redis"):
        purge_redis(args.broker)
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    connection.close()
    memory = MemorySampler()
    services = []
    try:
        port, services = start_ours(args, tmp, env, memory)
        log(args, f"· MX on 127.0.0.1:{port}; {args.workers} worker(s) x {args.concurrency}; warming up …")
        if args.warmup:
            run_smtp_source(args, port, messages=args.warmup, rcpt_base=0)
            got = wait_processed(args, 0, args.warmup, time.monotonic() + 180, services)
            if got < args.warmup:
                logs = "\n".join(f"--- {s.name}\n{s.tail()}" for s in services)
                raise RuntimeError(f"warm-up: {got}/{args.warmup} processed in 180 s\n{logs}")
        warm_max = InboundMessage.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        connection.close()

        log(args, f"· smtp-source: {args.messages} messages of {args.size} bytes over {args.connections} sessions …")
        cpu = CpuMeter(
            {service.name: service.proc.pid for service in services},
            database=db_name or None,
            postgres=args.db == "postgres",
        )
        started_wall, accept_s = run_smtp_source(args, port)
        accepted = InboundMessage.objects.filter(pk__gt=warm_max).count()
        log(args, f"  accepted {accepted} in {accept_s:.1f} s: {accepted / accept_s:.0f}/s; waiting for placement …")

        def progress(done):
            log(args, f"  {time.time() - started_wall:6.0f} s: {done}/{accepted} processed")

        done = wait_processed(args, warm_max, accepted, time.monotonic() + args.timeout, services, progress)
        cpu_spent = cpu.spent()
        memory.sample()
        jobs = list(InboundMessage.objects.filter(pk__gt=warm_max).values_list("received_at", "processed_at", "status"))
        statuses = dict(
            InboundMessage.objects.filter(pk__gt=warm_max).values_list("status").annotate(n=Count("pk")).order_by()
        )
        finished = [(r, p) for r, p, _ in jobs if p is not None]
        lags = [(p - r).total_seconds() for r, p in finished]
        last_wall = max((p.timestamp() for _, p in finished), default=time.time())
        first_wall = min((r.timestamp() for r, _ in finished), default=started_wall)
        placed = MailboxItem.objects.filter(user__username__startswith="user").exclude(
            user__username=f"user0@{HOSTED_DOMAIN}"
        )
        placed_count = placed.count()
        folders = dict(placed.values_list("folder").annotate(n=Count("pk")).order_by())
        changes = MailboxChange.objects.exclude(user__username=f"user0@{HOSTED_DOMAIN}").count()
        visible_s = last_wall - started_wall
        backlog_after_accept = accepted - sum(1 for _, p in finished if p.timestamp() <= started_wall + accept_s)
        results["ours"] = {
            "port": port,
            "broker": args.broker or "filesystem:// (embedded file broker)",
            "db": args.db,
            "accepted": accepted,
            "refused_or_failed_at_smtp": args.messages - accepted,
            "accept_seconds": accept_s,
            "accepted_per_s": accepted / accept_s,
            "processed": done,
            "completed": done >= accepted,
            "statuses": statuses,
            "placed_items": placed_count,
            "folders": folders,
            "mailbox_changes": changes,
            "visible_seconds": visible_s,
            "visible_per_s": len(finished) / visible_s if visible_s > 0 else None,
            "first_received_offset_s": first_wall - started_wall,
            "backlog_when_sending_ended": backlog_after_accept,
            "drain_after_sending_s": max(0.0, last_wall - (started_wall + accept_s)),
            "lag_s": lag_summary(lags),
            # CPU per accepted message from the start of sending until all were visible (the poll
            # above counts too, in "postgres" and "machine"; the machine's total includes smtp-source).
            "cpu_ms_per_message": {
                "mx": 1000 * sum(v for n, v in cpu_spent.items() if n.startswith("mx")) / max(accepted, 1),
                "workers": 1000 * sum(v for n, v in cpu_spent.items() if n.startswith("worker")) / max(accepted, 1),
                "postgres": 1000 * cpu_spent.get("postgres", 0.0) / max(accepted, 1),
                "machine": 1000 * cpu_spent["machine"] / max(accepted, 1),
            },
        }
        connection.close()
    finally:
        for service in services:
            service.stop()
        memory.sample()
        memory.stop()
        results.setdefault("ours", {})["memory"] = {
            "mx_peak_rss_kib": memory.max_process("mx"),
            "worker_peak_rss_kib_per_process": memory.max_process("worker"),
            "worker_peak_rss_kib_all_processes": sum(
                v for n, v in memory.peak_tree_rss.items() if n.startswith("worker")
            ),
            "worker_processes": sum(len(d) for n, d in memory.peak_rss.items() if n.startswith("worker")),
        }
        errors = []
        for service in services:
            text = service.log_path.read_text(errors="replace") if service.log_path.exists() else ""
            count = len(re.findall(r"Traceback|ERROR", text))
            if count:
                errors.append(f"{service.name}: {count} error lines (log {service.log_path})")
        results["ours"]["log_errors"] = errors
    ours = results["ours"]
    if ours.get("completed") and ours["placed_items"] != ours["accepted"]:
        raise RuntimeError(
            f"placed {ours['placed_items']} of {ours['accepted']} accepted messages "
            f"(statuses {ours['statuses']}; logs in {tmp}, use --keep)"
        )
    if not ours.get("completed"):  # measured, but not everything was placed in time: say so, go on with the peer
        print(
            f"bench/inbound: only {ours.get('processed')} of {ours.get('accepted')} accepted messages were "
            f"processed within --timeout {args.timeout:.0f} s",
            file=sys.stderr,
        )


# --- Postfix -------------------------------------------------------------------------------------

POSTFIX_BINARIES = ("postfix", "smtp-source")
STACK_BINARIES = ("rspamd", "rspamc", "redis-server", "redis-cli", "dovecot")


def wait_idle(root: int, deadline: float, quiet: float = 1.0) -> float:
    """When a process tree stopped using CPU (Dovecot's indexer done): its CPU unchanged for ``quiet`` s."""
    last, since = tree_cpu_seconds(root), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = tree_cpu_seconds(root)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return since


def sample_headers(vmail: Path) -> str:
    """The headers rspamd added to one delivered message (to show what it checked)."""
    for path in sorted(vmail.glob("user1/Maildir/new/*"))[:1]:
        head = path.read_bytes().split(b"\n\n", 1)[0].decode(errors="replace")
        return "\n".join(
            line for line in head.replace("\n\t", " ").splitlines() if line.startswith(("X-Spam", "Authentication"))
        )
    return ""


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
virtual    unix  - n n -  - virtual
lmtp       unix  - - n -  - lmtp
anvil      unix  - - n -  1 anvil
scache     unix  - - n -  1 scache
postlog    unix-dgram n - n - 1 postlogd
"""


class Postfix:
    """A private Postfix instance (own config and queue folders) delivering bench.test into Maildirs."""

    QUEUES = ("maildrop", "incoming", "active", "deferred", "hold")

    def __init__(self, base: Path, users: int, extra: dict | None = None):
        self.base = base
        self.etc, self.spool, self.maillog = base / "etc", base / "queue", base / "maillog"
        self.vmail = base / "vmail"
        self.port = free_port()
        for path in (self.etc, self.spool, base / "data", self.vmail):
            path.mkdir(parents=True)
        shutil.chown(base / "data", "postfix")
        nobody = 65534
        with contextlib.suppress(KeyError):
            import pwd

            nobody = pwd.getpwnam("nobody").pw_uid
        os.chown(self.vmail, nobody, nobody)
        base.chmod(0o755)
        mailboxes = ", ".join(f"user{i}@{HOSTED_DOMAIN}=user{i}/Maildir/" for i in range(users + 1))
        settings = {
            "compatibility_level": "3.6",
            "queue_directory": self.spool,
            "data_directory": base / "data",
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": "postfix.bench.test",
            "mydomain": "bench.local",
            "mydestination": "",
            "local_recipient_maps": "",
            "alias_maps": "",
            "alias_database": "",
            "relayhost": "",
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "smtpd_peername_lookup": "no",
            "smtpd_tls_security_level": "none",
            "smtp_tls_security_level": "none",
            "virtual_mailbox_domains": HOSTED_DOMAIN,
            "virtual_mailbox_base": self.vmail,
            "virtual_mailbox_maps": f"inline:{{ {mailboxes} }}",
            "virtual_uid_maps": f"static:{nobody}",
            "virtual_gid_maps": f"static:{nobody}",
            "virtual_minimum_uid": "1",
            "maillog_file": self.maillog,
            "maillog_file_prefixes": base,
            "syslog_name": "postfix-bench",
            "biff": "no",
            "message_size_limit": "52428800",
            "virtual_mailbox_limit": "0",
            **(extra or {}),
        }
        (self.etc / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
        (self.etc / "master.cf").write_text(MASTER_CF.format(port=self.port))
        self.master_pid = 0
        self.peak_pss_kib = 0
        self.peak_processes = 0
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

    def delivered_files(self) -> int:
        count = 0
        with contextlib.suppress(FileNotFoundError):
            for user in os.scandir(self.vmail):
                with contextlib.suppress(FileNotFoundError):
                    count += sum(1 for _ in os.scandir(Path(user.path) / "Maildir" / "new"))
        return count

    def delays(self) -> list[float]:
        if not self.maillog.exists():
            return []
        text = self.maillog.read_text(errors="replace")
        return [float(d) for d in re.findall(r" relay=(?!none).*?delay=([\d.]+).*?status=sent", text)]

    def nobody(self) -> int:
        return self.vmail.stat().st_uid


def run_postfix(args, tmp: Path, results: dict, stack: bool = False, dns_nameserver: str = "") -> None:
    """Plain Postfix into Maildirs, or (``stack``) Postfix + rspamd milter + LMTP to Dovecot with fts."""
    key = "stack" if stack else "postfix"
    missing = [b for b in POSTFIX_BINARIES + (STACK_BINARIES if stack else ()) if not which(b)]
    if missing:
        print(
            f"bench/inbound: missing {', '.join(missing)}: the {key} peer is skipped.\n"
            "  Install with: DEBIAN_FRONTEND=noninteractive apt-get install -y postfix"
            + (" rspamd redis-server dovecot-lmtpd dovecot-fts-xapian" if stack else ""),
            file=sys.stderr,
        )
        results[f"{key}_skipped"] = f"missing {', '.join(missing)}"
        return
    if os.geteuid() != 0:
        print(f"bench/inbound: private Postfix/Dovecot/rspamd instances need root: the {key} peer is skipped.",
              file=sys.stderr)  # fmt: skip
        results[f"{key}_skipped"] = "not root"
        return
    base = tmp / key
    base.mkdir()
    base.chmod(0o755)
    helpers: dict = {}
    instance = None
    helpers_learned = ""
    try:
        extra = {}
        if stack:
            log(args, "· stack: smtp-source -> Postfix smtpd + rspamd milter -> queue -> LMTP -> Dovecot Maildir …")
            helpers["redis"] = Redis(base / "redis")
            helpers["rspamd"] = rspamd = Rspamd(
                base / "rspamd", dns=dns_nameserver, redis_port=helpers["redis"].port,
                hs_cache=Path(tempfile.gettempdir()) / "bench-inbound-rspamd-hs",
            )  # fmt: skip
            if args.bayes_train:
                from bench.spam_corpus import CorpusGenerator

                log(args, f"  training rspamd's Bayes with {args.bayes_train} ham + {args.bayes_train} spam …")
                corpus = CorpusGenerator(seed=7)
                rspamd.learn("ham", corpus.ham(args.bayes_train))
                rspamd.learn("spam", corpus.spam(args.bayes_train))
                learned = helpers["redis"].bayes_learns()
                helpers_learned = ", ".join(f"{name} {count}" for name, count in sorted(learned.items()))
                log(args, f"  rspamd learned: {helpers_learned or 'nothing?'} (it classifies from 200 each)")
            extra = {
                "smtpd_milters": f"inet:127.0.0.1:{rspamd.milter_port}",
                "milter_protocol": "6",
                "milter_default_action": "tempfail",
                "milter_mail_macros": "i {mail_addr} {client_addr} {client_name} {auth_authen}",
                "virtual_transport": "lmtp:inet:127.0.0.1:{lmtp_port}",
            }
        else:
            log(args, "· Postfix: smtp-source -> smtpd -> queue -> virtual(8) -> Maildir …")
        instance = Postfix(base / "postfix", args.users, extra)
        if stack:
            users = [f"user{i}@{HOSTED_DOMAIN}" for i in range(args.users + 1)]
            helpers["dovecot"] = Dovecot(
                base / "dovecot", users=users, vmail=instance.vmail, uid=instance.nobody(), fts=not args.no_fts
            )
            main_cf = instance.etc / "main.cf"
            main_cf.write_text(main_cf.read_text().replace("{lmtp_port}", str(helpers["dovecot"].port)))
        instance.start()
        roots = {"postfix": instance.master_pid} | {name: h.proc.pid for name, h in helpers.items()}
        if stack:
            warm = max(1, args.warmup)
            run_smtp_source(args, instance.port, messages=warm, rcpt_base=0)
            deadline = time.monotonic() + 120
            while instance.delivered_files() < warm and time.monotonic() < deadline:
                time.sleep(0.1)
        warm_files = instance.delivered_files()
        done_at = [None]

        def watch():
            while done_at[0] is None and time.monotonic() < deadline:
                if instance.delivered_files() - warm_files >= args.messages:
                    done_at[0] = time.monotonic()
                    return
                time.sleep(0.02)

        deadline = time.monotonic() + args.timeout
        started = time.monotonic()
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        cpu = CpuMeter(roots, postgres=False)
        machine_before = machine_cpu_seconds()
        _, accept_s = run_smtp_source(args, instance.port)
        watcher.join(max(0, deadline - time.monotonic()))
        indexed_s = wait_idle(helpers["dovecot"].proc.pid, deadline) - started if "dovecot" in helpers else None
        spent = cpu.spent()
        machine_cpu = machine_cpu_seconds() - machine_before
        delivered = instance.delivered_files() - warm_files
        delays = instance.delays()[len(instance.delays()) - delivered :] if delivered else []
        visible_s = (done_at[0] or time.monotonic()) - started
        results[key] = {
            "accept_seconds": accept_s,
            "accepted_per_s": args.messages / accept_s,
            "delivered_files": delivered,
            "visible_seconds": visible_s,
            "visible_per_s": delivered / visible_s,
            "completed": done_at[0] is not None,
            "lag_s": lag_summary(delays),
            "peak_pss_kib_all_processes": instance.peak_pss_kib,
            "peak_processes": instance.peak_processes,
            "machine_cpu_ms_per_message": 1000 * machine_cpu / args.messages,
            "cpu_ms_per_message": {name: 1000 * spent[name] / args.messages for name in roots},
        }
        if stack:
            results[key]["fts"] = helpers["dovecot"].fts
            results[key]["indexed_idle_after_s"] = indexed_s
            results[key]["disabled_rspamd_modules"] = list(DISABLED_MODULES)
            results[key]["bayes_learned"] = helpers_learned if args.bayes_train else "not trained"
            results[key]["rspamd_headers_sample"] = sample_headers(instance.vmail)
            results[key]["dovecot_errors"] = helpers["dovecot"].errors()
        if delivered < args.messages:
            raise RuntimeError(f"{key}: delivered {delivered}/{args.messages} into the Maildirs{instance._log_tail()}")
        fig = results[key]
        cpu_total = sum(fig["cpu_ms_per_message"].values())
        log(args, f"  accepted {fig['accepted_per_s']:.0f}/s, into Maildir {fig['visible_per_s']:.0f}/s, "
                  f"{cpu_total:.2f} ms CPU/msg")  # fmt: skip
    finally:
        if instance:
            instance.stop()
        for helper in reversed(list(helpers.values())):
            helper.stop()


# --- report --------------------------------------------------------------------------------------


def _fmt(value, spec=".0f", unit=""):
    return "-" if value is None else f"{value:{spec}}{unit}"


def _lags(lag: dict) -> str:
    return " ".join(_fmt(lag[p], "7.2f", "s") for p in ("p50", "p95", "p99"))


def print_table(args, results: dict) -> None:
    ours, peer = results.get("ours"), results.get("postfix")
    print()
    print(
        f"Inbound benchmark: {args.messages} messages, {args.size}-byte payload, {args.connections} SMTP sessions "
        f"({'connections reused' if args.reuse_connections else 'one connection per message'}), "
        f"{args.rcpt_users} recipient user(s); nproc {os.cpu_count()}"
    )
    if ours and "accept_seconds" in ours:
        print(
            f"ours: database {args.db}, broker {ours['broker']}, {args.mx_processes} MX process(es), "
            f"{args.workers} Celery worker(s) x "
            f"{args.concurrency} prefork; SMTPD_*_PER_MINUTE_PER_IP off"
        )
    print()
    print(f"{'':34} {'accepted/s':>10} {'visible/s':>10} {'p50 lag':>8} {'p95 lag':>8} {'p99 lag':>8}  peak memory")
    if ours and "accept_seconds" in ours:
        mem = ours["memory"]
        memory = (
            f"MX {mb(mem['mx_peak_rss_kib'])} RSS; workers max {mb(mem['worker_peak_rss_kib_per_process'])}/process, "
            f"{mb(mem['worker_peak_rss_kib_all_processes'])} in {mem['worker_processes']} processes"
        )
        print(
            f"{'ours: runsmtpd + inbound queue':34} {ours['accepted_per_s']:10.0f} "
            f"{_fmt(ours['visible_per_s'], '10.0f')} {_lags(ours['lag_s'])}  {memory}"
        )
    for key, label in (("stack", "Postfix+rspamd -> LMTP Dovecot"), ("postfix", "Postfix: smtpd + virtual(8) Maildir")):
        fig = results.get(key)
        if fig:
            memory = f"{mb(fig['peak_pss_kib_all_processes'])} PSS in {fig['peak_processes']} Postfix processes"
            print(
                f"{label:34} {fig['accepted_per_s']:10.0f} {fig['visible_per_s']:10.0f} {_lags(fig['lag_s'])}  {memory}"
            )
    if "stack_skipped" in results:
        print(f"stack peer skipped: {results['stack_skipped']}")
    if "postfix_skipped" in results:
        print(f"Postfix peer skipped: {results['postfix_skipped']}")
    if ours and "accept_seconds" in ours:
        print()
        if not ours["completed"]:
            print(
                f"ours: INCOMPLETE: {ours['processed']}/{ours['accepted']} processed when --timeout "
                f"({args.timeout:.0f} s) ran out; visible/s and lags are over the processed messages only "
                "(lags understated)"
            )
        print(
            f"ours: {ours['accepted']}/{args.messages} accepted in {ours['accept_seconds']:.1f} s; "
            f"{'all' if ours['completed'] else 'last'} visible after {ours['visible_seconds']:.1f} s "
            f"({ours['backlog_when_sending_ended']} still queued when sending ended, "
            f"{'drained' if ours['completed'] else 'not drained'} {ours['drain_after_sending_s']:.1f} s later); "
            f"statuses {ours['statuses']}, "
            f"folders {ours['folders']}"
        )
        cpu = ours["cpu_ms_per_message"]
        print(
            f"ours: CPU per message {cpu['mx']:.2f} ms MX, {cpu['workers']:.2f} ms workers, "
            f"{cpu['postgres']:.2f} ms PostgreSQL; whole machine {cpu['machine']:.2f} ms (with smtp-source)"
        )
        if ours.get("log_errors"):
            print("log errors: " + "; ".join(ours["log_errors"]))
    for key in ("stack", "postfix"):
        fig = results.get(key)
        if fig:
            parts = ", ".join(f"{v:.2f} ms {n}" for n, v in fig["cpu_ms_per_message"].items())
            print(
                f"{key}: CPU per message {sum(fig['cpu_ms_per_message'].values()):.2f} ms ({parts}); whole machine "
                f"{fig['machine_cpu_ms_per_message']:.2f} ms (with smtp-source)"
            )
    stack = results.get("stack")
    if stack:
        print(
            f"stack: Dovecot fts {'xapian, autoindex' if stack['fts'] else 'off'}"
            + (f" (indexer idle {stack['indexed_idle_after_s']:.1f} s after the start)" if stack["fts"] else "")
            + f"; rspamd Bayes learned: {stack['bayes_learned']}"
            + f"; modules off: {', '.join(stack['disabled_rspamd_modules'])}"
        )
        if stack["rspamd_headers_sample"]:
            verdict = stack["rspamd_headers_sample"].replace("\n", " | ")
            print(f"stack: rspamd's verdict on a delivered message: {verdict}")
    if ours and "accept_seconds" in ours:
        cpu = ours["cpu_ms_per_message"]
        total = cpu["mx"] + cpu["workers"] + cpu["postgres"]
        print(f"ours: CPU per message {total:.2f} ms (MX + workers + PostgreSQL, as above)")
        if stack:
            peer_cpu = sum(stack["cpu_ms_per_message"].values())
            print(
                f"target vs stack: visible/s {ours['visible_per_s'] or 0:.0f} vs {stack['visible_per_s']:.0f} "
                f"({'meets' if (ours['visible_per_s'] or 0) >= stack['visible_per_s'] else 'below'}); CPU/msg "
                f"{total:.2f} vs {peer_cpu:.2f} ms ({'meets' if total <= peer_cpu else 'more'})"
            )
    if ours and peer and "accept_seconds" in ours:
        for name in ("accepted_per_s", "visible_per_s"):
            a, b = ours[name] or 0, peer[name]
            label = name.replace("_per_s", "/s")
            print(f"target {label}: {a:.0f} vs Postfix {b:.0f} = {a / b:.2f}x ({'meets' if a >= b else 'below'})")
        p95 = ours["lag_s"]["p95"]
        verdict = "meets" if p95 is not None and p95 < 5 and ours["completed"] else "misses"
        print(f"target p95 lag < 5 s: {_fmt(p95, '.2f', ' s')} ({verdict})")


def _interrupted(signum, frame):
    raise KeyboardInterrupt


def orchestrate(args) -> int:
    become_subreaper()
    signal.signal(signal.SIGTERM, _interrupted)  # clean up (Postfix, workers, database) when stopped
    tmp = Path(tempfile.mkdtemp(prefix="bench-inbound-"))
    tmp.chmod(0o755)
    results: dict = {"args": vars(args), "machine": {"nproc": os.cpu_count(), "mem_total_kib": _mem_total_kib()}}
    dns = database = None
    status = 0
    if not which("smtp-source"):
        sys.exit(
            "bench/inbound: the load generator is Postfix's smtp-source: "
            "DEBIAN_FRONTEND=noninteractive apt-get install -y postfix"
        )
    try:
        log(args, f"· temporary folder {tmp}")
        if not args.postfix_only:
            dns = start_dns()
            database = ThrowawayDatabase(args, tmp, prefix="bench_inbound")
            env = django_env(args, tmp, database.url, dns.nameserver)
            run_ours(args, tmp, env, results, database.name)
            results["dns_queries"] = len(dns.resolver.queries)
        if not args.no_stack:
            dns = dns or start_dns()
            run_postfix(args, tmp, results, stack=True, dns_nameserver=dns.nameserver)
        if not args.no_postfix:
            run_postfix(args, tmp, results)
        if "ours" in results and not results["ours"].get("completed", True):
            status = 1
    except (RuntimeError, TimeoutError, subprocess.TimeoutExpired) as exc:
        print(f"bench/inbound: {exc}", file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        status = 130
    finally:
        _close_django()
        if dns:
            dns.stop()
        if database:
            with contextlib.suppress(Exception):
                database.drop()
        if args.broker.startswith("redis"):
            with contextlib.suppress(Exception, SystemExit):
                purge_redis(args.broker)
        reap_children()
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print_table(args, results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return status


def _mem_total_kib() -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    return 0


def _close_django() -> None:
    if "django.db" in sys.modules:
        from django.db import connections

        with contextlib.suppress(Exception):
            connections.close_all()


def main(argv=None) -> int:
    return orchestrate(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
