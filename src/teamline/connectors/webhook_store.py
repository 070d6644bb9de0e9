"""The raw webhook event and its processing task, written with as few statements as the database
allows (connectors.actions.do_store_webhook_event is the action; this is how it writes).

Through the ORM an ack cost two model saves (the event, then django-tasks' `DBTaskResult` via
`enqueue`), each compiled per call, plus the transaction around them: on PostgreSQL four round
trips (INSERT, INSERT, COMMIT, and the pre-existing row read on a duplicate after an
IntegrityError), and on either database about half the ack's CPU (docs/benchmarks.md).
Here the statements are built once per process and only the values change:

- PostgreSQL: one statement, its own transaction. `INSERT … ON CONFLICT DO NOTHING RETURNING
  id` for the event, and in the same statement (a data-modifying CTE) the task row inserted
  `FROM` the event's returned row: a duplicate returns no row and so inserts no task, a new
  event always gets exactly one. Inside a caller's transaction it runs in a savepoint, as the
  ORM path did.
- SQLite: the same INSERT … ON CONFLICT DO NOTHING RETURNING for the event and, when it
  returned a row, one INSERT for the task, in one transaction (SQLite has no DML in a CTE).

Acks arriving together share one write (PostgreSQL, outside a caller's transaction): the
ingest's threads (connectors/ingest.py) each verify their own delivery, then hand the row to
`GROUP`. Whichever thread finds no write under way writes every row waiting then, up to
`MAX_BATCH`, in one multi-row statement (events, then the tasks of the ones that were new,
joined back on the unique key) and wakes their threads; rows that came meanwhile go in the next
write, which the first of them makes. A lone delivery is written at once, as before; under a
burst one connection checkout, one round trip and one commit serve many acks. Each thread
answers its provider only after the write holding its row committed. A batch that fails is
written again row by row, so one bad row (an inbox deleted meanwhile) fails only its own ack.

The task row is the one `django_tasks_db.DatabaseBackend.enqueue` writes: its id from the
backend's id function, `args_kwargs` normalised the library's way, the task's priority, path,
queue and backend, `run_after` the library's "no date" (its pre_save handler's value),
`enqueued_at` from the field's own `pre_save`; every value goes through its field's
`get_db_prep_save`, as the ORM's INSERT does. `task_enqueued` is sent after the row is written,
as the backend does. Any other task backend, database or SQLite without RETURNING: None, and
the caller writes through the ORM as before.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from dataclasses import dataclass, field
from typing import Any

from django.db import connections, transaction
from django.db.models import Field, Model
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.compat import normalize_json, task_enqueued
from django_tasks_db.models import DBTaskResult, get_date_max

from .models import WebhookEvent
from .tasks import process_webhook_event

# The unique key a provider's retry hits (WebhookEvent.Meta's webhook_event_unique).
CONFLICT_COLUMNS = ("provider", "inbox_id", "external_id")


@dataclass(frozen=True)
class Statements:
    vendor: str
    event_fields: tuple[Field[Any, Any], ...]
    task_fields: tuple[Field[Any, Any], ...]  # without args_kwargs (set from the event's id)
    event_sql: str  # the event alone (an event stored as already answered: no task)
    event_and_task_sql: str  # PostgreSQL: both in one statement; SQLite: the task's INSERT


_statements: dict[str, Statements] = {}


def _concrete(model: type[Model], *, skip: tuple[str, ...]) -> tuple[Field[Any, Any], ...]:
    return tuple(f for f in model._meta.concrete_fields if f.name not in skip)


def _build(alias: str) -> Statements | None:
    connection = connections[alias]
    vendor = connection.vendor
    if vendor not in ("postgresql", "sqlite"):
        return None
    if vendor == "sqlite" and not connection.features.can_return_columns_from_insert:
        return None

    def q(name: str | None) -> str:
        return str(connection.ops.quote_name(str(name)))

    event_fields = _concrete(WebhookEvent, skip=("id",))  # the database numbers it
    task_fields = _concrete(DBTaskResult, skip=("args_kwargs",))
    event_table = q(WebhookEvent._meta.db_table)
    task_table = q(DBTaskResult._meta.db_table)
    pk = q(WebhookEvent._meta.get_field("id").column)
    # Only quoted model and column names go into the text; every value is a parameter.
    columns = ", ".join(q(f.column) for f in event_fields)
    marks = ", ".join(["%s"] * len(event_fields))
    conflict = ", ".join(q(c) for c in CONFLICT_COLUMNS)
    event_insert = (
        f"INSERT INTO {event_table} ({columns}) VALUES ({marks}) "  # noqa: S608 - quoted names
        f"ON CONFLICT ({conflict}) DO NOTHING RETURNING {pk}"
    )
    args_column = q(DBTaskResult._meta.get_field("args_kwargs").column)
    task_columns = ", ".join([*(q(f.column) for f in task_fields), args_column])
    task_marks = ", ".join(["%s"] * len(task_fields))
    if vendor == "postgresql":
        # normalize_json({"args": [event id], "kwargs": {}}), built from the returned row.
        args = f"jsonb_build_object('args', jsonb_build_array(event.{pk}), 'kwargs', '{{}}'::jsonb)"
        both = (
            f"WITH event AS ({event_insert}), task AS ("  # noqa: S608 - quoted names
            f"INSERT INTO {task_table} ({task_columns}) "
            f"SELECT {task_marks}, {args} FROM event) SELECT {pk} FROM event"
        )
    else:
        both = f"INSERT INTO {task_table} ({task_columns}) VALUES ({task_marks}, %s)"  # noqa: S608
    return Statements(vendor, event_fields, task_fields, event_insert, both)


def _prepared(fields: tuple[Field[Any, Any], ...], row: Model, connection: Any) -> list[Any]:
    """Each field's value as the ORM's INSERT sends it (pre_save: defaults such as auto_now_add)."""
    return [f.get_db_prep_save(f.pre_save(row, True), connection) for f in fields]


def insert_event_and_task(event: WebhookEvent, *, with_task: bool) -> bool | None:
    """Write `event` (unsaved) and, `with_task`, its process_webhook_event task. True: stored
    (event.pk set); False: a provider's retry of a stored event (nothing written); None: not
    supported here (another database or task backend), nothing written."""
    backend = process_webhook_event.get_backend()
    if with_task and type(backend) is not DatabaseBackend:
        return None
    alias = event._state.db or "default"
    if alias not in _statements:
        built = _build(alias)
        if built is None:
            return None
        _statements[alias] = built
    statements = _statements[alias]
    connection = connections[alias]
    task = _new_task(backend) if with_task else None
    if statements.vendor == "postgresql" and not connection.in_atomic_block:
        row = GROUP.submit(Pending(alias, event, task))
    else:
        row = _write_one(statements, connection, event, task)
    if row is None:
        return False
    event.pk = row[0]
    event._state.adding = False
    event._state.db = alias
    if task is not None:
        task.args_kwargs = normalize_json({"args": [event.pk], "kwargs": {}})
        task._state.adding = False
        task._state.db = alias
        task_enqueued.send(type(backend), task_result=task.task_result)
    return True


def _new_task(backend: DatabaseBackend) -> DBTaskResult:
    """The process_webhook_event row `backend.enqueue` would write (args set once stored)."""
    return DBTaskResult(
        id=backend._get_id(),
        args_kwargs=None,
        priority=process_webhook_event.priority,
        task_path=process_webhook_event.module_path,
        queue_name=process_webhook_event.queue_name,
        run_after=process_webhook_event.run_after or get_date_max(),
        backend_name=backend.alias,
    )


def _write_one(
    statements: Statements, connection: Any, event: WebhookEvent, task: DBTaskResult | None
) -> tuple[Any, ...] | None:
    """Write one event (and its task): its id, or None for a provider's retry."""
    params = _prepared(statements.event_fields, event, connection)
    task_params = _prepared(statements.task_fields, task, connection) if task else []
    alias = connection.alias
    with connection.cursor() as cursor:
        if statements.vendor == "postgresql":
            # One statement is its own transaction; inside a caller's, a savepoint keeps a
            # failure from aborting it (as the ORM path's atomic() did).
            nested = connection.in_atomic_block
            with transaction.atomic(using=alias) if nested else contextlib.nullcontext():
                if task is None:
                    cursor.execute(statements.event_sql, params)
                else:
                    cursor.execute(statements.event_and_task_sql, params + task_params)
                row = cursor.fetchone()
        else:
            with transaction.atomic(using=alias):
                cursor.execute(statements.event_sql, params)
                row = cursor.fetchone()
                if row is not None and task is not None:
                    args = {"args": [row[0]], "kwargs": {}}
                    field = DBTaskResult._meta.get_field("args_kwargs")
                    cursor.execute(
                        statements.event_and_task_sql,
                        [*task_params, field.get_db_prep_save(normalize_json(args), connection)],
                    )
    return tuple(row) if row is not None else None


