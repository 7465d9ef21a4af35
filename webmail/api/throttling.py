"""Request rates per user, per API token, and per client address for unauthenticated requests.

Rates are read from ``settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` at
each request (DRF reads them once, at import), so tests and operators can change them.
Counts live in Django's default cache: with several web processes, configure a shared cache.
"""

from django.conf import settings
from rest_framework import throttling

from accounts.models import ApiToken
from webmail.clients import client_address


class _SettingsRate:
    def get_rate(self):
        return settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}).get(self.scope)


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
