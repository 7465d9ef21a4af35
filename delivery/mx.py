"""Where mail for a domain goes: MX lookup with the RFC 5321 and RFC 7505 rules, cached.

- MX records, lowest preference first, equal preferences shuffled (RFC 5321 §5.1);
- no MX but the name exists: the domain itself is the implicit MX (its A/AAAA);
- a single MX of "." is a null MX: the domain accepts no mail (RFC 7505);
- NXDOMAIN is permanent; SERVFAIL and timeouts are temporary.
"""

import random
import threading
import time
from dataclasses import dataclass

import dns.exception
import dns.resolver

from core.dns import get_resolver

CACHE_MAX_TTL = 300
CACHE_NEGATIVE_TTL = 60
CACHE_MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class MXHost:
    preference: int
    host: str


class DNSError(Exception):
    """A lookup that failed; ``permanent`` failures bounce, the others defer."""

    def __init__(self, message: str, *, enhanced_status: str, permanent: bool):
        super().__init__(message)
        self.enhanced_status = enhanced_status
        self.permanent = permanent


_cache: dict[tuple[str, str], tuple[float, object]] = {}
_cache_lock = threading.Lock()


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _cached(key: tuple[str, str], lookup):
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
    if hit and hit[0] > now:
        value = hit[1]
        if isinstance(value, DNSError):
            raise value
        return value
    try:
        value, ttl = lookup()
    except DNSError as exc:
        if exc.permanent:  # temporary failures are not remembered: the next try asks again
            _store(key, exc, CACHE_NEGATIVE_TTL)
        raise
    _store(key, value, min(ttl, CACHE_MAX_TTL))
    return value


def _store(key, value, ttl: float) -> None:
    with _cache_lock:
        if len(_cache) >= CACHE_MAX_ENTRIES:
            _cache.clear()
        _cache[key] = (time.monotonic() + ttl, value)


def _query(name: str, rdtype: str):
    """The answer, or None for "the name exists but has no such record"."""
    try:
        return get_resolver().resolve(name, rdtype, search=False)
    except dns.resolver.NoAnswer:
        return None
    except dns.resolver.NXDOMAIN as exc:
        raise DNSError(f"{name} does not exist (NXDOMAIN)", enhanced_status="5.1.2", permanent=True) from exc
    except (dns.resolver.NoNameservers, dns.exception.Timeout, dns.resolver.LifetimeTimeout) as exc:
        raise DNSError(
            f"DNS lookup of {name} {rdtype} failed: {exc}", enhanced_status="4.4.3", permanent=False
        ) from exc
    except dns.exception.DNSException as exc:
        raise DNSError(
            f"DNS lookup of {name} {rdtype} failed: {exc}", enhanced_status="4.4.3", permanent=False
        ) from exc


def resolve_mx(domain: str) -> list[MXHost]:
    """Hosts to try for ``domain``, in order. Raises ``DNSError``."""
    return list(_cached(("MX", domain.lower()), lambda: _lookup_mx(domain.lower())))


def _lookup_mx(domain: str) -> tuple[list[MXHost], float]:
    answer = _query(domain, "MX")
    if answer is None:
        return [MXHost(0, domain)], CACHE_NEGATIVE_TTL
    records = [MXHost(r.preference, r.exchange.to_text(omit_final_dot=True).lower()) for r in answer]
    if len(records) == 1 and records[0].host in ("", "."):
        raise DNSError(f"{domain} accepts no mail (null MX, RFC 7505)", enhanced_status="5.1.10", permanent=True)
    records = [r for r in records if r.host not in ("", ".")]
    random.shuffle(records)  # then a stable sort keeps equal preferences in random order
    records.sort(key=lambda r: r.preference)
    return records, answer.rrset.ttl


def resolve_addresses(host: str) -> list[str]:
    """IPv4 and IPv6 addresses of an MX host (IPv4 first); [] when it has none."""

    def lookup():
        addresses, ttl = [], CACHE_MAX_TTL
        for rdtype in ("A", "AAAA"):
            try:
                answer = _query(host, rdtype)
            except DNSError as exc:
                if exc.permanent:
                    return [], CACHE_NEGATIVE_TTL
                raise
            if answer is not None:
                addresses += [r.address for r in answer]
                ttl = min(ttl, answer.rrset.ttl)
        return addresses, ttl

    return list(_cached(("ADDR", host.lower()), lookup))
