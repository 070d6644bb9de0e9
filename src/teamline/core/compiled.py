"""Hot-path statements compiled to SQL once per database, then only executed.

Building a queryset and compiling it costs Django a fixed amount of CPU each time, whatever the
data: about 0.23 ms for a two-condition `values_list`, about 1.5 ms for the four-table
select_related lock every inbound message takes (SQLite, test settings). On the message path,
where the same few statements run for every message with only an id changing, that was a
large share of a message's CPU. `CompiledOnce` compiles such a statement on first use for each
database alias and reuses its SQL text; the rows become model instances the way Django's own
iterator builds them (`from_db`, the related populators, the same converters), or a list of
the first column's values.

Only for statements whose varying parameters are plain values that go into the SQL as they are:
ids, and text compared as it is (a token's hash). Each has a marker that shows where it goes;
a value may appear several times (an agent's id in each branch of a visibility rule); constants
the queryset names, such as a state, stay as compiled. Anything more varied (a list, a value
the field transforms) stays an ordinary queryset. Annotations are set on the instance as
Django's iterator sets them.

The two writes every inbound message makes are written out the same way: `CompiledInsert`
(the message row: about 0.6 ms of compiling per `Model.save` INSERT) and `CompiledUpdate` (the
conversation's counters by primary key: about 0.4 ms per `save(update_fields=...)`). Each
value goes through its field's own `pre_save` and `get_db_prep_save`, as Django's compilers
do, so the stored bytes are the same; what these skip is building and compiling the query.
They send no `pre_save`/`post_save` signals: use them only for models nothing listens to
(`tests/conversations/test_locks.py` checks that for the ones that use them).
`CompiledInsert.insert_new` is the INSERT that a unique constraint may refuse without an error
(`ON CONFLICT DO NOTHING`, on PostgreSQL and SQLite alike): no savepoint around it, and False
when the row existed; any other broken constraint (NOT NULL, CHECK) still raises.
`CompiledUpdate` may also add to counters (`attempts = attempts + 1`) and match more columns
than the primary key (a claim's status and stamp), as `QuerySet.update` does, which sends no
signals either.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any

from django.db import connections, router
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators
from django.db.transaction import TransactionManagementError


class CompiledOnce:
    """A SELECT whose only varying parameters are ids (or text, see ID and TEXT below),
    compiled once per database alias.

    `build(*values)` returns the queryset for those values; it is called once per alias with a
    marker per value (`markers`, by default one id) to find the statement and each value's
    places."""

    SENTINEL = -7_340_033  # never a primary key: marks an id's place among the parameters
    ID = SENTINEL
    ID_2 = SENTINEL - 1
    TEXT = "compiled-once-marker-7340033"  # marks a text value's place
    TEXT_2 = "compiled-once-marker-7340034"  # a second text value's

    def __init__(
        self, build: Callable[..., QuerySet[Any]], *, markers: tuple[Any, ...] = (SENTINEL,)
    ) -> None:
        if len(set(markers)) != len(markers):
            raise ValueError("each value needs a marker of its own")
        self.build = build
        self.markers = markers
        self.by_alias: dict[str, tuple[Any, str, list[Any], Any]] = {}
        # Per alias: the constants, and each value's places among them.
        self.params: dict[str, tuple[list[Any], list[list[int]]]] = {}

    @cached_property
    def model(self) -> type[Model]:
        # On first use, not at import: `build` may name functions defined later in its module.
        model: type[Model] = self.build(*self.markers).model
        return model

    def prepare(self, alias: str) -> tuple[Any, str, list[Any], Any]:
        query = self.build(*self.markers).query
        compiler = query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        params = list(params)
        places = [
            [i for i, param in enumerate(params) if type(param) is type(marker) and param == marker]
            for marker in self.markers
        ]
        if not all(places):  # the statement's shape changed: not reusable
            raise AssertionError(f"unexpected parameters {params!r}")
        self.params[alias] = (params, places)
        converters = compiler.get_converters([column[0] for column in compiler.select])
        populators: list[Any] = []
        if compiler.klass_info is not None:  # rows become model instances
            # Django 5.2: (klass_info, select, db); the type stubs follow a later signature.
            populators = get_related_populators(compiler.klass_info, compiler.select, alias)  # type: ignore[call-arg]
        entry = (compiler, sql, populators, converters)
        self.by_alias[alias] = entry
        return entry

    def _rows(self, values: tuple[Any, ...], *, one: bool) -> tuple[Any, list[Any], str]:
        if len(values) != len(self.markers):
            raise TypeError(f"expected {len(self.markers)} value(s), got {len(values)}")
        alias = router.db_for_write(self.model)
        connection = connections[alias]
        compiler, sql, _populators, converters = self.by_alias.get(alias) or self.prepare(alias)
        if compiler.query.select_for_update and connection.get_autocommit():
            # As QuerySet.select_for_update says: a lock outside a transaction locks nothing.
            raise TransactionManagementError(
                "select_for_update cannot be used outside of a transaction."
            )
        constants, places = self.params[alias]
        params = list(constants)
        for value, where in zip(values, places, strict=True):
            for place in where:
                params[place] = value
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = [row] if one and (row := cursor.fetchone()) is not None else []
            if not one:
                rows = list(cursor.fetchall())
        if converters and rows:
            rows = [list(row) for row in compiler.apply_converters(rows, converters)]
        return compiler, rows, alias

    def first(self, *values: Any) -> Any:
        """The first row as a model instance (with its select_related rows), or None."""
        compiler, rows, alias = self._rows(values, one=True)
        if not rows:
            return None
        row = rows[0]
        _compiler, _sql, populators, _converters = self.by_alias[alias]
        klass_info = compiler.klass_info
        fields = klass_info["select_fields"]
        start, end = fields[0], fields[-1] + 1
        names = [column[0].target.attname for column in compiler.select[start:end]]
        obj = klass_info["model"].from_db(alias, names, row[start:end])
        for populator in populators:
            populator.populate(row, obj)
        for name, position in compiler.annotation_col_map.items():
            setattr(obj, name, row[position])
        return obj

    def column(self, *values: Any) -> list[Any]:
        """The first selected column of every row (a flat `values_list`)."""
        _compiler, rows, _alias = self._rows(values, one=False)
        return [row[0] for row in rows]

    def exists(self, *values: Any) -> bool:
        """Whether the statement finds a row (build it as `.values("pk")[:1]` or the like)."""
        _compiler, rows, _alias = self._rows(values, one=True)
        return bool(rows)


def _plain(fields: list[Any]) -> list[Any]:
    """Fields written with a bare placeholder (none of ours has a custom one)."""
    custom = [field.name for field in fields if hasattr(field, "get_placeholder")]
    if custom:
        raise AssertionError(f"fields with their own placeholder: {custom}")
    return fields


class CompiledInsert:
    """INSERT of one model instance with every concrete field, returning what the database
    sets (the primary key); the instance is saved afterwards, as `Model.save` leaves it."""

    def __init__(self, model: type[Model]) -> None:
        self.model = model
        # Per alias and per variant (refused rows raise, or are skipped).
        self.by_alias: dict[tuple[str, bool], tuple[str, list[Any], list[Any]]] = {}

    def prepare(
        self, alias: str, *, skip_existing: bool = False
    ) -> tuple[str, list[Any], list[Any]]:
        meta = self.model._meta
        ops = connections[alias].ops
        fields = _plain(
            [f for f in meta.local_concrete_fields if not f.generated and f is not meta.auto_field]
        )
        returning = list(meta.db_returning_fields)
        returning_sql, returning_params = ops.return_insert_columns(returning)  # type: ignore[attr-defined]
        if returning_params:  # no backend we run adds any
            raise AssertionError(f"unexpected RETURNING parameters {returning_params!r}")
        suffix = ""
        if skip_existing:
            if connections[alias].vendor not in ("postgresql", "sqlite"):
                raise NotImplementedError("insert_new needs PostgreSQL or SQLite")
            # The upsert clause both speak (SQLite 3.24+): only a unique or primary key conflict
            # is skipped. SQLite's INSERT OR IGNORE would also skip, silently, a row that breaks
            # NOT NULL or a CHECK constraint.
            suffix = "ON CONFLICT DO NOTHING"
        sql = "INSERT INTO {} ({}) VALUES ({}) {} {}".format(  # noqa: S608 - the model's quoted names
            ops.quote_name(meta.db_table),
            ", ".join(ops.quote_name(f.column) for f in fields),
            ", ".join(["%s"] * len(fields)),
            suffix,
            returning_sql,
        )
        entry = (sql, fields, returning)
        self.by_alias[(alias, skip_existing)] = entry
        return entry

    def insert(self, obj: Model) -> Model:
        if not self._insert(obj, skip_existing=False):  # pragma: no cover - the database raised
            raise AssertionError("an INSERT without ON CONFLICT returned no row")
        return obj

    def insert_new(self, obj: Model) -> bool:
        """INSERT unless a unique constraint already holds such a row: True and the instance
        saved, or False (nothing written, no error, so no savepoint is needed around it)."""
        return self._insert(obj, skip_existing=True)

    def _insert(self, obj: Model, *, skip_existing: bool) -> bool:
        alias = router.db_for_write(self.model, instance=obj)
        connection = connections[alias]
        sql, fields, returning = self.by_alias.get((alias, skip_existing)) or self.prepare(
            alias, skip_existing=skip_existing
        )
        params = [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = (
                cursor.fetchone()
            )  # the RETURNING columns (what `fetch_returned_insert_columns` reads)
        if row is None:
            return False
        for field, value in zip(returning, row, strict=True):
            for converter in field.get_db_converters(connection):
                value = converter(value, field, connection)
            setattr(obj, field.attname, value)
        obj._state.adding = False
        obj._state.db = alias
        return True


class CompiledUpdate:
    """UPDATE of these fields of one row, by primary key, to the instance's values.

    `increments`: counters raised by one in the same statement (`attempts = attempts + 1`,
    whatever the instance holds). `where`: more columns the row must still match (a claim's
    status and stamp), their values given to `update`."""

    def __init__(
        self,
        model: type[Model],
        field_names: list[str],
        *,
        increments: Sequence[str] = (),
        where: Sequence[str] = (),
    ) -> None:
        self.model = model
        meta = model._meta
        self.fields = _plain([meta.get_field(name) for name in field_names])
        self.increments: list[Any] = [meta.get_field(name) for name in increments]
        self.where: list[Any] = [meta.get_field(name) for name in where]
        self.by_alias: dict[str, str] = {}

    def prepare(self, alias: str) -> str:
        meta = self.model._meta
        ops = connections[alias].ops
        sets = [f"{ops.quote_name(f.column)} = %s" for f in self.fields]
        sets += [
            f"{ops.quote_name(f.column)} = {ops.quote_name(f.column)} + 1" for f in self.increments
        ]
        conditions = [ops.quote_name(str(meta.pk.column))]
        conditions += [ops.quote_name(f.column) for f in self.where]
        sql = "UPDATE {} SET {} WHERE {}".format(  # noqa: S608 - the model's quoted names
            ops.quote_name(meta.db_table),
            ", ".join(sets),
            " AND ".join(f"{column} = %s" for column in conditions),
        )
        self.by_alias[alias] = sql
        return sql

    def update(self, obj: Model, *where: Any) -> int:
        """Write the fields' current values of `obj` (the row by primary key, and `where`: the
        values of the constructor's `where` columns); the number of rows changed (0 or 1)."""
        if len(where) != len(self.where):
            raise TypeError(f"{len(self.where)} condition value(s) expected, {len(where)} given")
        alias = router.db_for_write(self.model, instance=obj)
        connection = connections[alias]
        sql = self.by_alias.get(alias) or self.prepare(alias)
        params = [f.get_db_prep_save(f.pre_save(obj, False), connection) for f in self.fields]
        params.append(self.model._meta.pk.get_db_prep_value(obj.pk, connection))
        params += [
            field.get_db_prep_value(value, connection)
            for field, value in zip(self.where, where, strict=True)
        ]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return int(cursor.rowcount)
