"""Counting failures (wrong passwords, wrong API tokens) in fixed time windows, in the shared cache.

A count lives under a key made of the limit's name, what is counted (hashed: addresses
and client addresses never appear in the cache as they are) and the number of the
window the clock is in, so a new window starts from zero without relying on the
cache's expiry, and tests move the clock by patching ``clock``. The entry expires a
window later, only to free the space.
"""

import contextlib
import hashlib
import time
from dataclasses import dataclass

from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache
from django.utils.connection import ConnectionProxy


def clock() -> float:
    return time.time()


@dataclass(frozen=True)
class Limit:
    name: str
    max_failures: int
    window: int  # seconds

    def key(self, ident: str, now: float) -> str:
        digest = hashlib.sha256(ident.encode()).hexdigest()[:32]
        return f"ratelimit:{self.name}:{digest}:{int(now // self.window)}"

    def retry_after(self, now: float) -> int:
        """Seconds until the current window ends."""
        return max(1, int(self.window - now % self.window))


def exceeded(checks: list[tuple[Limit, str]], *, now: float) -> Limit | None:
    """The first limit whose count has reached its maximum, reading all of them at once."""
    keys = [limit.key(ident, now) for limit, ident in checks]
    counts = cache.get_many(keys)
    for (limit, _ident), key in zip(checks, keys, strict=True):
        if (counts.get(key) or 0) >= limit.max_failures:
            return limit
    return None


def count_failure(checks: list[tuple[Limit, str]], *, now: float) -> None:
    for limit, ident in checks:
        key = limit.key(ident, now)
        cache.add(key, 0, timeout=2 * limit.window)
        try:
            cache.incr(key)
        except ValueError:  # culled or expired between the add and the incr
            cache.add(key, 1, timeout=2 * limit.window)


# --- request rates (the API's throttles) ------------------------------------------------------
#
# A sliding window estimated from two fixed ones: the requests of the current window plus those of
# the previous one weighted by how much of it the sliding window still covers. It needs one counter
# per window (one round trip on Redis) where a log of timestamps (DRF's own throttles) is a read and
# a rewrite of a list per request; a burst across the boundary of two windows is still counted.


@dataclass(frozen=True)
class Hits:
    current: int  # requests counted in the clock's window, this one included
    previous: int  # in the window before (0 when it cannot matter, see count_request)
    fraction: float  # how far into its window the clock is, 0 to 1

    @property
    def estimate(self) -> float:
        return self.previous * (1 - self.fraction) + self.current


def count_request(key: str, *, limit: int, window: int, now: float) -> Hits:
    """Counts one request under ``key``; the counts that say whether it is within ``limit`` per ``window``.

    One round trip on Redis (INCR, EXPIRE and GET in one pipeline). Elsewhere an ``incr`` (an ``add``
    for a window's first request), and a read of the previous window only when it can matter: it
    holds at most ``limit`` requests (refused ones are taken back), weighted by ``1 - fraction``.
    """
    index, fraction = int(now // window), (now % window) / window
    current, previous = f"{key}:{index}", f"{key}:{index - 1}"
    client = _redis_client()
    if client is not None:
        pipe = client.pipeline(transaction=False)
        pipe.incr(cache.make_and_validate_key(current))
        pipe.expire(cache.make_and_validate_key(current), 2 * window)
        pipe.get(cache.make_and_validate_key(previous))
        count, _, before = pipe.execute()
        return Hits(count, int(before or 0), fraction)
    try:
        count = cache.incr(current)
    except ValueError:  # the window's first request (or its entry was culled)
        count = 1 if cache.add(current, 1, timeout=2 * window) else cache.incr(current)
    needed = count + limit * (1 - fraction) > limit
    return Hits(count, (cache.get(previous) or 0) if needed else 0, fraction)


def uncount_request(key: str, *, window: int, now: float) -> None:
    """Takes back the request ``count_request`` just counted: a refused request uses no budget."""
    current = f"{key}:{int(now // window)}"
    client = _redis_client()
    if client is not None:
        client.decr(cache.make_and_validate_key(current))
        return
    with contextlib.suppress(ValueError):  # expired in between: nothing to take back
        cache.decr(current)


def _redis_client():
    """The client of the default cache when it is Redis: a pipeline there is one round trip."""
    backend = cache._connections[cache._alias] if isinstance(cache, ConnectionProxy) else cache
    if isinstance(backend, RedisCache):
        return backend._cache.get_client(write=True)  # Django's own client object, as its incr uses
    return None
