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
from dataclasses import dataclass
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
    task: DBTaskResult | None = None
    task_params: list[Any] = []
    params = _prepared(statements.event_fields, event, connection)
    if with_task:
        task = DBTaskResult(
            id=backend._get_id(),
            args_kwargs=None,
            priority=process_webhook_event.priority,
            task_path=process_webhook_event.module_path,
            queue_name=process_webhook_event.queue_name,
            run_after=process_webhook_event.run_after or get_date_max(),
            backend_name=backend.alias,
        )
        task_params = _prepared(statements.task_fields, task, connection)
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
