"""Periodic call work, run by the task worker."""

from __future__ import annotations

from django_tasks import task


@task()
def ring_timeouts() -> int:
    """Each tick: calls that rang too long for their agent go to someone else (RONA)."""
    from .actions import do_ring_timeouts

    return do_ring_timeouts()
