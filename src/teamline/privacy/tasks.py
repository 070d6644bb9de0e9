"""The privacy app's durable tasks (django-tasks, database backend), idempotent when run
twice (a worker that died mid-run is requeued).

    erase_customer(customer_id)
        enqueued with the erasure request, in its transaction (privacy/actions.py)
    apply_retention()
        the periodic job: once a day, message bodies past each inbox's retention
"""

from __future__ import annotations

from django_tasks import task

from .actions import do_apply_retention, do_erase_customer


@task()
def erase_customer(customer_id: int) -> str:
    erasure = do_erase_customer(customer_id)
    return erasure.state if erasure is not None else "none"


@task()
def apply_retention() -> int:
    run = do_apply_retention()
    return run.messages_cleared if run is not None else 0
