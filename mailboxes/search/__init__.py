"""Search: a Gmail-like query language over an inverted index.

``from mailboxes.search import search, parse_query, QuerySyntaxError`` works:
the names are loaded lazily from ``services``, so Django can import this
package (the app) before the models are ready.
"""

_EXPORTS = {"InvalidCursor", "QuerySyntaxError", "SearchHit", "SearchPage", "parse_query", "search"}


def __getattr__(name):
    if name in _EXPORTS:
        from mailboxes.search import services

        return getattr(services, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
