"""Request rates per user, per API token, and per client address for unauthenticated requests.

Rates are read from ``settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` at
each request (DRF reads them once, at import), so tests and operators can change them.
Counts live in Django's default cache: with several web processes, configure a shared cache.

DRF's own throttles keep a list of timestamps per key, read and rewritten at every request (with
the database cache, six statements per throttle). These count in a sliding window estimated from
two fixed ones (``core.ratelimit.count_request``): one round trip per throttle on Redis, an
``incr`` elsewhere.
"""

import math

from django.conf import settings
from rest_framework import throttling

from accounts.models import ApiToken
from core import ratelimit
from webmail.clients import client_address


class _SettingsRate:
    def get_rate(self):
        return settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}).get(self.scope)

    def timer(self):
        return ratelimit.clock()  # tests move it

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        hits = ratelimit.count_request(self.key, limit=self.num_requests, window=self.duration, now=self.now)
        if hits.estimate <= self.num_requests:
            return True
        ratelimit.uncount_request(self.key, window=self.duration, now=self.now)
        self.hits = ratelimit.Hits(hits.current - 1, hits.previous, hits.fraction)
        return False

    def wait(self):
        """Seconds until one more request fits, if no other comes in the meantime."""
        room, hits = self.num_requests - 1, self.hits
        # Later in this window the previous one weighs less; past it, this one's requests do.
        later = 1 - (room - hits.current) / hits.previous if hits.current <= room else 2 - room / hits.current
        return max(1, math.ceil((later - hits.fraction) * self.duration))


class UserThrottle(_SettingsRate, throttling.SimpleRateThrottle):
    """Every request of one user, whether by session or by any of their tokens."""

    scope = "user"

    def get_cache_key(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class TokenThrottle(_SettingsRate, throttling.SimpleRateThrottle):
    """Every request made with one API token."""

    scope = "token"

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, ApiToken):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}


class AnonThrottle(_SettingsRate, throttling.AnonRateThrottle):
    """Requests without credentials, per client address (the same address the sign-in limit counts)."""

    scope = "anon"

    def get_ident(self, request):
        # DRF's own get_ident believes X-Forwarded-For (NUM_PROXIES unset): a new value per request
        # would be a new budget per request.
        return client_address(request)
