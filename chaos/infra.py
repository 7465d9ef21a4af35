"""The real processes a scenario runs and breaks: each starts, stops, and can be killed with SIGKILL.

Everything listens on 127.0.0.1 and lives under one temporary folder. Every
service is registered with a ``Stack``, which stops it (and removes the
folder) on the way out, whether the run ended, failed or was interrupted.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# Every sender quota off (0: no limit). A harness's few senders send far more than a person's quotas allow
# (docs/SENDER-LIMITS.md): the quotas would measure the harness, not the mail. Shared with bench/.
NO_SEND_LIMITS = dict.fromkeys(
    (
        "SEND_LIMIT_PER_MINUTE",
        "SEND_LIMIT_PER_HOUR",
        "SEND_LIMIT_PER_DAY",
        "SEND_LIMIT_RECIPIENTS_PER_DAY",
        "SEND_LIMIT_DOMAIN_PER_MINUTE",
        "SEND_LIMIT_DOMAIN_PER_HOUR",
        "SEND_LIMIT_DOMAIN_PER_DAY",
        "SEND_LIMIT_DOMAIN_RECIPIENTS_PER_DAY",
    ),
    "0",
)

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str, poll: float = 0.2) -> None:
    """Poll ``condition`` until it holds; a bounded wait that fails loudly, never a bare sleep."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting {timeout:.0f} s for {what}")
        time.sleep(poll)


