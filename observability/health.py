"""Readiness checks: can this process reach what it needs to serve (database, broker, storage, search)?

``/readyz`` runs them for a load balancer and ``manage.py doctor`` reuses them. Each check
runs in its own thread and is given ``HEALTH_CHECK_TIMEOUT_SECONDS``: a database or broker
that hangs (a dropped packet, not a refusal) fails its check in bounded time instead of
holding the load balancer's probe. Errors are reported by kind and message, with any
credentials in URLs blanked out: the endpoint is public.
"""

import copy
import math
import os
import re
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import connections
from django.db.utils import load_backend

from webmail.celery import app as celery_app

# The probe files the storage check writes (and deletes at once).
PROBE_FOLDER = ".health"
_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")
ERROR_MAX_CHARS = 300


@dataclass
class CheckResult:
    name: str  # "database", "database:replica", "broker", "storage:mailstore", "search"
    ok: bool
    seconds: float
    error: str = ""

    def to_json(self) -> dict:
        return {**asdict(self), "seconds": round(self.seconds, 4)}


class CheckFailed(Exception):
    """A check's own verdict (as opposed to an exception of the component it asked)."""


def describe_error(exc: BaseException) -> str:
    """``Kind: message``, short, with ``user:password@`` of any URL in it removed."""
    text = f"{exc.__class__.__name__}: {exc}".strip().rstrip(":")
    text = _CREDENTIALS.sub("***@", " ".join(text.split()))
    return text[:ERROR_MAX_CHARS]


# --- the checks: each raises when its part is not usable ------------------------------------


def check_database(alias: str, timeout: float) -> None:
    """A new connection to ``alias`` answers ``SELECT 1``; it is the probe's own, closed after.

    Not the thread's shared connection: a probe must not reuse (or break) a request's, and a
    fresh connection is what a restarted worker would need. PostgreSQL is told to give up
    connecting after ``timeout`` (its minimum is 2 s) as well.
    """
    settings_dict = copy.deepcopy(connections.settings[alias])
    if settings_dict["ENGINE"] == "django.db.backends.postgresql":
        settings_dict["OPTIONS"] = {**settings_dict.get("OPTIONS", {}), "connect_timeout": max(math.ceil(timeout), 2)}
    probe = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, alias=f"readiness-probe:{alias}")
    try:
        with probe.cursor() as cursor:
            cursor.execute("SELECT 1")
            if cursor.fetchone()[0] != 1:
                raise CheckFailed("SELECT 1 did not answer 1")
    finally:
        probe.close()


def check_broker(timeout: float) -> None:
    """The Celery broker accepts a connection (one retry, no back-off); the file broker's folder is writable."""
    with celery_app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
        if celery_app.conf.broker_url.startswith("filesystem:"):
            # kombu's file transport "connects" to nothing: what can fail is writing into its folder.
            folder = connection.transport_options.get("data_folder_out")
            if folder and not os.access(folder, os.W_OK | os.X_OK):
                raise CheckFailed(f"the broker folder {folder} is not writable")


def check_storage(alias: str) -> None:
    """A small file can be written to, read from and deleted from the storage ``alias``."""
    storage = storages[alias]
    name = storage.save(f"{PROBE_FOLDER}/{uuid.uuid4().hex}", ContentFile(b"ok"))
    try:
        with storage.open(name) as handle:
            if handle.read() != b"ok":
                raise CheckFailed("the probe file read back different bytes")
    finally:
        storage.delete(name)


def search_configured() -> bool:
    return "elasticsearch" in settings.SEARCH_BACKENDS["default"]["BACKEND"].lower()


def check_search(timeout: float) -> None:
    """The Elasticsearch cluster answers (only asked when one is configured)."""
    from mailboxes.search.backends import get_search_backend

    backend = get_search_backend()
    client = backend.client.options(request_timeout=timeout, max_retries=0)
    health = client.cluster.health(timeout=f"{max(int(timeout), 1)}s")
    if health.get("status") == "red":
        raise CheckFailed("the cluster status is red")


def readiness_checks(timeout: float) -> dict[str, Callable[[], None]]:
    """What ``/readyz`` asks, by name: every configured database, the broker, the storages, and search."""
    checks: dict[str, Callable[[], None]] = {}
    for alias in connections:
        name = "database" if alias == "default" else f"database:{alias}"
        checks[name] = lambda alias=alias: check_database(alias, timeout)
    checks["broker"] = lambda: check_broker(timeout)
    for alias in settings.HEALTH_STORAGES:
        checks[f"storage:{alias}"] = lambda alias=alias: check_storage(alias)
    if search_configured():
        checks["search"] = lambda: check_search(timeout)
    return checks


def _timed(name: str, check: Callable[[], None]) -> CheckResult:
    started = time.monotonic()
    try:
        check()
    except CheckFailed as exc:
        return CheckResult(name, False, time.monotonic() - started, str(exc))
    except Exception as exc:  # whatever a component raises is the reason it is not ready
        return CheckResult(name, False, time.monotonic() - started, describe_error(exc))
    return CheckResult(name, True, time.monotonic() - started)


def run_checks(checks: dict[str, Callable[[], None]], *, timeout: float) -> list[CheckResult]:
    """Run the checks side by side; one not done within ``timeout`` fails as timed out (its thread is left to end)."""
    executor = ThreadPoolExecutor(max_workers=max(len(checks), 1), thread_name_prefix="readiness")
    try:
        futures = {name: executor.submit(_timed, name, check) for name, check in checks.items()}
        deadline = time.monotonic() + timeout
        results = []
        for name, future in futures.items():
            try:
                results.append(future.result(timeout=max(deadline - time.monotonic(), 0)))
            except FutureTimeout:
                results.append(CheckResult(name, False, timeout, f"no answer within {timeout:g} s"))
        return results
    finally:
        executor.shutdown(wait=False, cancel_futures=True)


def readiness() -> list[CheckResult]:
    timeout = settings.HEALTH_CHECK_TIMEOUT_SECONDS
    return run_checks(readiness_checks(timeout), timeout=timeout)
