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


@task()
def push_queue_positions() -> int:
    """Each tick: tell waiting customers their new place in line and estimated wait."""
    from django.utils import timezone

    from .eta import push_queue_updates

    return push_queue_updates(timezone.now())


@task()
def run_appointments() -> dict[str, int]:
    """Each tick: appointment reminders, starts at the slot, and no-shows."""
    from .scheduling import process_appointments

    return process_appointments()
