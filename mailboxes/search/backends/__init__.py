"""Search backends: one interface, several engines, chosen by ``settings.SEARCH_BACKENDS``.

A backend indexes ``IndexDocument``s (one per mailbox item), deletes them,
and answers a parsed query over a queryset of ``MailboxItem`` that the
caller has already scoped to one user: a backend cannot forget tenant
isolation, it can only narrow what it is given.
"""

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from mailboxes.search.query import Node


@dataclass
class IndexDocument:
    """Everything searchable about one mailbox item, as text and values (see ``documents.py``)."""

    item_id: int
    user_id: int
    thread_id: int | None
    received_at: datetime
    subject: str
    sender: str  # name and address
    to: str
    cc: str
    body: str
    filenames: list[str] = field(default_factory=list)
    folder: str = ""
    labels: list[str] = field(default_factory=list)
    is_read: bool = False
    is_starred: bool = False
    has_attachments: bool = False
    size: int = 0


@dataclass
class ItemState:
    """What a user changes on an item without touching its content (see ``documents.build_states``)."""

    item_id: int
    user_id: int
    folder: str
    labels: list[str]
    is_read: bool
    is_starred: bool


@dataclass(frozen=True)
class Row:
    item_id: int
    thread_id: int | None
    score: float | None
    text: str  # what the snippet is cut from


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    next_key: tuple | None  # the keyset position after the last row, if there is more


class SearchBackend:
    """The interface every search engine implements."""

    # Whether documents hold a copy of folder, labels and flags, to be refreshed by ``update_states``.
    copies_state = True

    def __init__(self, **options):
        self.options = options

    def index(self, documents: list[IndexDocument]) -> None:
        """Adds or replaces these documents (in bulk)."""
        raise NotImplementedError

    def update_states(self, states: list[ItemState]) -> set[int]:
        """Refreshes the folder, labels and flags of indexed items; returns the ids that have no document yet."""
        raise NotImplementedError

    def delete(self, item_ids: list[int]) -> None:
        raise NotImplementedError

    def clear(self) -> None:
        """Removes every document, before a rebuild."""
        raise NotImplementedError

    def indexed_ids(self, item_ids: list[int]) -> set[int]:
        """Which of these items have a document."""
        raise NotImplementedError

    def search(self, node: Node, items, *, user_id: int, order: str, limit: int, after: tuple | None) -> Page:
        """Up to ``limit`` items of ``items`` that match ``node``, after keyset ``after``.

        ``items`` is a ``MailboxItem`` queryset already scoped to the user
        ``user_id``; a backend that cannot query it (Elasticsearch) filters
        on ``user_id`` and still returns only ids found in ``items``.
        """
        raise NotImplementedError

    def decode_key(self, order: str, values: list) -> tuple:
        """The keyset tuple from a cursor's JSON values (raises ValueError/TypeError if malformed)."""
        if order == "date":
            received_at, item_id = values
            return (datetime.fromisoformat(received_at), int(item_id))
        score, item_id = values
        return (float(score), int(item_id))


@cache
def _backend(alias: str) -> SearchBackend:
    config = dict(settings.SEARCH_BACKENDS[alias])
    backend_class = import_string(config.pop("BACKEND"))
    return backend_class(**{key.lower(): value for key, value in config.items()})


def get_search_backend(alias: str = "default") -> SearchBackend:
    return _backend(alias)


def reset_search_backends() -> None:
    """Forget configured backends (tests that change SEARCH_BACKENDS call this)."""
    _backend.cache_clear()
