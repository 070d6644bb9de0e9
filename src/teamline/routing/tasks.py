"""Periodic routing work, run by the task worker."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django_tasks import TaskResultStatus, task
from django_tasks_db.models import DBTaskResult

from teamline.conversations.actions import do_wake_snoozed
from teamline.core.compiled import CompiledOnce


@task()
def sweep_queues() -> int:
    from .tick import sweep_queues as sweep

    return sweep()


@task()
def wake_snoozed() -> int:
    return do_wake_snoozed()


@task()
def push_queue_positions(team_ids: list[int] | None = None) -> int:
    """Tell waiting customers their new place in line and estimated wait: every queue on each
    tick, or the queues of `team_ids` after assignments (routing.eta.after_assignment)."""
    from django.utils import timezone

    from .eta import push_queue_updates

    return push_queue_updates(timezone.now(), team_ids=team_ids)


@task()
def run_appointments() -> dict[str, int]:
    """Each tick: appointment reminders, starts at the slot, and no-shows."""
    from .appointments import process_appointments

    return process_appointments()


# --- Batch routing of deferred arrivals -------------------------------------------------------

# How long one task keeps routing before it hands over to a fresh task (other work runs between).
ROUTE_PENDING_SECONDS = 10.0


def request_batch_routing() -> None:
    """An arrival was enqueued with `defer=True`: make sure a route_pending task is waiting.
    Runs in the arrival's transaction, so the request is as durable as the item (a burst of
    arrivals shares the one waiting task; the periodic tick routes due items anyway)."""
    if not _route_pending_waiting.exists():
        route_pending.enqueue()


def _route_pending_waiting_query() -> QuerySet[DBTaskResult, Any]:
    return DBTaskResult.objects.filter(
        status=TaskResultStatus.READY, task_path=route_pending.module_path
    ).values_list("pk", flat=True)[:1]


@task()
def route_pending() -> int:
    """Decide every due work item, a batch at a time (routing/batch.py). Returns assignments."""
    import time

    from .batch import LINGER_SECONDS, ROUTE_BATCH
    from .batch import route_pending as route_batch

    assigned = 0
    started = time.monotonic()
    while True:
        batch = route_batch()
        assigned += batch.assigned
        if not batch.decided:
            return assigned  # nothing due (claims that did not hold are due again at once)
        if time.monotonic() - started > ROUTE_PENDING_SECONDS:
            request_batch_routing()
            return assigned
        if len(batch.decided) < ROUTE_BATCH:
            # Arrivals are trickling in: let the next batch gather them (cheaper per decision).
            time.sleep(LINGER_SECONDS)


# Asked by every deferred arrival: compiled once (core/compiled.py).
_route_pending_waiting = CompiledOnce(_route_pending_waiting_query, markers=())
