"""Content filters for inbound mail: virus scanners and spam filters.

Each kind is configured like ``CACHES`` (a ``BACKEND`` dotted path and its
``OPTIONS``) and built once per process:

- ``INBOUND_VIRUS_SCANNER``: ``get_virus_scanner()`` in ``inbound.filters.virus``;
- ``INBOUND_SPAM_FILTER``: ``get_spam_filter()`` in ``inbound.filters.spam``.

The built-in backends need no external service; the ClamAV (clamd) and rspamd
adapters talk to the real daemons over the network.
"""

import threading

from django.utils.module_loading import import_string

__all__ = ["build_backend", "reset_filters"]

_backends: dict[tuple, object] = {}
_lock = threading.Lock()


def _freeze(value):
    if isinstance(value, dict):
        return tuple(sorted((key, _freeze(item)) for key, item in value.items()))
    if isinstance(value, list | tuple | set):
        return tuple(_freeze(item) for item in value)
    return value


def build_backend(config: dict, *, default_backend: str):
    """The backend ``config`` names, built once per distinct configuration."""
    config = config or {}
    backend = config.get("BACKEND") or default_backend
    options = config.get("OPTIONS") or {}
    key = (backend, _freeze(options))
    with _lock:
        if key not in _backends:
            _backends[key] = import_string(backend)(**options)
        return _backends[key]


def reset_filters() -> None:
    """Forget built backends (tests, settings changes)."""
    with _lock:
        _backends.clear()
