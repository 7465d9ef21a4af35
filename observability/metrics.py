"""Serving the metrics: who may scrape ``/metrics``, and what one scrape contains.

A scrape builds a fresh registry: in multi-process mode (``PROMETHEUS_MULTIPROC_DIR``, set from
``METRICS_DIR``) it adds up every process's files with ``MultiProcessCollector``; otherwise it
reads this process's default registry. Either way ``observability.collectors`` adds the figures
whose truth is the database, read at that moment.
"""

import hmac
import ipaddress
import os
from functools import lru_cache

from django.conf import settings
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from observability.collectors import DatabaseCollector


@lru_cache(maxsize=8)
def _networks(allowed: tuple[str, ...]):
    return tuple(ipaddress.ip_network(network, strict=False) for network in allowed)


def _from_allowed_network(remote_addr: str) -> bool:
    try:
        address = ipaddress.ip_address(remote_addr)
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in _networks(tuple(settings.METRICS_ALLOWED_NETWORKS)))


def _has_token(authorization: str) -> bool:
    token = settings.METRICS_TOKEN
    scheme, _, presented = authorization.partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())


def may_scrape(*, remote_addr: str, authorization: str) -> bool:
    """Whether a request may read the metrics: the bearer token, or an allowed source network."""
    return _has_token(authorization) or _from_allowed_network(remote_addr)


class _Forward:
    """Puts another registry's metrics into a scrape's registry (the default one, single-process)."""

    def __init__(self, registry: CollectorRegistry):
        self.registry = registry

    def collect(self):
        yield from self.registry.collect()


def scrape_registry(*, multiprocess_dir: str | None = None) -> CollectorRegistry:
    """A fresh registry for one scrape: every process's metrics (or this one's) and the database's figures."""
    if multiprocess_dir is None:
        multiprocess_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or ""
    registry = CollectorRegistry()
    if multiprocess_dir:
        MultiProcessCollector(registry, path=multiprocess_dir)
    else:
        registry.register(_Forward(REGISTRY))
    registry.register(DatabaseCollector())
    return registry


def render_metrics(*, multiprocess_dir: str | None = None) -> bytes:
    """The Prometheus text exposition of one scrape."""
    return generate_latest(scrape_registry(multiprocess_dir=multiprocess_dir))