# --- Group commit (PostgreSQL) -----------------------------------------------------------------

# Rows one write takes at most: a burst's acks in flight in a process are bounded well below this
# (connectors/admission.py), so in practice a write takes everything waiting.
MAX_BATCH = 64


@dataclass(eq=False)
class Pending:
    """One delivery waiting for its write: the row (and task), then what the write said."""

    alias: str
    event: WebhookEvent
    task: DBTaskResult | None
    row: tuple[Any, ...] | None = None  # the event's id, None for a provider's retry
    error: BaseException | None = None
    done: bool = False
    wake: threading.Event = field(default_factory=threading.Event)

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.event.provider, self.event.inbox_id, self.event.external_id)

    def outcome(self) -> tuple[Any, ...] | None:
        if self.error is not None:
            raise self.error
        return self.row


class GroupCommit:
    """Writes the rows of deliveries that arrive together with one statement (module docs).

    A thread that finds no write under way writes; the others wait for it. After its write,
    the writer hands the turn to the first row that came meanwhile: that row's own thread
    writes next, so no thread answers later than the write holding its row."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: list[Pending] = []
        self._writing = False
        self.batches = 0  # writes made, and the rows they held (what tests and benches read)
        self.rows = 0

    def submit(self, item: Pending) -> tuple[Any, ...] | None:
        with self._lock:
            self._waiting.append(item)
            turn = not self._writing
            self._writing = True
        if not turn:
            item.wake.wait()  # its row was written, or it is this thread's turn to write
        if not item.done:
            self._write_turn()
        return item.outcome()

    def _write_turn(self) -> None:
        with self._lock:
            batch = self._waiting[:MAX_BATCH]
            del self._waiting[:MAX_BATCH]
        try:
            write_batch(batch)
        except BaseException as exc:  # never leave a waiting thread without an answer
            for item in batch:
                if not item.done and item.error is None:
                    item.error = exc
            raise
        finally:
            with self._lock:
                self.batches += 1
                self.rows += len(batch)
                for item in batch:
                    item.done = True
                    item.wake.set()
                following = self._waiting[0] if self._waiting else None
                self._writing = following is not None
            if following is not None:
                following.wake.set()  # not done: its thread writes next


GROUP = GroupCommit()


def write_batch(batch: list[Pending]) -> None:
    """Write `batch` (one database) in one statement and set each row's outcome; if that
    fails, each row alone, so an error is only its own row's."""
    alias = batch[0].alias
    connection = connections[alias]
    statements = _statements[alias]
    first: dict[tuple[str, int, str], Pending] = {}
    repeats: list[Pending] = []  # the same delivery twice in one batch: one write
    for item in batch:
        if item.key in first:
            repeats.append(item)
        else:
            first[item.key] = item
    unique = list(first.values())
    if len(unique) == 1:
        _write_alone(statements, connection, unique[0])
    else:
        try:
            rows = _write_many(statements, connection, unique)
        except Exception:
            for item in unique:
                _write_alone(statements, connection, item)
        else:
            for item in unique:
                item.row = rows.get(item.key)
    for item in repeats:
        original = first[item.key]
        item.error = original.error
        item.row = None  # the first of the two was the write; this one is its retry


