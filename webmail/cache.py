"""The shared cache: where every web, MX and worker process keeps its counters (sign-in and API limits).

``CACHE_URL`` picks the backend:

- unset or ``db://[table]``: a table in the project's database (``webmail_cache``; the
  ``accounts`` migrations create it). Shared by every process on the database, and its
  ``incr`` is one locked read-and-write (below), so concurrent failures are all counted;
- ``redis://host:port/db`` (or ``rediss://``): Django's Redis backend (with one connection
  pool per process, ``RedisCache`` below), for several hosts and high request rates;
  ``INCRBY`` is atomic;
- ``file:///absolute/path``: files in that folder, shared by the processes of one host, but
  Django's file backend increments by reading and rewriting the file, so concurrent
  failures can be counted once: a limit may let a few more attempts through;
- ``locmem://``: memory of one process: each process counts on its own (tests, one-process runs).
"""

import base64
import pickle
import threading
from urllib.parse import unquote, urlsplit

from django.core.cache.backends import db, redis
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router, transaction
from django.utils import timezone

DEFAULT_TABLE = "webmail_cache"
# Django culls a database cache past 300 entries, and an attacker who fills the cache could
# then erase the counters that limit them; a count on this many rows is still cheap.
DATABASE_MAX_ENTRIES = 100_000


def cache_from_url(url: str) -> dict:
    """A ``CACHES`` entry for ``CACHE_URL``; ImproperlyConfigured naming the variable when it is not one."""
    parts = urlsplit(url or "db://")
    if parts.scheme in ("redis", "rediss"):
        return {"BACKEND": "webmail.cache.RedisCache", "LOCATION": url}
    if parts.scheme in ("db", "database"):
        table = (parts.netloc + parts.path).strip("/") or DEFAULT_TABLE
        return {
            "BACKEND": "webmail.cache.DatabaseCache",
            "LOCATION": table,
            "OPTIONS": {"MAX_ENTRIES": DATABASE_MAX_ENTRIES},
        }
    if parts.scheme == "file" and not parts.netloc and parts.path.startswith("/"):
        return {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": unquote(parts.path)}
    if parts.scheme == "locmem":
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": parts.netloc or "webmail"}
    raise ImproperlyConfigured(
        f"CACHE_URL must be db://[table], redis://host:port/db, file:///absolute/folder or locmem://, got {url!r}"
    )


class DatabaseCache(db.DatabaseCache):
    """Django's database cache with an ``incr`` that two processes cannot interleave.

    Django's own is a ``get`` then a ``set``: two processes read 4 and both write 5, and
    the ``set`` also resets the entry's expiry. Here the row is locked first by a write
    that changes nothing (a row lock on PostgreSQL, the write lock on SQLite), which also
    returns the value where the database can, then rewritten with its expiry kept.
    """

    def incr(self, key, delta=1, version=None):
        key = self.make_and_validate_key(key, version=version)
        alias = router.db_for_write(self.cache_model_class)
        connection = connections[alias]
        quote = connection.ops.quote_name
        table, cache_key, value, expires = (quote(name) for name in (self._table, "cache_key", "value", "expires"))
        live = f"{cache_key} = %s AND {expires} >= %s"
        params = [key, connection.ops.adapt_datetimefield_value(timezone.now())]
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            if connection.features.can_return_columns_from_insert:  # PostgreSQL, SQLite >= 3.35: UPDATE … RETURNING
                lock = f"UPDATE {table} SET {expires} = {expires} WHERE {live} RETURNING {value}"  # noqa: S608
                cursor.execute(lock, params)
            else:
                cursor.execute(f"UPDATE {table} SET {expires} = {expires} WHERE {live}", params)  # noqa: S608
                cursor.execute(f"SELECT {value} FROM {table} WHERE {live}", params)  # noqa: S608
            row = cursor.fetchone()
            if row is None:
                raise ValueError(f"Key {key!r} not found.")
            stored = connection.ops.process_clob(row[0])
            new = pickle.loads(base64.b64decode(stored.encode())) + delta  # noqa: S301 - written by this cache
            encoded = base64.b64encode(pickle.dumps(new, self.pickle_protocol)).decode("latin1")
            cursor.execute(f"UPDATE {table} SET {value} = %s WHERE {cache_key} = %s", [encoded, key])  # noqa: S608
        return new


_REDIS_CLIENTS: dict = {}
_REDIS_CLIENTS_LOCK = threading.Lock()


class RedisCache(redis.RedisCache):
    """Django's Redis cache with one client, so one connection pool, per process and configuration.

    Django keeps a cache object per thread, each with a pool of its own, and under ASGI each
    request runs in a new thread: with Django's own class every request connected to Redis
    anew. redis-py's pools are thread-safe and start afresh in a forked child.
    """

    @property
    def _cache(self):
        key = (tuple(self._servers), repr(sorted(self._options.items())))
        client = _REDIS_CLIENTS.get(key)
        if client is None:
            with _REDIS_CLIENTS_LOCK:
                client = _REDIS_CLIENTS.setdefault(key, self._class(self._servers, **self._options))
        return client
