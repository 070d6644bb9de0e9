"""Writing many rows at once where each row gets its own values, and reading by many values.

Django's `QuerySet.bulk_update` builds one `CASE WHEN pk = … THEN …` expression per row and
field, and resolving those expressions costs far more than the database work (measured: about
70 % of a 200-item routing batch's time). `update_rows` instead sends one small parameterised
UPDATE per row by primary key through `cursor.executemany`: psycopg 3 sends them in pipeline
mode (one round trip for the lot), SQLite runs them natively. Values are prepared by each
field exactly as `Model.save()` prepares them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC
from typing import Any

from django.db import connection
from django.db.models import DateField, DateTimeField, Field, JSONField, Model, TimeField
from django.db.models.expressions import RawSQL


def update_rows(
    model: type[Model],
    rows: Iterable[Model],
    fields: Sequence[str],
    *,
    only_if: Mapping[str, Any] | None = None,
) -> None:
    """UPDATE `fields` of each row (model instances, by primary key) to its own values; with
    `only_if` ({field: value}), only rows that still have those values are changed."""
    rows = list(rows)
    if not rows:
        return
    meta = model._meta
    columns = [_field(model, name) for name in fields]
    conditions = [(_field(model, name), value) for name, value in (only_if or {}).items()]
    quote = connection.ops.quote_name
    # Identifiers come from the model's own metadata, quoted by the backend; values are bound.
    assignments = ", ".join(f"{quote(_column(field))} = %s" for field in columns)
    checks = "".join(f" AND {quote(_column(field))} = %s" for field, _value in conditions)
    table, key = quote(meta.db_table), quote(_column(_field(model, meta.pk.name)))
    sql = f"UPDATE {table} SET {assignments} WHERE {key} = %s{checks}"  # noqa: S608
    fixed = [field.get_db_prep_save(value, connection) for field, value in conditions]
    params = [
        [field.get_db_prep_save(getattr(row, field.attname), connection) for field in columns]
        + [row.pk, *fixed]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _column(field: Field[Any, Any]) -> str:
    assert field.column is not None  # concrete fields have a column (checked by _field)
    return field.column


def _field(model: type[Model], name: str) -> Field[Any, Any]:
    field = model._meta.get_field(name)
    if not isinstance(field, Field) or not field.concrete or field.column is None:
        raise ValueError(f"{model.__name__}.{name} is not a column")
    return field


def in_values(values: Sequence[str | int]) -> RawSQL:
    """A subquery yielding `values`, for `field__in=in_values(values)` with thousands of
    values: one JSON parameter instead of one placeholder per value. psycopg splits a query
    into its placeholders with a regular expression, which for a 5,000-value IN list cost more
    than the database's work (measured on event ingest); SQLite's json_each and PostgreSQL's
    jsonb_array_elements_text read the list on the server. Text values compare as text and
    integers as integers on both databases."""
    document = json.dumps(list(values))
    if connection.vendor == "postgresql":
        if values and all(isinstance(v, int) for v in values):
            return RawSQL("SELECT jsonb_array_elements_text(%s::jsonb)::bigint", (document,))
        return RawSQL("SELECT jsonb_array_elements_text(%s::jsonb)", (document,))
    return RawSQL("SELECT value FROM json_each(%s)", (document,))


def insert_rows(
    model: type[Model],
    rows: Sequence[Mapping[str, Any]],
    *,
    unique: Sequence[str] = (),
    returning: Sequence[str] = ("id",),
) -> list[tuple[Any, ...]]:
    """INSERT `rows` (dicts of field name → Python value, all with the same fields) in one
    statement whatever their number, and return the `returning` columns of the rows inserted.
    With `unique` (the fields of a unique constraint), a row that would break it is skipped
    (ON CONFLICT DO NOTHING) and not returned: the rows returned are the ones this statement
    won, which makes a bulk insert a bulk claim.

    Like `in_values`, the rows travel as one JSON parameter that the server unpacks
    (PostgreSQL's jsonb_to_recordset, SQLite's json_each): one placeholder per value costs
    more in psycopg's Python than the database's insert, and SQLite limits the placeholders
    of one statement. On PostgreSQL rows are inserted in the order given (sort them to take
    unique-index locks in a fixed order when two transactions may insert the same keys)."""
    if not rows:
        return []
    names = list(rows[0])
    fields = [_field(model, name) for name in names]
    out = [_field(model, name) for name in returning]
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(_column(f)) for f in fields)
    conflict = ""
    if unique:
        targets = ", ".join(quote(_column(_field(model, name))) for name in unique)
        conflict = f" ON CONFLICT ({targets}) DO NOTHING"
    back = ", ".join(quote(_column(f)) for f in out)
    keys = [f"c{i}" for i in range(len(fields))]
    if connection.vendor == "postgresql":
        document = json.dumps(
            [
                {
                    k: _json_value(f, row[n], True)
                    for k, f, n in zip(keys, fields, names, strict=True)
                }
                for row in rows
            ]
        )
        record = ", ".join(
            f"{k} {f.db_type(connection)}" for k, f in zip(keys, fields, strict=True)
        )
        # Identifiers and types come from the model's metadata; the rows are one bound value.
        source = f"SELECT {', '.join(keys)} FROM jsonb_to_recordset(%s::jsonb) AS u({record})"  # noqa: S608
    else:
        document = json.dumps(
            [
                [_json_value(f, row[n], False) for f, n in zip(fields, names, strict=True)]
                for row in rows
            ]
        )
        picks = ", ".join(f"json_extract(r.value, '$[{i}]')" for i in range(len(fields)))
        # "WHERE true" keeps SQLite from reading ON CONFLICT as part of the SELECT's join.
        source = f"SELECT {picks} FROM json_each(%s) AS r WHERE true"  # noqa: S608
    sql = f"INSERT INTO {table} ({columns}) {source}{conflict} RETURNING {back}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [document])
        return [tuple(row) for row in cursor.fetchall()]


def _json_value(field: Field[Any, Any], value: Any, postgres: bool) -> Any:
    """`value` of `field` as the JSON document of insert_rows carries it: what the database
    stores, in a form its JSON reader turns into the column's type."""
    if value is None:
        return None
    if isinstance(field, JSONField):
        return value if postgres else json.dumps(value)
    if isinstance(field, DateTimeField):
        if postgres:
            return value.isoformat()
        # What Django's SQLite backend stores for an aware datetime: naive UTC, str().
        return str(value.astimezone(UTC).replace(tzinfo=None))
    if isinstance(field, (DateField, TimeField)):
        return value.isoformat()
    return value
