"""The shared cache: CACHE_URL, counters that every process sees, and an incr that keeps the expiry."""

import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
import redis
from django.core.cache import CacheHandler
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from core import ratelimit
from webmail.cache import DEFAULT_TABLE, DatabaseCache, cache_from_url

REDIS_URL = "redis://127.0.0.1:6379/0"
ROOT = Path(__file__).resolve().parent.parent

# One web process: counts four failures for alice in a fixed window, then says whether the limit of 8 is reached.
FOUR_FAILURES = (
    "import django; django.setup(); from core import ratelimit; "
    "limit, now = ratelimit.Limit('signin', 8, 900), 9000.0; "
    "ratelimit.count_failure([(limit, 'alice')], now=now); ratelimit.count_failure([(limit, 'alice')], now=now); "
    "ratelimit.count_failure([(limit, 'alice')], now=now); ratelimit.count_failure([(limit, 'alice')], now=now); "
    "print('exceeded' if ratelimit.exceeded([(limit, 'alice')], now=now) else 'under')"
)


def test_cache_url_picks_the_backend():
    assert cache_from_url("")["BACKEND"] == "webmail.cache.DatabaseCache"
    assert cache_from_url("")["LOCATION"] == DEFAULT_TABLE
    assert cache_from_url("db://limits")["LOCATION"] == "limits"
    assert cache_from_url(REDIS_URL)["BACKEND"] == "webmail.cache.RedisCache"
    assert cache_from_url("file:///srv/cache")["LOCATION"] == "/srv/cache"
    assert cache_from_url("locmem://")["BACKEND"].endswith("LocMemCache")


@pytest.mark.parametrize("url", ["memcached://127.0.0.1", "file://relative/folder", "redis"])
def test_a_cache_url_that_is_not_one_names_the_variable(url):
    with pytest.raises(ImproperlyConfigured, match="CACHE_URL"):
        cache_from_url(url)


def test_deploy_checks_warn_about_a_cache_of_one_process(settings):
    from django.core.checks import run_checks

    settings.CACHES = {"default": cache_from_url("locmem://")}
    assert "webmail.W003" in {message.id for message in run_checks(include_deployment_checks=True)}
    settings.CACHES = {"default": cache_from_url("")}
    assert "webmail.W003" not in {message.id for message in run_checks(include_deployment_checks=True)}


SETUP = "import django; django.setup(); from django.core.cache import cache"
# Increments one counter 1000 times as fast as it can, from one process: two at once lose
# hundreds of counts with Django's own database-cache incr (a get, then a set).
INCREMENTS = f"{SETUP}\nfor _ in range(1000): cache.incr('n')"


