"""Which mailbox provider a destination is: Gmail, Microsoft, Yahoo, Apple or another.

Reputation figures and delivery shaping are kept per provider because the
providers judge (and throttle) senders as a whole, over every domain they
host: mail to a company on Google Workspace counts with Gmail. The provider is
recognised by the destination's MX host names, and for the big consumer
domains by the domain name alone (no lookup needed).

``provider_for_mx_hosts`` and ``provider_for_domain_name`` are pure;
``provider_for_domain`` may ask the DNS for the domain's MX (cached);
``cached_provider`` never does (the delivery engine's claim uses it, and the
SMTP transport ``remember_provider``s what the MX it resolved said).
"""

import threading
import time
from enum import StrEnum

import dns.exception
import dns.resolver

from core.dns import get_resolver
from core.simulator import is_simulator_domain


class Provider(StrEnum):
    GMAIL = "gmail"
    MICROSOFT = "microsoft"
    YAHOO = "yahoo"
    APPLE = "apple"
    OTHER = "other"


PROVIDER_LABELS = {
    Provider.GMAIL: "Gmail / Google Workspace",
    Provider.MICROSOFT: "Microsoft (Outlook.com, Microsoft 365)",
    Provider.YAHOO: "Yahoo / AOL",
    Provider.APPLE: "Apple (iCloud)",
    Provider.OTHER: "Other providers",
}

# MX host name suffixes (lower-case, no trailing dot) of each provider's inbound servers.
MX_SUFFIXES: dict[Provider, tuple[str, ...]] = {
    Provider.GMAIL: (".google.com", ".googlemail.com", "smtp.google.com"),
    Provider.MICROSOFT: (".outlook.com", ".protection.outlook.com", ".hotmail.com", ".msn.com", ".outlook.cn"),
    Provider.YAHOO: (".yahoodns.net", ".yahoo.com", ".aol.com", ".yahoo.co.jp"),
    Provider.APPLE: (".icloud.com", ".me.com", ".mac.com"),
}

# Consumer domains recognised without a lookup.
DOMAINS: dict[str, Provider] = {
    **dict.fromkeys(("gmail.com", "googlemail.com"), Provider.GMAIL),
    **dict.fromkeys(
        (
            "outlook.com",
            "hotmail.com",
            "live.com",
            "msn.com",
            "hotmail.co.uk",
            "hotmail.fr",
            "live.co.uk",
            "outlook.fr",
            "outlook.de",
            "hotmail.de",
            "hotmail.it",
            "hotmail.es",
            "passport.com",
        ),
        Provider.MICROSOFT,
    ),  # fmt: skip
    **dict.fromkeys(
        (
            "yahoo.com",
            "ymail.com",
            "rocketmail.com",
            "aol.com",
            "yahoo.co.uk",
            "yahoo.fr",
            "yahoo.de",
            "yahoo.co.jp",
            "aim.com",
            "verizon.net",
        ),
        Provider.YAHOO,
    ),  # fmt: skip
    **dict.fromkeys(("icloud.com", "me.com", "mac.com"), Provider.APPLE),
}


def provider_for_mx_hosts(hosts) -> Provider:
    """The provider whose servers these MX hosts are (the first recognised one), else OTHER."""
    for host in hosts:
        name = str(host).lower().rstrip(".")
        for provider, suffixes in MX_SUFFIXES.items():
            if any(name.endswith(suffix) or name == suffix.lstrip(".") for suffix in suffixes):
                return provider
    return Provider.OTHER


def provider_for_domain_name(domain: str) -> Provider | None:
    """The provider of a well-known consumer domain, or None (the MX decides)."""
    return DOMAINS.get(domain.lower().rstrip("."))


CACHE_SECONDS = 3600
_cache: dict[str, tuple[float, Provider]] = {}
_cache_lock = threading.Lock()


def provider_for_domain(domain: str, *, mx_hosts=None) -> Provider:
    """The provider that receives mail for ``domain``: by name, by the MX hosts given, or by an MX lookup.

    A failed lookup answers OTHER and is not remembered (the next call asks again).
    """
    domain = domain.lower().rstrip(".")
    if is_simulator_domain(domain):  # the mailbox simulator: no MX to look up, no provider behind it
        return Provider.OTHER
    known = provider_for_domain_name(domain)
    if known is not None:
        return known
    if mx_hosts is not None:
        return provider_for_mx_hosts(mx_hosts)
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(domain)
    if hit and hit[0] > now:
        return hit[1]
    try:
        answer = get_resolver().resolve(domain, "MX", search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        provider = Provider.OTHER
    except (dns.exception.DNSException, OSError):
        return Provider.OTHER
    else:
        provider = provider_for_mx_hosts(record.exchange.to_text() for record in answer)
    with _cache_lock:
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[domain] = (now + CACHE_SECONDS, provider)
    return provider


def cached_provider(domain: str) -> Provider | None:
    """The provider of ``domain`` if known without asking the DNS (by name, or cached), else None."""
    domain = domain.lower().rstrip(".")
    known = provider_for_domain_name(domain)
    if known is not None:
        return known
    with _cache_lock:
        hit = _cache.get(domain)
    return hit[1] if hit and hit[0] > time.monotonic() else None


def remember_provider(domain: str, provider: Provider) -> None:
    """Cache what the MX hosts seen by a delivery said (the transport resolves them anyway)."""
    domain = domain.lower().rstrip(".")
    with _cache_lock:
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[domain] = (time.monotonic() + CACHE_SECONDS, provider)


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()
