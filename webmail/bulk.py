"""Many rows in one PostgreSQL statement, passed as one JSON parameter.

Django's ``bulk_create`` and a hand-written ``VALUES`` list bind one
parameter per value, and psycopg's client-side binding quotes each in Python
(an array parameter, as ``UNNEST`` takes, no faster: its elements are quoted
one by one too). ``json.dumps`` of the rows is one C call, and
``jsonb_to_recordset`` turns them back into typed columns on the server.
"""

import json
from datetime import date, datetime

from django.db import connection
from django.db.models import Field, JSONField


def recordset(fields: list[Field], rows: list[dict], *, ordinality: bool = False) -> tuple[str, str]:
    """``("jsonb_to_recordset(%s::jsonb) AS v(column type, …)", parameter)`` for rows of ``{column: value}``.

    Values are Python values of the fields (``None``, str, int, bool,
    datetimes, and anything JSON for a ``JSONField``). With ``ordinality``,
    ``v.ordinality`` numbers the rows in their order.
    """
    quote = connection.ops.quote_name
    parameter = json.dumps(rows, default=_json_default)
    definitions = ", ".join(f"{quote(f.column)} {_db_type(f)}" for f in fields)
    if not ordinality:
        return f"jsonb_to_recordset(%s::jsonb) AS v({definitions})", parameter
    names = ", ".join(quote(f.column) for f in fields)
    return (
        f"ROWS FROM (jsonb_to_recordset(%s::jsonb) AS ({definitions})) WITH ORDINALITY AS v({names}, ordinality)",
        parameter,
    )


def columns_of(fields: list[Field], obj) -> dict:
    """``{column: value}`` of a model instance, for ``recordset``."""
    return {f.column: getattr(obj, f.attname) for f in fields}


def _db_type(field: Field) -> str:
    if isinstance(field, JSONField):
        return "jsonb"
    # varchar rather than varchar(255): the values were validated, and a cast must not cut one.
    return field.db_type(connection).split("(")[0]


def _json_default(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
