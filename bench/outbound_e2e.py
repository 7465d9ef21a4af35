"""``bench/outbound.py --end-to-end``: sending through the REST API while the product delivers, beside Postfix live.

The product runs as in production, each part in its own processes, all at once:

- gunicorn with the product's settings (``deploy/gunicorn.conf.py``: uvicorn's worker class,
  ``webmail.asgi:application``), ``--web-workers`` workers;
- ``celery worker -Q transactional`` (prefork, ``--workers`` processes) on a real broker
  (RabbitMQ by default, ``--broker redis://…`` for Redis);
- ``--clients`` keep-alive HTTP clients (threads, ``http.client``) POST ``/api/emails/send`` with
  each sender's API token, the same messages as the other modes (``message_plan``).

Timed from the first request to the last recipient accepted by the sink; the submission rate is
first request to last response. With ``--floor`` the clients POST the same requests to a no-op
endpoint the bench adds to each web worker (authenticated and throttled like the API, it parses
the body and answers): the CPU per request of HTTP submission before any mail work. Then a
private Postfix relays the same load live (``smtp-source`` -> smtpd -> relay to the same sink),
in the same run.

The bench's queues on the shared broker are named ``outbench_<queue>`` (the product's
``transactional`` is mapped onto ``outbench_transactional`` in every process of the run) and
deleted at the end. This module is also what those processes load: ``celery -A
bench.outbound_e2e:app`` and the gunicorn hooks (``install_hooks``).
"""

import contextlib
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUEUE_PREFIX = "outbench_"
DEFAULT_BROKER = "amqp://guest:guest@127.0.0.1:5672//"
WARMUP_PER_WORKER = 4  # messages each web worker serves before the clock starts (imports, connections)


# --- hooks run inside the product's processes ---------------------------------------------------


def prefix_queues(celery_app) -> None:
    """Map the product's queue names onto ``outbench_*`` queues (and exchanges) on the shared broker."""
    from kombu import Exchange, Queue

    from mailboxes.models import Recipient

    queues = celery_app.amqp.queues
    for name in Recipient.Queue.values:
        real = QUEUE_PREFIX + name
        queues[name] = Queue(real, Exchange(real, type="direct"), routing_key=real)


def __getattr__(name):  # ``celery -A bench.outbound_e2e:app``: the product's app, its queues prefixed
    if name == "app":
        import django

        django.setup()
        from celery import signals

        from webmail.celery import app

        prefix_queues(app)
        signals.worker_ready.connect(_worker_ready, weak=False)
        if os.environ.get("BENCH_PROFILE_DIR"):
            signals.task_prerun.connect(lambda **kw: _profiling_due() and _start_profile(), weak=False)
            signals.worker_process_shutdown.connect(lambda **kw: _dump_profile("celery"), weak=False)
        return app
    raise AttributeError(name)


def _worker_ready(sender=None, **kwargs) -> None:
    Path(os.environ["BENCH_READY_DIR"], f"celery-{os.getpid()}").touch()


_PROFILES: list = []
_POOL: list = []  # the web worker's profiles not in use by a thread now
_POOL_LOCK = threading.Lock()
_NESTED = threading.local()
_STARTED = False


def _profiling_due() -> bool:
    """True once, in each process, when the timed phase has begun (the orchestrator's flag file)."""
    global _STARTED
    if _STARTED or not Path(os.environ["BENCH_PROFILE_DIR"], ".timed").exists():
        return False
    _STARTED = True
    return True


def _new_profile():
    import cProfile

    # Each thread's own CPU clock by default: on a shared machine wall time is mostly waiting for a core.
    clock = time.perf_counter if os.environ.get("BENCH_PROFILE_CLOCK") == "wall" else time.thread_time
    profile = cProfile.Profile(clock)
    _PROFILES.append(profile)
    return profile


def _start_profile():
    _new_profile().enable()
    return True


