"""The DNS resolver every lookup uses (MX, SPF, DKIM, DMARC), configured by ``DNS_NAMESERVERS``."""

import functools

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


@functools.cache
def _resolver_for(nameservers: tuple[str, ...], timeout: float) -> dns.resolver.Resolver:
    if nameservers:
        resolver = dns.resolver.Resolver(configure=False)
        servers = parse_nameservers(list(nameservers))
        resolver.nameservers = [host for host, _ in servers]
        resolver.nameserver_ports = dict(servers)
    else:
        resolver = dns.resolver.Resolver()
    resolver.lifetime = timeout
    resolver.timeout = min(timeout, 2.0)
    return resolver


def get_resolver() -> dns.resolver.Resolver:
    return _resolver_for(tuple(settings.DNS_NAMESERVERS), float(settings.DNS_TIMEOUT))
