"""Limits on failed sign-ins that an attacker cannot turn against the owner of the address.

Failures are counted in the shared cache (core/ratelimit.py), in three ways:

- per address and client address (``SIGNIN_MAX_FAILURES``): guessing one password from one place;
- per client address, whatever the address (``SIGNIN_CLIENT_MAX_FAILURES``): one place trying many users;
- per address from everywhere (``SIGNIN_ADDRESS_MAX_FAILURES``, far higher): many places guessing one.

A browser that once signed in to an address carries a signed "known device" cookie naming
that address. It is held only to its own count (``SIGNIN_MAX_FAILURES`` per device and
address): failures from other clients, even enough to close the address to everyone else,
never keep the owner out on a browser they have used before.
"""

import hashlib
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core import signing

from core import ratelimit
from webmail.clients import client_address

KNOWN_DEVICE_COOKIE = "wm_known_device"
_KNOWN_DEVICE_SALT = "accounts.signin.known-device"
_ADDRESSES_PER_DEVICE = 10  # a shared family computer; the oldest is forgotten first


def _normalised(address: str) -> str:
    return (address or "").strip().lower()


def _address_digest(address: str) -> str:
    return hashlib.sha256(_normalised(address).encode()).hexdigest()[:32]


def _known_device(request) -> dict:
    """The cookie's device id and address digests; empty when absent, forged or too old."""
    try:
        data = signing.loads(
            request.COOKIES.get(KNOWN_DEVICE_COOKIE, ""),
            salt=_KNOWN_DEVICE_SALT,
            max_age=settings.SIGNIN_KNOWN_DEVICE_DAYS * 86400,
        )
        return {"d": str(data["d"]), "a": [str(digest) for digest in data["a"]]}
    except (signing.BadSignature, KeyError, TypeError):
        return {}


def _limit(name: str, max_failures: int) -> ratelimit.Limit:
    return ratelimit.Limit(name, max_failures, settings.SIGNIN_THROTTLE_WINDOW)


@dataclass(frozen=True)
class SignInAttempt:
    address: str
    client: str
    device: str | None  # the known device's id, when it has signed in to this address before

    @classmethod
    def of(cls, request, address: str) -> "SignInAttempt":
        known = _known_device(request)
        device = known["d"] if _address_digest(address) in known.get("a", []) else None
        return cls(address=_normalised(address), client=client_address(request), device=device)

    def _limits(self) -> list[tuple[ratelimit.Limit, str]]:
        if self.device:
            return [(_limit("signin-device", settings.SIGNIN_MAX_FAILURES), f"{self.device} {self.address}")]
        return [
            (_limit("signin-client-address", settings.SIGNIN_MAX_FAILURES), f"{self.client} {self.address}"),
            (_limit("signin-client", settings.SIGNIN_CLIENT_MAX_FAILURES), self.client),
            (_limit("signin-address", settings.SIGNIN_ADDRESS_MAX_FAILURES), self.address),
        ]

    def is_throttled(self) -> bool:
        return ratelimit.exceeded(self._limits(), now=ratelimit.clock()) is not None

    def retry_after(self) -> int:
        """Seconds until a throttled attempt may try again (0 when it is not throttled)."""
        now = ratelimit.clock()
        limit = ratelimit.exceeded(self._limits(), now=now)
        return limit.retry_after(now) if limit is not None else 0

    def record_failure(self) -> None:
        counted = self._limits()
        if self.device:  # still one of the address's failures, for the limit everyone else meets
            counted.append((_limit("signin-address", settings.SIGNIN_ADDRESS_MAX_FAILURES), self.address))
        ratelimit.count_failure(counted, now=ratelimit.clock())


def remember_device(request, response, address: str) -> None:
    """After a successful sign-in: this browser is now a known device for ``address``."""
    known = _known_device(request)
    digest = _address_digest(address)
    addresses = [d for d in known.get("a", []) if d != digest][-(_ADDRESSES_PER_DEVICE - 1) :] + [digest]
    value = signing.dumps({"d": known.get("d") or secrets.token_urlsafe(16), "a": addresses}, salt=_KNOWN_DEVICE_SALT)
    response.set_cookie(
        KNOWN_DEVICE_COOKIE,
        value,
        max_age=settings.SIGNIN_KNOWN_DEVICE_DAYS * 86400,
        path=settings.SESSION_COOKIE_PATH,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
