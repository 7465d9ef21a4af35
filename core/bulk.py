"""Many rows in one PostgreSQL statement, passed as one JSON parameter.

``insert_objects`` inserts model instances; ``insert_rows`` inserts rows given
as plain dicts, for callers writing a thousand rows at once, where building a
model instance per row (``Model()``, its related-object checks, ``pre_save``)
cost more than the insert itself.

Django's ``bulk_create`` and a hand-written ``VALUES`` list bind one
parameter per value, and psycopg's client-side binding quotes each in Python
(an array parameter, as ``UNNEST`` takes, no faster: its elements are quoted
one by one too). ``json.dumps`` of the rows is one C call, and
``jsonb_to_recordset`` turns them back into typed columns on the server.
"""

import functools
import json
from datetime import date, datetime

from django.db import connection
from django.db.models import Field, JSONField, Model
from django.utils import timezone


def recordset(fields: list[Field], rows: list[dict], *, ordinality: bool = False) -> tuple[str, str]:
    """``("jsonb_to_recordset(%s::jsonb) AS v(column type, …)", parameter)`` for rows of ``{column: value}``.

    Values are Python values of the fields (``None``, str, int, bool,
    datetimes, and anything JSON for a ``JSONField``). With ``ordinality``,
    ``v.ordinality`` numbers the rows in their order.
    """
    return _recordset_sql(tuple(fields), ordinality), json.dumps(rows, default=_json_default)


@functools.cache
def _recordset_sql(fields: tuple[Field, ...], ordinality: bool) -> str:
    """The SQL of ``recordset`` (the same for every call with these fields: worked out once)."""
    quote = connection.ops.quote_name
    definitions = ", ".join(f"{quote(f.column)} {_db_type(f)}" for f in fields)
    if not ordinality:
        return f"jsonb_to_recordset(%s::jsonb) AS v({definitions})"
    names = ", ".join(quote(f.column) for f in fields)
    return f"ROWS FROM (jsonb_to_recordset(%s::jsonb) AS ({definitions})) WITH ORDINALITY AS v({names}, ordinality)"


def columns_of(fields: list[Field], obj) -> dict:
    """``{column: value}`` of a model instance, for ``recordset``."""
    return {f.column: getattr(obj, f.attname) for f in fields}


def insert_objects(objects: list[Model]) -> None:
    """``bulk_create`` of new model instances, in one statement on PostgreSQL; sets their ids.

    On PostgreSQL the rows go as one JSON parameter, not as ``bulk_create``'s
    parameter per value (its compilation and psycopg's quoting cost more
    than the insert). Model defaults must already be on the instances, as
    they are after ``Model()``.
    """
    if not objects:
        return
    model = type(objects[0])
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(objects)
        return
    fields, sql = _insert_sql(model)
    for obj in objects:  # as bulk_create: take the ids of related objects saved since they were assigned
        obj._prepare_related_fields_for_save(operation_name="bulk_create")
    # pre_save, as every insert does: auto_now and the like fill their value in.
    rows = json.dumps([{f.column: f.pre_save(obj, True) for f in fields} for obj in objects], default=_json_default)
    with connection.cursor() as cursor:
        cursor.execute(sql, [rows])
        ids = [row[0] for row in cursor.fetchall()]
    for obj, pk in zip(objects, ids, strict=True):
        obj.pk = pk
        obj._state.adding, obj._state.db = False, connection.alias


def insert_rows(model: type[Model], rows: list[dict]) -> list:
    """Insert new rows of ``model``, each ``{field attname: value}`` with the same keys; their primary keys, in order.

    One statement on PostgreSQL (the rows as one JSON parameter, as
    ``insert_objects``); on other databases one multi-row ``INSERT`` per as
    many rows as the query's parameters allow. A field the rows do not name
    takes what ``Model()`` and ``save`` would give it, worked out ONCE for the
    call: its default (a callable one such as ``timezone.now`` is called once),
    or now for ``auto_now``/``auto_now_add``; so every row of the call gets
    the same time. Values are Python values of the fields, not checked.
    """
    if not rows:
        return []
    meta = model._meta
    by_attname = {field.attname: field for field in meta.concrete_fields}
    given = [by_attname[name] for name in rows[0]]
    constant = {
        field: _default(field) for field in meta.concrete_fields if field not in given and field is not meta.auto_field
    }
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in [*given, *constant])
    head = f"INSERT INTO {quote(meta.db_table)} ({columns}) "  # noqa: S608 - names from the model, values as parameters
    returning = f" RETURNING {quote(meta.pk.column)}"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            if any(field.column != field.attname for field in given):
                rows = [{field.column: row[field.attname] for field in given} for row in rows]
            source, parameter = recordset(given, rows, ordinality=True)
            values = ", ".join(
                [*(f"v.{quote(field.column)}" for field in given), *(f"%s::{_db_type(field)}" for field in constant)]
            )
            # In the rows' order, so that the keys come back in it (as for insert_objects).
            cursor.execute(
                f"{head}SELECT {values} FROM {source} ORDER BY ordinality{returning}",  # noqa: S608 - as head
                # The constants' placeholders come first in the statement, the rows' in FROM.
                [*(field.get_db_prep_save(value, connection) for field, value in constant.items()), parameter],
            )
            return [row[0] for row in cursor.fetchall()]
        tail = [field.get_db_prep_save(value, connection) for field, value in constant.items()]
        prepared = [
            [*(field.get_db_prep_save(row[field.attname], connection) for field in given), *tail] for row in rows
        ]
        width = len(given) + len(constant)
        placeholders = "(" + ", ".join(["%s"] * width) + ")"
        if not connection.features.can_return_rows_from_bulk_insert:
            keys = []
            for values in prepared:
                cursor.execute(f"{head}VALUES {placeholders}", values)
                keys.append(cursor.lastrowid if meta.pk is meta.auto_field else values[given.index(meta.pk)])
            return keys
        limit = connection.features.max_query_params or 999
        size = max(1, limit // width)
        keys = []
        for start in range(0, len(prepared), size):
            chunk = prepared[start : start + size]
            cursor.execute(
                f"{head}VALUES {', '.join([placeholders] * len(chunk))}{returning}",
                [value for values in chunk for value in values],
            )
            keys += [row[0] for row in cursor.fetchall()]
        return keys


def _default(field: Field):
    """What a new instance saved without a value for ``field`` stores in it (``pre_save`` of the auto dates)."""
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return timezone.now()
    return field.get_default()


@functools.cache
def _insert_sql(model: type[Model]) -> tuple[list[Field], str]:
    meta = model._meta
    # A primary key that is not generated (SendScope's is its message) is a column like any other.
    fields = [field for field in meta.concrete_fields if field is not meta.auto_field]
    source = _recordset_sql(tuple(fields), True)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    # Only names from the model are formatted in; the rows are a parameter. In
    # the rows' order, so that the ids come back in it (as bulk_create relies on).
    return fields, (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) "  # noqa: S608
        f"SELECT {columns} FROM {source} ORDER BY ordinality RETURNING {quote(meta.pk.column)}"
    )


def _db_type(field: Field) -> str:
    if isinstance(field, JSONField):
        return "jsonb"
    # varchar rather than varchar(255): the values were validated, and a cast must not cut one.
    return field.db_type(connection).split("(")[0]


def _json_default(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
