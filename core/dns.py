"""The DNS resolver every lookup uses (MX, SPF, DKIM, DMARC), configured by ``DNS_NAMESERVERS``."""

import dns.resolver
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def parse_nameservers(value: list[str]) -> list[tuple[str, int]]:
    """``["127.0.0.1:5353", "[::1]:53", "9.9.9.9"]`` → ``[(host, port), …]``."""
    servers = []
    for entry in value:
        entry = entry.strip()
        if entry.startswith("["):
            host, _, rest = entry[1:].partition("]")
            port = rest.lstrip(":") or "53"
        elif entry.count(":") == 1:
            host, port = entry.split(":")
        else:
            host, port = entry, "53"
        if not host or not port.isdigit():
            raise ImproperlyConfigured(f"DNS_NAMESERVERS: cannot read {entry!r}; use host[:port]")
        servers.append((host, int(port)))
    return servers


_resolvers: dict[tuple, dns.resolver.Resolver] = {}


def _resolver_for(nameservers: tuple[str, ...], timeout: float) -> dns.resolver.Resolver:
    key = (nameservers, timeout)
    resolver = _resolvers.get(key)
    if resolver is not None:
        return resolver
    if nameservers:
        resolver = dns.resolver.Resolver(configure=False)
        servers = parse_nameservers(list(nameservers))
        resolver.nameservers = [host for host, _ in servers]
        resolver.nameserver_ports = dict(servers)
    else:
        resolver = dns.resolver.Resolver()
    resolver.lifetime = timeout
    resolver.timeout = min(timeout, 2.0)
    # Every inbound message repeats the same SPF and DMARC queries for its sender's domain;
    # the cache answers them within the records' TTLs (negative answers too, per their SOA).
    # LRUCache is thread-safe (the MX and threaded workers share the resolver).
    resolver.cache = dns.resolver.LRUCache(max_size=10_000)
    return _resolvers.setdefault(key, resolver)


def get_resolver() -> dns.resolver.Resolver:
    return _resolver_for(tuple(settings.DNS_NAMESERVERS), float(settings.DNS_TIMEOUT))


def flush_dns_cache() -> None:
    """Forget every cached answer (tests change their DNS records from one case to the next)."""
    for resolver in list(_resolvers.values()):
        resolver.cache.flush()
