"""The periodic jobs the worker enqueues once per slot (core/worker.py.enqueue_periodic).

Core is the bottom layer and imports no app (docs/adr/0005-dependency-direction.md), so it does
not know which jobs exist: each app that owns one registers its task here in its
AppConfig.ready (routing registers its tick, snooze wake-up, appointment run and queue-position
pushes). Jobs run in registration order, which follows INSTALLED_APPS.
"""

from __future__ import annotations

from typing import Any

from django_tasks.base import Task

_jobs: dict[str, Task[[], Any]] = {}


def register_periodic(name: str, task: Task[[], Any]) -> None:
    """Enqueue `task` (no arguments) once per TEAMLINE["ROUTING_SWEEP_SECONDS"] slot.
    Registering a name again replaces its task (a re-run ready() stays harmless)."""
    _jobs[name] = task


def periodic_jobs() -> list[tuple[str, Task[[], Any]]]:
    return list(_jobs.items())
