"""The task worker: django-tasks' database worker plus Teamline's periodic jobs.

`teamline worker` runs it as its own process (many of them at scale); in embedded mode
`teamline serve` runs it as a thread of the server. Periodic jobs are enqueued on the same
durable queue; a cache key per time slot keeps several workers from enqueuing the same slot
twice (Redis makes that hold across nodes).
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.core.cache import cache
from django.db import close_old_connections, connections
from django.utils.crypto import get_random_string

from teamline.core import availability

from .periodic import periodic_jobs

logger = logging.getLogger(__name__)


def requeue_stalled_tasks(*, older_than_seconds: int | None = None) -> int:
    """Put tasks back in the queue whose worker died while running them (status RUNNING for
    longer than TEAMLINE["TASK_STALL_SECONDS"]). Teamline's tasks are idempotent, so running
    one again after a crash is safe; nothing is lost. Returns how many were requeued."""
    from datetime import timedelta

    from django.utils import timezone
    from django_tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    seconds = older_than_seconds or settings.TEAMLINE["TASK_STALL_SECONDS"]
    cutoff = timezone.now() - timedelta(seconds=seconds)
    requeued = DBTaskResult.objects.filter(
        status=TaskResultStatus.RUNNING, started_at__lt=cutoff
    ).update(status=TaskResultStatus.READY, started_at=None)
    if requeued:
        logger.warning("requeued %d task(s) whose worker stopped mid-run", requeued)
    return requeued


def enqueue_periodic(now: float | None = None) -> list[str]:
    """Enqueue the periodic jobs (registered by their apps: core/periodic.py) whose slot has
    started. Returns the names enqueued."""
    now = now or time.time()
    every = settings.TEAMLINE["ROUTING_SWEEP_SECONDS"]
    slot = int(now // every)
    enqueued = []
    for name, task in periodic_jobs():
        if cache.add(f"periodic:{name}:{slot}", 1, timeout=every * 2):
            task.enqueue()
            enqueued.append(name)
    if cache.add(f"periodic:requeue_stalled:{slot}", 1, timeout=every * 2):
        requeue_stalled_tasks()
    return enqueued


def run_worker(*, interval: float = 0.2, stop: threading.Event | None = None) -> None:
    from django_tasks_db.management.commands.db_worker import Worker

    worker = Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=get_random_string(32),
        excluded_queue_names=[],
    )
    stop = stop or threading.Event()
    logger.info("task worker started")
    while not stop.is_set():
        try:
            enqueue_periodic()
            worker.run()  # batch mode: runs every ready task, then returns
        except Exception as exc:
            if not availability.is_unavailable_error(exc):
                logger.exception("task worker loop failed; retrying")
            else:
                # The database answers "down" at once now (core/availability.py): without this
                # pause the loop would log a traceback five times a second until it is back.
                logger.warning("task worker: the database is unreachable; retrying")
                stop.wait(availability.PROBE_INTERVAL * 2)
        finally:
            close_old_connections()
        stop.wait(interval)
    connections.close_all()  # this thread's connections; the server goes on without them


def start_embedded_worker() -> threading.Event:
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, kwargs={"stop": stop}, daemon=True, name="tasks")
    thread.start()
    return stop
