"""Outbound transports, chosen by the ``MAIL_TRANSPORT`` setting (shaped like ``CACHES``)."""

import threading

from django.conf import settings
from django.utils.module_loading import import_string

from delivery.transports.base import Envelope, Outcome, Result, Transport

__all__ = ["Envelope", "Outcome", "Result", "Transport", "get_transport", "reset_transport"]

_transports: dict[tuple, Transport] = {}
_lock = threading.Lock()


def get_transport() -> Transport:
    """The configured transport; one instance per process, so its connection pool is shared."""
    config = settings.MAIL_TRANSPORT
    key = (config["BACKEND"], tuple(sorted(config.get("OPTIONS", {}).items())))
    with _lock:
        if key not in _transports:
            _transports[key] = import_string(config["BACKEND"])(**config.get("OPTIONS", {}))
        return _transports[key]


def reset_transport() -> None:
    """Close pooled connections and forget built transports (tests, settings changes)."""
    with _lock:
        transports = list(_transports.values())
        _transports.clear()
    for transport in transports:
        transport.close()