def _write_alone(statements: Statements, connection: Any, item: Pending) -> None:
    try:
        item.row = _write_one(statements, connection, item.event, item.task)
    except Exception as exc:
        item.error = exc


def _write_many(
    statements: Statements, connection: Any, items: list[Pending]
) -> dict[tuple[str, int, str], tuple[Any, ...]]:
    """One statement for all `items`: the events' ids by unique key (new ones only)."""
    with_task = [item for item in items if item.task is not None]
    sql = _batch_sql(connection.alias, len(items), len(with_task))
    params: list[Any] = []
    for item in items:
        params += _prepared(statements.event_fields, item.event, connection)
    if with_task:
        # The task's columns are the same for every row but its id (and args, from the event).
        tasks = [item.task for item in with_task if item.task is not None]
        params += _prepared(statements.task_fields[1:], tasks[0], connection)
        for item, task in zip(with_task, tasks, strict=True):
            params += [*item.key, _prepared(statements.task_fields[:1], task, connection)[0]]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    return {(provider, inbox, external): (pk,) for pk, provider, inbox, external in found}


def _field(model: type[Model], name: str) -> Field[Any, Any]:
    found = model._meta.get_field(name)
    assert isinstance(found, Field)
    return found


@functools.lru_cache(maxsize=256)
def _batch_sql(alias: str, events: int, tasks: int) -> str:
    """`events` event rows and the tasks of `tasks` of them, in one statement (PostgreSQL)."""
    connection = connections[alias]
    statements = _statements[alias]

    def q(name: str | None) -> str:
        return str(connection.ops.quote_name(str(name)))

    event_table = q(WebhookEvent._meta.db_table)
    task_table = q(DBTaskResult._meta.db_table)
    pk = q(WebhookEvent._meta.get_field("id").column)
    keys = [_field(WebhookEvent, name) for name in ("provider", "inbox", "external_id")]
    key_columns = [q(f.column) for f in keys]
    columns = ", ".join(q(f.column) for f in statements.event_fields)
    row = "(" + ", ".join(["%s"] * len(statements.event_fields)) + ")"
    conflict = ", ".join(q(c) for c in CONFLICT_COLUMNS)
    sql = (
        f"WITH event AS (INSERT INTO {event_table} ({columns}) "  # noqa: S608 - quoted names
        f"VALUES {', '.join([row] * events)} ON CONFLICT ({conflict}) DO NOTHING "
        f"RETURNING {pk}, {', '.join(key_columns)})"
    )
    if tasks:
        task_id, *shared = statements.task_fields
        assert task_id.primary_key  # _write_many sends it apart from the shared columns
        args_column = q(DBTaskResult._meta.get_field("args_kwargs").column)
        task_columns = ", ".join([q(task_id.column), *(q(f.column) for f in shared), args_column])
        # Typed placeholders: in a VALUES list outside an INSERT the types are not inferred.
        casts = [f.db_type(connection) for f in keys] + [task_id.db_type(connection)]
        task_row = "(" + ", ".join(f"%s::{cast}" for cast in casts) + ")"
        join = " AND ".join(f"event.{c} = new.k{i}" for i, c in enumerate(key_columns))
        args = f"jsonb_build_object('args', jsonb_build_array(event.{pk}), 'kwargs', '{{}}'::jsonb)"
        sql += (
            f", task AS (INSERT INTO {task_table} ({task_columns}) "  # noqa: S608
            f"SELECT new.id, {', '.join(['%s'] * len(shared))}, {args} "
            f"FROM event JOIN (VALUES {', '.join([task_row] * tasks)}) "
            f"AS new(k0, k1, k2, id) ON {join})"
        )
    return sql + f" SELECT {pk}, {', '.join(key_columns)} FROM event"  # noqa: S608
