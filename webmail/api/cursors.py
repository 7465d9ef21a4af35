"""Opaque, signed cursors for keyset pagination on ``(received_at, id)``, newest first.

A cursor names the last item of a page, not an offset, so mail arriving
while a client pages on neither repeats nor skips anything. It is signed
(and bound to its listing) so a client cannot forge or reuse it elsewhere.
"""

from datetime import datetime

from django.core import signing
from django.db.models import Q, QuerySet

from webmail.errors import UserError

_SALT = "webmail.api.cursor"


class InvalidCursor(UserError):
    code = "invalid_cursor"


def encode_cursor(*, listing: str, received_at: datetime, pk: int) -> str:
    return signing.dumps({"l": listing, "t": received_at.isoformat(), "i": pk}, salt=_SALT, compress=True)


def decode_cursor(cursor: str, *, listing: str) -> tuple[datetime, int]:
    try:
        data = signing.loads(cursor, salt=_SALT)
        if data["l"] != listing:
            raise ValueError("cursor of another listing")
        return datetime.fromisoformat(data["t"]), int(data["i"])
    except (signing.BadSignature, ValueError, KeyError, TypeError) as exc:
        raise InvalidCursor("This cursor is not valid for this listing.", field="cursor") from exc


def keyset_page(queryset: QuerySet, *, listing: str, limit: int, cursor: str | None) -> tuple[list, str | None]:
    """One page of ``queryset`` (ordered by ``-received_at, -pk``) after ``cursor``, and the next cursor."""
    if cursor:
        received_at, pk = decode_cursor(cursor, listing=listing)
        queryset = queryset.filter(Q(received_at__lt=received_at) | Q(received_at=received_at, pk__lt=pk))
    rows = list(queryset.order_by("-received_at", "-pk")[: limit + 1])
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor(listing=listing, received_at=last.received_at, pk=last.pk)
