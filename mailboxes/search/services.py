"""Searching a user's mailbox: the one entry point the webmail and the API call.

The query is parsed once (``parse_query``) and handed, with a queryset
already scoped to the user, to the configured backend. Pages are cut by a
keyset cursor, so mail arriving between two pages shifts nothing.
"""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

from mailboxes.models import Folder, MailboxItem
from mailboxes.search.backends import Page, get_search_backend
from mailboxes.search.query import And, InFolder, Node, Not, Or, QuerySyntaxError, Text, names_folder, parse_query
from mailboxes.search.text import highlight, query_terms

ORDERS = ("date", "relevance")
MAX_LIMIT = 200
HIDDEN_BY_DEFAULT = (Folder.TRASH, Folder.SPAM)

__all__ = ["InvalidCursor", "QuerySyntaxError", "SearchHit", "SearchPage", "parse_query", "search"]


class InvalidCursor(QuerySyntaxError):
    """A page cursor that was not made by ``search`` for this order."""


@dataclass(frozen=True)
class SearchHit:
    item_id: int  # a MailboxItem pk, always one of the requesting user's
    thread_id: int | None
    snippet: str  # HTML-safe; matches wrapped in <mark>…</mark>
    score: float | None


@dataclass(frozen=True)
class SearchPage:
    hits: list[SearchHit]
    next_cursor: str | None  # opaque; stable when new mail arrives


def search(user, query: str, *, limit: int = 50, cursor: str | None = None, order: str = "date") -> SearchPage:
    """One page of ``user``'s mail matching ``query``, newest first or best first.

    Trash and spam are left out unless the query names a folder (``in:trash``,
    ``in:anywhere``). Raises ``QuerySyntaxError`` for a query (or cursor)
    that cannot be understood.
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, not {order!r}")
    limit = max(1, min(int(limit), MAX_LIMIT))
    node = parse_query(query)
    after = _decode_cursor(cursor, order) if cursor else None
    scoped = node if names_folder(node) else And((node, *(Not(InFolder(folder)) for folder in HIDDEN_BY_DEFAULT)))
    items = MailboxItem.objects.filter(user=user)
    page: Page = get_search_backend().search(scoped, items, user_id=user.pk, order=order, limit=limit, after=after)
    terms = highlight_terms(node)
    hits = [
        SearchHit(
            item_id=row.item_id,
            thread_id=row.thread_id,
            snippet=highlight(row.text, terms),
            score=row.score,
        )
        for row in page.rows
    ]
    next_cursor = _encode_cursor(order, page.next_key) if page.next_key is not None else None
    return SearchPage(hits=hits, next_cursor=next_cursor)


def highlight_terms(node: Node) -> list[tuple[str, bool]]:
    """(term, is_prefix) for every word the query looks for (not those it leaves out)."""
    terms: list[tuple[str, bool]] = []
    for text in _positive_texts(node, negated=False):
        words, prefix = query_terms(text.value)
        prefix = prefix or text.prefix
        terms.extend((word, prefix and i == len(words) - 1) for i, word in enumerate(words))
    return list(dict.fromkeys(terms))


def _positive_texts(node: Node, *, negated: bool):
    if isinstance(node, Text):
        if not negated:
            yield node
    elif isinstance(node, Not):
        yield from _positive_texts(node.child, negated=not negated)
    elif isinstance(node, And | Or):
        for child in node.children:
            yield from _positive_texts(child, negated=negated)


# --- Cursors -------------------------------------------------------------------


def _encode_cursor(order: str, key: tuple) -> str:
    values = [v.isoformat() if isinstance(v, datetime) else v for v in key]
    raw = json.dumps({"o": order, "k": values}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, order: str) -> tuple:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        if data["o"] != order:
            raise ValueError("another order")
        return get_search_backend().decode_key(order, data["k"])
    except (binascii.Error, ValueError, KeyError, TypeError, IndexError) as exc:
        raise InvalidCursor("This page of results is no longer valid; search again.", 0) from exc