def _dump_profile(kind: str) -> None:
    import pstats

    if not _PROFILES:
        return
    for profile in _PROFILES:
        profile.disable()
    stats = pstats.Stats(_PROFILES[0])
    for profile in _PROFILES[1:]:
        stats.add(profile)
    stats.dump_stats(str(Path(os.environ["BENCH_PROFILE_DIR"]) / f"{kind}-{os.getpid()}.pstats"))
    _PROFILES.clear()


def _profile_web_worker() -> None:
    """cProfile sees one thread: the sync code Django's ASGI handler runs in other threads is profiled
    around each call (a pool of profiles, one per call at a time), and the event loop's thread from
    the timed phase on."""
    from asgiref.sync import SyncToAsync

    original = SyncToAsync.thread_handler

    def thread_handler(self, loop, *args, **kwargs):
        if _profiling_due():
            loop.call_soon_threadsafe(_start_profile)  # the event loop's thread (uvicorn, h11, async Django)
        if not _STARTED or getattr(_NESTED, "active", False):  # a call nested in a profiled one is in it
            return original(self, loop, *args, **kwargs)
        _NESTED.active = True
        with _POOL_LOCK:  # Django runs each request's sync code in a new thread: reuse the idle profiles
            profile = _POOL.pop() if _POOL else _new_profile()
        profile.enable()
        try:
            return original(self, loop, *args, **kwargs)
        finally:
            profile.disable()
            _NESTED.active = False
            with _POOL_LOCK:
                _POOL.append(profile)

    SyncToAsync.thread_handler = thread_handler


FLOOR_PATH = "/api/bench/noop"


def _add_floor_endpoint() -> None:
    """``POST /api/bench/noop`` in this web worker: the API's authentication, permission and throttles
    (DRF's defaults, as every API view), the JSON body parsed, a 202 answer; no mail work."""
    from django.urls import clear_url_caches, path
    from rest_framework import status
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from webmail import urls

    class Noop(APIView):
        def post(self, request):
            return Response({"to": len(request.data.get("to", []))}, status=status.HTTP_202_ACCEPTED)

    urls.urlpatterns.insert(0, path(FLOOR_PATH.lstrip("/"), Noop.as_view()))
    clear_url_caches()


def web_worker_started(worker) -> None:
    """gunicorn ``post_worker_init``: after the app is loaded, before the worker serves."""
    from webmail.celery import app

    prefix_queues(app)
    if os.environ.get("BENCH_FLOOR"):
        _add_floor_endpoint()
    if os.environ.get("BENCH_PROFILE_DIR"):
        import signal

        # uvicorn re-raises the SIGTERM it handled once it has shut down; with the default handler
        # the worker would die there, before gunicorn's worker_exit hook writes the profile.
        signal.signal(signal.SIGTERM, lambda signum, frame: None)
        _profile_web_worker()


def web_worker_exiting(server, worker) -> None:
    if os.environ.get("BENCH_PROFILE_DIR"):
        _dump_profile("web")


GUNICORN_CONF = """\
# The product's gunicorn settings, plus the bench's hooks (queue names; profiles with --profile).
exec(compile(open({product!r}).read(), {product!r}, "exec"))


def post_worker_init(worker):
    from bench.outbound_e2e import web_worker_started

    web_worker_started(worker)


def worker_exit(server, worker):
    from bench.outbound_e2e import web_worker_exiting

    web_worker_exiting(server, worker)
"""


# --- CPU accounting ------------------------------------------------------------------------------


def tree_cpu_seconds(root: int) -> float:
    """CPU used by ``root`` and its live descendants, plus what the children they reaped had used."""
    from bench.outbound import postfix_cpu_seconds

    return postfix_cpu_seconds(root)


