"""Periodic routing work, run by the task worker."""

from __future__ import annotations

from django_tasks import task


@task()
def sweep_queues() -> int:
    from .actions import sweep_queues as sweep

    return sweep()


@task()
def wake_snoozed() -> int:
    from teamline.conversations.actions import do_wake_snoozed

    return do_wake_snoozed()