class Service:
    """One long-running subprocess in its own process group, its output in ``<name>.log``."""

    def __init__(self, name: str, cmd: list[str], *, env: dict, folder: Path):
        self.name, self.cmd, self.env, self.folder = name, cmd, env, folder
        self.log_path = folder / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Service":
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child holds it; closed below
        self.proc = subprocess.Popen(  # noqa: S603 - our own command lines
            self.cmd, env=self.env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def finish(self, timeout: float = 60) -> None:
        """SIGTERM to the main process only, and wait for it to exit: a Celery worker's warm shutdown lets
        the task it runs end (its claim recorded) first; its pool children, signalled too, would stop mid-task."""
        if not self.running:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout)

    def kill9(self) -> None:
        """SIGKILL to the whole process group (a Celery worker's pool children too): no cleanup runs."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self, grace: float = 20) -> None:
        if not self.running:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.kill9()

    def tail(self, chars: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""


class Stack:
    """The run's temporary folder and everything started in it; ``close()`` undoes it all."""

    def __init__(self, *, keep: bool = False):
        self.folder = Path(tempfile.mkdtemp(prefix="chaos-"))
        self.folder.chmod(0o755)  # the PostgreSQL cluster runs as the postgres user inside it
        self.keep = keep
        self._cleanups: list[Callable[[], None]] = []

    def on_close(self, cleanup: Callable[[], None]) -> None:
        self._cleanups.append(cleanup)

    def service(self, name: str, cmd: list[str], *, env: dict, folder: Path | None = None) -> Service:
        service = Service(name, cmd, env=env, folder=folder or self.folder)
        self.on_close(service.stop)
        return service

    def close(self) -> None:
        while self._cleanups:
            cleanup = self._cleanups.pop()
            try:
                cleanup()
            except Exception as exc:  # one failed cleanup must not leave the rest running
                print(f"chaos: cleanup failed: {exc!r}", file=sys.stderr)
        if not self.keep:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _interrupted(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def exit_cleanly_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so every ``with Stack()`` stops its processes."""
    signal.signal(signal.SIGTERM, _interrupted)


# --- the servers ------------------------------------------------------------------------------


def _postgres_bin(name: str) -> str:
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    found = str(candidates[0]) if candidates else shutil.which(name)
    if not found:
        raise RuntimeError(f"chaos needs PostgreSQL's {name} (apt-get install postgresql)")
    return found


class PostgresCluster:
    """A private PostgreSQL cluster (initdb + pg_ctl) on its own port, never the shared server.

    As root, initdb refuses to run: the cluster then belongs to the ``postgres`` user.
    fsync is off: the scenarios stop the server cleanly or kill clients, never the machine.
    """

    def __init__(self, stack: Stack):
        self.port = free_port()
        self.data = stack.folder / "pgdata"
        self.socket_dir = stack.folder / "pgsocket"
        self.user = "postgres" if os.geteuid() == 0 else None
        self.log = stack.folder / "postgres.log"
        stack.on_close(lambda: self.stop(mode="immediate"))

    def _run(self, *cmd: str) -> None:
        full = ["runuser", "-u", self.user, "--", *cmd] if self.user else list(cmd)
        subprocess.run(full, check=True, capture_output=True, timeout=120)  # noqa: S603

    def init(self) -> "PostgresCluster":
        for folder in (self.data, self.socket_dir):
            folder.mkdir()
            if self.user:
                shutil.chown(folder, self.user, self.user)
        self.log.touch()
        if self.user:
            shutil.chown(self.log, self.user, self.user)
        self._run(_postgres_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        return self.start()

    def start(self) -> "PostgresCluster":
        options = (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=200 -c full_page_writes=off"
        )
        self._run(_postgres_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(_postgres_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


class RedisBroker:
    """``redis-server`` on a private port with no persistence: a stop loses what it held, as a crash would."""

    def __init__(self, stack: Stack):
        self.port = free_port()
        binary = shutil.which("redis-server")
        if not binary:
            raise RuntimeError("chaos needs redis-server (apt-get install redis-server)")
        cmd = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--dir", str(stack.folder)]  # fmt: skip
        self.service = stack.service("redis", cmd, env=dict(os.environ))

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisBroker":
        self.service.start()
        wait_until(lambda: port_open(self.port), timeout=30, what="redis-server")
        return self

    def stop(self) -> None:
        self.service.stop()


def django_env(*, database_url: str, broker_url: str, dns: str, smtp_port: int, folder: Path, **extra) -> dict:
    """The environment of every process of ours (the operator interface of docs/DESIGN.md)."""
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TZ", "PYTHONPATH"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        DJANGO_SETTINGS_MODULE="webmail.settings",
        DATABASE_URL=database_url,
        DATABASE_CONN_MAX_AGE="0",  # a restarted PostgreSQL must not leave workers on dead connections
        CELERY_BROKER_URL=broker_url,
        DNS_NAMESERVERS=dns,
        SMTP_DELIVERY_PORT=str(smtp_port),
        VAR_DIR=str(folder / "var"),
        MAILSTORE_DIR=str(folder / "mailstore"),
        SECRET_KEY="chaos-" + "x" * 50,
        DEBUG="false",
        ALLOWED_HOSTS="127.0.0.1",
        MAIL_HOSTNAME="mx.chaos.test",
        LOG_LEVEL="WARNING",
        # Every client is 127.0.0.1: per-client and per-token limits would only measure themselves.
        SMTPD_CONNECTIONS_PER_MINUTE_PER_IP="0",
        SMTPD_MESSAGES_PER_MINUTE_PER_IP="0",
        API_THROTTLE_TOKEN="1000000/min",  # noqa: S106 - a rate, not a secret
        API_THROTTLE_USER="1000000/min",
        # One API user sending thousands of messages to new addresses is the harness, not a hijack.
        REPUTATION_COMPROMISE_DETECTION="false",
        # Its domains have no DNS to publish an ownership token in (docs/DOMAINS.md); no quotas (NO_SEND_LIMITS).
        DOMAIN_VERIFICATION_REQUIRED="false",
        **NO_SEND_LIMITS,
        PYTHONUNBUFFERED="1",
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


def celery_worker(stack: Stack, name: str, env: dict, *, queues: str, concurrency: int = 2) -> Service:
    cmd = [PYTHON, "-m", "celery", "-A", "webmail", "worker", "-Q", queues, "--pool", "prefork",
           "--concurrency", str(concurrency), "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
           "--without-heartbeat", "-n", f"{name}@chaos"]  # fmt: skip
    return stack.service(name, cmd, env=env, folder=_scenario_folder(env))


def _scenario_folder(env: dict) -> Path:
    """Each scenario's processes log into its own folder (next to its var/)."""
    return Path(env["VAR_DIR"]).parent


def celery_beat(stack: Stack, env: dict) -> Service:
    schedule = Path(env["VAR_DIR"]) / "celerybeat-schedule"
    cmd = [PYTHON, "-m", "celery", "-A", "webmail", "beat", "--loglevel", "WARNING", "-s", str(schedule)]
    return stack.service("beat", cmd, env=env, folder=_scenario_folder(env))


def gunicorn(stack: Stack, env: dict, *, port: int, workers: int = 2) -> Service:
    cmd = [PYTHON, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "webmail.asgi:application",
           "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
           "--timeout", "60", "--graceful-timeout", "5"]  # fmt: skip
    return stack.service("gunicorn", cmd, env=env, folder=_scenario_folder(env))


def runsmtpd(stack: Stack, env: dict, *, port: int) -> Service:
    cmd = [PYTHON, "manage.py", "runsmtpd", "--host", "127.0.0.1", "--port", str(port)]
    return stack.service("mx", cmd, env=env, folder=_scenario_folder(env))


def start_and_wait_for_port(service: Service, port: int, timeout: float = 60) -> Service:
    service.start()

    def listening() -> bool:
        if not service.running:
            raise RuntimeError(f"{service.name} exited at start; its log:\n{service.tail()}")
        return port_open(port)

    wait_until(listening, timeout=timeout, what=f"{service.name} on port {port}")
    return service