class BackendCPU:
    """CPU of the PostgreSQL backends serving our database, sampled twice a second (a lower bound:
    what a backend used between its last sample and its exit is missed)."""

    def __init__(self, database: str):
        self.database = database
        self.seen: dict[int, int] = {}
        self.base: dict[int, int] = {}
        self.running = bool(database)
        if self.running:
            threading.Thread(target=self._loop, daemon=True).start()

    def _sample(self) -> dict[int, int]:
        found = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError, ValueError, IndexError):
                cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes().replace(b"\0", b" ").split()
                if len(cmdline) < 4 or cmdline[0] != b"postgres:" or cmdline[3].decode() != self.database:
                    continue
                fields = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()
                found[int(entry.name)] = int(fields[11]) + int(fields[12])
        return found

    def _loop(self) -> None:
        while self.running:
            self.seen.update(self._sample())
            time.sleep(0.5)

    def mark(self) -> None:
        self.seen.update(self._sample())
        self.base = dict(self.seen)

    def seconds(self) -> float:
        self.seen.update(self._sample())
        ticks = sum(t - self.base.get(pid, 0) for pid, t in self.seen.items())
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.running = False


# --- the clients ---------------------------------------------------------------------------------


class Clients:
    """``count`` threads, each with one keep-alive connection, POSTing the planned messages in turn."""

    def __init__(self, port: int, count: int, tokens: list[str], path: str = "/api/emails/send"):
        self.port, self.count, self.tokens, self.path = port, count, tokens, path
        self.lock = threading.Lock()

    def run(self, args, indexes: list[int]) -> dict:
        from bench.outbound import message_plan

        todo = iter(indexes)
        timings: list[tuple[float, float]] = []
        errors: list[str] = []

        def client():
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            while True:
                with self.lock:
                    index = next(todo, None)
                if index is None:
                    break
                sender, recipients, subject, body = message_plan(args, index)
                payload = json.dumps({"to": recipients, "subject": subject, "body": body}).encode()
                headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.tokens[sender]}"}
                started = time.monotonic()
                try:
                    conn.request("POST", self.path, payload, headers)
                    response = conn.getresponse()
                    answer = response.read()
                    status = response.status
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    status, answer = 0, repr(exc).encode()
                finished = time.monotonic()
                with self.lock:
                    timings.append((started, finished))
                    if status != 202:
                        errors.append(f"{status} {answer[:300]!r}")
            conn.close()

        threads = [threading.Thread(target=client, daemon=True) for _ in range(self.count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return {"timings": timings, "errors": errors}


# --- the run -------------------------------------------------------------------------------------


def start_gunicorn(args, env: dict, tmp: Path) -> tuple[subprocess.Popen, int]:
    from bench.outbound import free_port

    port = free_port()
    conf = tmp / "gunicorn.conf.py"
    text = GUNICORN_CONF.format(product=str(ROOT / "deploy" / "gunicorn.conf.py"))
    if args.profile:
        text += "\n# Writing the profiles takes a while on a busy machine.\ngraceful_timeout = 120\n"
    conf.write_text(text)
    cmd = [
        str(Path(sys.executable).parent / "gunicorn"), "-c", str(conf), "-w", str(args.web_workers),
        "-b", f"127.0.0.1:{port}", "--backlog", "2048", "webmail.asgi:application",
    ]  # fmt: skip
    log = open(tmp / "gunicorn.log", "wb")  # noqa: SIM115 - the child holds it
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=log)  # noqa: S603
    if not wait_for_http(port, 60):
        raise RuntimeError(f"gunicorn did not come up: {(tmp / 'gunicorn.log').read_text()[-3000:]}")
    return proc, port


def start_celery(args, env: dict, tmp: Path) -> subprocess.Popen:
    cmd = [
        str(Path(sys.executable).parent / "celery"), "-A", "bench.outbound_e2e:app", "worker",
        "-Q", "transactional", "-c", str(args.workers), "--pool", "prefork", "-n", "outbench@%h",
        "--without-mingle", "--without-gossip", "--without-heartbeat", "--loglevel", "WARNING",
    ]  # fmt: skip
    log = open(tmp / "celery.log", "wb")  # noqa: SIM115 - the child holds it
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=log)  # noqa: S603
    deadline = time.monotonic() + 90
    while not any(Path(env["BENCH_READY_DIR"]).glob("celery-*")):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the Celery worker did not start: {(tmp / 'celery.log').read_text()[-3000:]}")
        time.sleep(0.1)
    return proc


