"""Keyset pagination, newest first, with opaque signed cursors: one for the webmail's lists and the API.

A cursor names the last row of a page (its time and id), not an offset, so
mail arriving while someone pages on neither repeats nor skips anything. It is
signed and bound to its listing, so a client can neither forge one nor reuse it
for another list.
"""

from datetime import datetime

from django.core import signing
from django.db.models import QuerySet

from webmail.errors import UserError

_SALT = "webmail.api.cursor"  # the API's cursors stay valid across the move


class InvalidCursor(UserError):
    code = "invalid_cursor"


def encode_cursor(*, listing: str, at: datetime, pk: int) -> str:
    return signing.dumps({"l": listing, "t": at.isoformat(), "i": pk}, salt=_SALT, compress=True)


def decode_cursor(cursor: str, *, listing: str) -> tuple[datetime, int]:
    try:
        data = signing.loads(cursor, salt=_SALT)
        if data["l"] != listing:
            raise ValueError("cursor of another listing")
        return datetime.fromisoformat(data["t"]), int(data["i"])
    except (signing.BadSignature, ValueError, KeyError, TypeError, OverflowError) as exc:
        raise InvalidCursor("This cursor is not valid for this listing.", field="cursor") from exc


def older_than(queryset: QuerySet, *, field: str, at: datetime, pk: int) -> QuerySet:
    """Rows after ``(at, pk)`` in ``(-field, -pk)`` order.

    Written as a plain upper bound the index on ``(field, id)`` can seek to: the
    textbook ``field < at OR (field = at AND id < pk)`` made SQLite scan from the
    top (300 ms at page 21 of a million-message mailbox, 29 ms this way).
    """
    return queryset.filter(**{f"{field}__lte": at}).exclude(**{field: at, "pk__gte": pk})


def keyset_page(
    queryset: QuerySet, *, listing: str, limit: int, cursor: str | None, field: str = "received_at"
) -> tuple[list, str | None]:
    """One page of ``queryset`` newest first by ``(field, id)``, after ``cursor``, and the next cursor."""
    if cursor:
        at, pk = decode_cursor(cursor, listing=listing)
        queryset = older_than(queryset, field=field, at=at, pk=pk)
    rows = list(queryset.order_by(f"-{field}", "-pk")[: limit + 1])
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor(listing=listing, at=getattr(last, field), pk=last.pk)