@pytest.fixture
def embedded_defaults(tmp_path):
    """Runs Python in a new process configured like a fresh clone (a SQLite file, no CACHE_URL)."""
    env = {k: v for k, v in os.environ.items() if k not in ("CACHE_URL", "DATABASE_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="webmail.settings",
        VAR_DIR=str(tmp_path / "var"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'webmail.sqlite3'}",
    )

    def start(*args):
        return subprocess.Popen(  # noqa: S603 - our own interpreter and fixed scripts
            [sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def run(*args):
        process = start(*args)
        out, err = process.communicate()
        assert process.returncode == 0, err
        return out.strip()

    run("manage.py", "createcachetable")
    return start, run


def test_two_processes_on_the_embedded_defaults_share_one_count(embedded_defaults):
    _start, run = embedded_defaults
    assert run("-c", FOUR_FAILURES) == "under"
    assert run("-c", FOUR_FAILURES) == "exceeded"


def test_concurrent_increments_from_two_processes_are_all_counted(embedded_defaults):
    start, run = embedded_defaults
    run("-c", f"{SETUP}; cache.set('n', 0, 3600)")
    processes = [start("-c", INCREMENTS), start("-c", INCREMENTS)]
    for process in processes:
        _out, err = process.communicate()
        assert process.returncode == 0, err
    assert run("-c", f"{SETUP}; print(cache.get('n'))") == "2000"


def _database_cache():
    return DatabaseCache(DEFAULT_TABLE, {})


def _redis_cache(prefix):
    return RedisCache(REDIS_URL, {"KEY_PREFIX": prefix})


@pytest.fixture
def redis_prefix():
    """A prefix of this test's own: other engineers' and CI's runs share the server."""
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    prefix = f"test-{uuid.uuid4().hex}"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)  # never flush the shared database: delete only our keys
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


@pytest.fixture(params=["database", "redis"])
def two_processes(request, db):
    """Two cache clients on one store, as two web processes have."""
    if request.param == "database":
        return _database_cache(), _database_cache()
    prefix = request.getfixturevalue("redis_prefix")
    return _redis_cache(prefix), _redis_cache(prefix)


def test_failures_counted_by_one_process_are_seen_by_another(two_processes, monkeypatch):
    first, second = two_processes
    limit = ratelimit.Limit("test", max_failures=8, window=900)
    for client_cache in (first, second) * 4:
        monkeypatch.setattr(ratelimit, "cache", client_cache)
        assert ratelimit.exceeded([(limit, "alice")], now=1000.0) is None
        ratelimit.count_failure([(limit, "alice")], now=1000.0)
    for client_cache in (first, second):
        monkeypatch.setattr(ratelimit, "cache", client_cache)
        assert ratelimit.exceeded([(limit, "alice")], now=1000.0) == limit
        assert ratelimit.exceeded([(limit, "bob")], now=1000.0) is None


def test_a_count_starts_again_in_the_next_window(db):
    limit = ratelimit.Limit("test", max_failures=1, window=900)
    ratelimit.count_failure([(limit, "alice")], now=1799.0)
    assert ratelimit.exceeded([(limit, "alice")], now=1799.0) == limit
    assert ratelimit.exceeded([(limit, "alice")], now=1800.0) is None
    assert limit.retry_after(1799.0) == 1


def test_database_incr_counts_and_keeps_the_expiry(db):
    cache = _database_cache()
    cache.add("counter", 0, timeout=5000)

    def expires():
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT expires FROM {DEFAULT_TABLE} WHERE cache_key = %s", [cache.make_key("counter")])  # noqa: S608
            return cursor.fetchone()[0]

    before = expires()
    assert [cache.incr("counter") for _ in range(3)] == [1, 2, 3]
    assert cache.get("counter") == 3
    assert expires() == before  # Django's own incr rewrites it with the default timeout (300 s)
    with pytest.raises(ValueError):
        cache.incr("missing")


def test_request_counts_are_shared_and_slide_across_windows(two_processes, monkeypatch):
    """The API's throttles: two processes count into one window; the previous window weighs by what is left of it."""
    first, second = two_processes
    counts = []
    for client_cache in (first, second) * 3:
        monkeypatch.setattr(ratelimit, "cache", client_cache)
        counts.append(ratelimit.count_request("throttle_user_1", limit=6, window=60, now=6000.0).current)
    assert counts == [1, 2, 3, 4, 5, 6]
    ratelimit.uncount_request("throttle_user_1", window=60, now=6000.0)  # a refused request gives its count back
    for _ in range(2):  # a quarter into the next window: 5 * 0.75 + 1 or 2 is within the limit, however read
        assert ratelimit.count_request("throttle_user_1", limit=6, window=60, now=6075.0).estimate <= 6
    hits = ratelimit.count_request("throttle_user_1", limit=6, window=60, now=6075.0)
    assert (hits.current, hits.previous) == (3, 5)
    assert hits.estimate == 5 * 0.75 + 3
    monkeypatch.setattr(ratelimit, "cache", first)
    assert ratelimit.count_request("throttle_user_2", limit=6, window=60, now=6000.0).current == 1  # another key


def test_a_request_count_is_one_round_trip_on_redis(redis_prefix, monkeypatch):
    monkeypatch.setattr(ratelimit, "cache", _redis_cache(redis_prefix))
    ratelimit.count_request("throttle_token_7", limit=10, window=60, now=6000.0)  # connects
    sent = []
    original = redis.connection.AbstractConnection.send_packed_command

    def send(self, command, *args, **kwargs):
        sent.append(command)
        return original(self, command, *args, **kwargs)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", send)
    hits = ratelimit.count_request("throttle_token_7", limit=10, window=60, now=6001.0)
    assert hits.current == 2
    assert len(sent) == 1


def test_redis_connections_are_shared_by_the_threads_of_a_process(redis_prefix):
    """Under ASGI each request runs in a new thread, with a cache object of its own: not a pool of its own."""
    handler = CacheHandler({"default": {"BACKEND": cache_from_url(REDIS_URL)["BACKEND"], "LOCATION": REDIS_URL,
                                        "KEY_PREFIX": redis_prefix}})  # fmt: skip
    seen = []

    def request():
        cache = handler["default"]
        cache.set("key", 1)
        seen.append((cache, cache._cache._get_connection_pool(True)))

    for _ in range(2):
        thread = threading.Thread(target=request)
        thread.start()
        thread.join()
    (first_cache, first_pool), (second_cache, second_pool) = seen
    assert first_cache is not second_cache
    assert first_pool is second_pool