def wait_for_http(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/emails/drafts")
            conn.getresponse().read()
            conn.close()
            return True
        time.sleep(0.2)
    return False


def stop(proc: subprocess.Popen | None, timeout: float = 150) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def delete_queues() -> None:
    from webmail.celery import app

    with contextlib.suppress(Exception), app.connection_for_write() as connection:
        channel = connection.default_channel
        for queue in app.amqp.queues.values():
            if queue.name.startswith(QUEUE_PREFIX):
                with contextlib.suppress(Exception):
                    queue(channel).delete()
                    if queue.exchange.name.startswith(QUEUE_PREFIX):
                        queue.exchange(channel).delete()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def run_end_to_end(args, tmp: Path, env: dict, sink, results: dict, database_name: str) -> None:
    from bench.outbound import SENDER_DOMAIN, log, other_load_mark, other_load_since, setup_database

    env = dict(env)
    env.update(
        CELERY_BROKER_URL=args.broker,
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        BENCH_READY_DIR=str(tmp / "ready"),
        API_THROTTLE_USER="1000000000/min",
        API_THROTTLE_TOKEN="1000000000/min",  # noqa: S106 - a rate, not a secret
    )
    if args.cache_url:
        env["CACHE_URL"] = args.cache_url
    if args.floor:
        env["BENCH_FLOOR"] = "1"
    (tmp / "ready").mkdir()
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
        env["BENCH_PROFILE_DIR"] = str(Path(args.profile).resolve())
        Path(args.profile, ".timed").unlink(missing_ok=True)
        env["BENCH_PROFILE_CLOCK"] = args.profile_clock
    os.environ.update(env)
    import django

    django.setup()
    from webmail.celery import app

    prefix_queues(app)  # before setup_database declares the delivery queues
    setup = setup_database(args, env)
    from django.db import connection
    from django.db.models import Count

    from accounts.models import User
    from accounts.services import create_api_token
    from mailboxes.models import Message, Recipient

    senders = [User.objects.get(email=f"sender{i}@{SENDER_DOMAIN}") for i in range(args.senders)]
    tokens = [create_api_token(user=user, name="bench")[1] for user in senders]
    with app.connection_for_write() as conn:
        for queue in app.amqp.queues.values():
            if queue.name.startswith(QUEUE_PREFIX):
                queue(conn.default_channel).purge()
    connection.close()

    gunicorn = celery = None
    backends = BackendCPU(database_name)
    try:
        log(args, f"· gunicorn ({args.web_workers} uvicorn workers), Celery ({args.workers} processes), {args.broker}")
        # Django under ASGI runs each request's sync code in a new thread, with a new connection: kept
        # for CONN_MAX_AGE, they pile up until PostgreSQL refuses more ("too many clients"). Django's
        # documentation: "When using ASGI, persistent connections should be disabled."
        # webmail/asgi.py sets the web's DATABASE_CONN_MAX_AGE to 0 whatever this says; with
        # --web-pool (the default, as in production) the web workers borrow from a pool instead.
        web_env = {
            **env,
            "DATABASE_CONN_MAX_AGE": str(args.web_conn_max_age),
            "DATABASE_POOL": "true" if args.web_pool else "false",
        }
        gunicorn, port = start_gunicorn(args, web_env, tmp)
        celery = None if args.floor else start_celery(args, env, tmp)
        clients = Clients(port, args.clients, tokens, path=FLOOR_PATH if args.floor else "/api/emails/send")
        warmup = list(range(args.messages, args.messages + WARMUP_PER_WORKER * args.web_workers))
        log(args, f"· warming up with {len(warmup)} messages …")
        before = sink.count
        warm = clients.run(args, warmup)
        if warm["errors"]:
            raise RuntimeError(f"warm-up requests failed: {warm['errors'][:3]}")
        if not args.floor and not sink.wait_for(before + len(warmup) * args.recipients, 120):
            raise RuntimeError(f"warm-up not delivered: {sink.count - before} transactions (logs in {tmp})")
        time.sleep(1)  # the last warm-up task finishes its bookkeeping after the sink's answer

        expected = 0 if args.floor else args.messages * args.recipients
        log(args, f"· {args.clients} clients send {args.messages} messages through the API; workers deliver meanwhile")
        before, sessions_before = sink.count, sink.sessions
        cpu_before = {"web": tree_cpu_seconds(gunicorn.pid), "celery": celery and tree_cpu_seconds(celery.pid) or 0.0}
        client_cpu_before = _own_cpu()
        backends.mark()
        if args.profile:
            Path(env["BENCH_PROFILE_DIR"], ".timed").touch()  # the processes start their profiles
        load_mark = other_load_mark()
        started = time.monotonic()
        done: dict = {}
        timed = list(range(args.messages))
        sender = threading.Thread(target=lambda: done.update(clients.run(args, timed)), daemon=True)
        sender.start()
        deadline = started + args.timeout
        last_progress = started
        while (sink.count - before < expected or (args.floor and sender.is_alive())) and time.monotonic() < deadline:
            if not sender.is_alive() and done.get("errors"):
                break  # some messages were refused: they will never reach the sink
            if time.monotonic() - last_progress >= 10:
                last_progress = time.monotonic()
                log(args, f"  {last_progress - started:5.0f} s: {sink.count - before}/{expected} at the sink")
            time.sleep(0.01)
        finished = time.monotonic()
        sender.join()
        cpu_after = {"web": tree_cpu_seconds(gunicorn.pid), "celery": celery and tree_cpu_seconds(celery.pid) or 0.0}
        client_cpu = _own_cpu() - client_cpu_before
        backend_cpu = backends.seconds()
        timings = done["timings"]
        first, last_response = min(t[0] for t in timings), max(t[1] for t in timings)
        latencies = [1000 * (end - begin) for begin, end in timings]
        delivered = sink.count - before
        time.sleep(1)
        statuses = dict(Recipient.objects.values_list("status").annotate(n=Count("pk")).order_by())
        results["ours_end_to_end"] = {
            "messages": args.messages,
            "recipients": expected,
            "clients": args.clients,
            "web_workers": args.web_workers,
            "celery_processes": args.workers,
            "broker": args.broker.split("@")[-1],
            "cache": args.cache_url or "database (the default)",
            "web_conn_max_age": args.web_conn_max_age,
            "web_pool": args.web_pool,
            "floor": args.floor,
            "seconds": finished - first,
            "submission_seconds": last_response - first,
            "sink_transactions": delivered,
            "completed": delivered >= expected,
            "errors": len(done["errors"]),
            "error_samples": done["errors"][:5],
            "api_ms": {
                "p50": statistics.median(latencies),
                "p95": percentile(latencies, 0.95),
                "p99": percentile(latencies, 0.99),
                "max": max(latencies),
                "mean": statistics.fmean(latencies),
            },
            "cpu_s": {
                "web": cpu_after["web"] - cpu_before["web"],
                "celery": cpu_after["celery"] - cpu_before["celery"],
                "postgres_backends": backend_cpu,
                "clients": client_cpu,
            },
            "other_load_cores": other_load_since(load_mark),
            "recipient_statuses": statuses,
            "message_statuses": dict(Message.objects.values_list("status").annotate(n=Count("pk")).order_by()),
            "sink_sessions": sink.sessions - sessions_before,
            "loadavg": Path("/proc/loadavg").read_text().split()[:3],
            **setup,
        }
        connection.close()
        if delivered < expected:
            raise RuntimeError(
                f"only {delivered}/{expected} recipients reached the sink: {statuses}, "
                f"errors {done['errors'][:3]} (logs in {tmp})"
            )
        rate = args.messages / (finished - first)
        log(args, f"  {rate:.0f} messages/s end to end; API p95 {percentile(latencies, 0.95):.0f} ms")
    finally:
        backends.stop()
        stop(gunicorn)  # graceful: the workers write their profiles
        stop(celery)
        delete_queues()


def _own_cpu() -> float:
    usage = os.times()
    return usage.user + usage.system


def print_end_to_end(args, results: dict) -> None:
    n, r = args.messages, args.recipients
    ours, peer = results.get("ours_end_to_end"), results.get("postfix_live")
    print()
    size = ours["avg_message_bytes"] if ours and "avg_message_bytes" in ours else args.size
    print(
        f"End-to-end outbound benchmark: {n} messages x {r} recipients on {args.domains} domains, ~{size} bytes, "
        f"DKIM-signed; nproc {os.cpu_count()}; database {args.db}"
    )
    if ours:
        print(
            f"ours: {args.clients} keep-alive API clients -> gunicorn ({args.web_workers} uvicorn workers) -> "
            f"{ours['broker']} -> Celery ({args.workers} prefork processes) -> sink; cache: {ours['cache']}; "
            f"web database connections: {'a pool per worker' if ours.get('web_pool') else 'a new one per request'}"
        )
        if ours.get("floor"):
            print(f"FLOOR: the requests went to {FLOOR_PATH} (authenticated, throttled, no mail work); no delivery")
        if not ours["completed"]:
            print(f"INCOMPLETE: {ours['sink_transactions']}/{ours['recipients']} recipients reached the sink")
    print()
    print(f"{'':44} {'seconds':>8} {'msg/s':>8} {'rcpt/s':>8}  CPU ms/msg")
    if ours:
        cpu = ours["cpu_s"]
        ours_cpu = cpu["web"] + cpu["celery"] + cpu["postgres_backends"]
        detail = (
            f"{1000 * ours_cpu / n:.2f} (web {1000 * cpu['web'] / n:.2f} + celery {1000 * cpu['celery'] / n:.2f}"
            f" + PostgreSQL >= {1000 * cpu['postgres_backends'] / n:.2f}; clients {1000 * cpu['clients'] / n:.2f})"
        )
        s, sub = ours["seconds"], ours["submission_seconds"]
        label = (
            "floor: API no-op (first request to last)"
            if ours.get("floor")
            else "ours: API -> delivered (first request to last)"
        )
        print(f"{label:44} {s:8.1f} {n / s:8.0f} {n * r / s:8.0f}  {detail}")
        print(f"{'ours: API submission (first to last response)':44} {sub:8.1f} {n / sub:8.0f} {n * r / sub:8.0f}")
    if peer:
        s = peer["seconds"]
        cpu = peer.get("cpu_s")
        detail = f"{1000 * cpu / n:.2f} (all Postfix processes; smtp-source not counted)" if cpu is not None else ""
        print(f"{'Postfix live: smtp-source -> Postfix -> sink':44} {s:8.1f} {n / s:8.0f} {n * r / s:8.0f}  {detail}")
    if ours:
        api = ours["api_ms"]
        print()
        print(
            f"API response ms: p50 {api['p50']:.1f}, p95 {api['p95']:.1f}, p99 {api['p99']:.1f}, max {api['max']:.1f}"
            f"; errors {ours['errors']}" + (f" e.g. {ours['error_samples'][0]}" if ours["error_samples"] else "")
        )
        print(
            f"load average at the end {' '.join(ours['loadavg'])}; other processes used "
            f"{ours['other_load_cores'] or 0:.2f} cores during our phase"
            + (f", {peer['other_load_cores'] or 0:.2f} during Postfix's" if peer else "")
        )
    if "postfix_skipped" in results:
        print(f"Postfix peer skipped: {results['postfix_skipped']}")
    if ours and peer:
        mine, theirs = n / ours["seconds"], n / peer["seconds"]
        p95 = ours["api_ms"]["p95"]
        print(
            f"end to end vs Postfix live: {mine:.0f} / {theirs:.0f} msg/s = {mine / theirs:.2f}x "
            f"(target 1.0x: {'met' if mine >= theirs else 'not met'}); API p95 {p95:.0f} ms "
            f"(target < 50 ms: {'met' if p95 < 50 else 'not met'})"
        )
