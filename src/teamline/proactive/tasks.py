"""Proactive care's durable tasks (django-tasks, database backend).

`sweep_events` is periodic (registered in apps.py): it evaluates events the queue has not
evaluated yet — in the embedded mode that is the queue itself; with a stream it hands back to
the stream what never reached it (a crash between commit and publish) —, matches waiting
events whose identity became known while a listener could not run, and tries again the failed
batches whose backoff is over (proactive/deadletter.py).
"""

from __future__ import annotations

from django_tasks import task

from . import deadletter, stream
from .actions import do_match_all_waiting_events
from .detection import detect_suspected_outages as detect


@task()
def sweep_events() -> int:
    return do_match_all_waiting_events() + stream.sweep() + deadletter.retry_due()


@task()
def detect_suspected_outages() -> int:
    """Each tick: count new contacts and network events, raise suspected outages
    (proactive/detection.py)."""
    return len(detect())
