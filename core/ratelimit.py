"""Counting failures (wrong passwords, wrong API tokens) in fixed time windows, in the shared cache.

A count lives under a key made of the limit's name, what is counted (hashed: addresses
and client addresses never appear in the cache as they are) and the number of the
window the clock is in, so a new window starts from zero without relying on the
cache's expiry, and tests move the clock by patching ``clock``. The entry expires a
window later, only to free the space.
"""

import hashlib
import time
from dataclasses import dataclass

from django.core.cache import cache


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
