"""The analytics app's durable tasks (django-tasks, database backend), harmless when run
twice (a worker that died mid-run is requeued).

    send_due_reports()
        the periodic job: owe and mail the weekly reports that are due (analytics/schedules.py
        says why each week is mailed once)
"""

from __future__ import annotations

from django_tasks import task

from .schedules import do_send_due_reports


@task()
def send_due_reports() -> int:
    return do_send_due_reports()
