"""The task worker: django-tasks' database worker plus Teamline's periodic jobs.

`teamline worker` runs it as its own process (many of them at scale); in embedded mode
`teamline serve` runs it as a thread of the server. Periodic jobs are enqueued on the same
durable queue; a cache key per time slot keeps several workers from enqueuing the same slot
twice (Redis makes that hold across nodes).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import close_old_connections, connections
from django.utils.crypto import get_random_string

from teamline.core import availability, events

from .periodic import periodic_jobs
from .task_leases import Heartbeat, Lease, default_worker, requeue_orphaned_tasks

logger = logging.getLogger(__name__)

# Under a steady load the worker loop still comes round this often (periodic jobs).
BUSY_TURN_SECONDS = 1.0


def requeue_stalled_tasks(*, older_than_seconds: int | None = None) -> int:
    """Give back the tasks whose worker died while running them (core/task_leases.py: a lease
    not renewed for TEAMLINE["TASK_LEASE_SECONDS"], or a claim by a worker without a lease older
    than TEAMLINE["TASK_STALL_SECONDS"]). Teamline's tasks are idempotent, so running one again
    after a crash is safe; nothing is lost. Returns how many were requeued."""
    return requeue_orphaned_tasks(stall=older_than_seconds)


def enqueue_periodic(now: float | None = None, *, asked: dict[str, int] | None = None) -> list[str]:
    """Enqueue the periodic jobs (registered by their apps: core/periodic.py) whose slot has
    started. Returns the names enqueued.

    The cache decides which worker enqueues a job's slot (an `add` per job). `asked`: the slot
    each job was last asked about by this caller (a worker loop keeps one): a job already asked
    about in this slot is not asked again, as the cache's answer could only be no. A worker
    polls every 0.2 s, so this is one cache round trip per job per slot instead of one per job
    per poll (11 jobs: 55 Redis round trips a second per worker process, busy or not)."""
    now = now or time.time()
    every = settings.TEAMLINE["ROUTING_SWEEP_SECONDS"]
    slot = int(now // every)
    enqueued = []
    for name, task in periodic_jobs():
        if asked is not None and asked.get(name) == slot:
            continue
        if cache.add(f"periodic:{name}:{slot}", 1, timeout=every * 2):
            task.enqueue()
            enqueued.append(name)
        if asked is not None:
            asked[name] = slot
    return enqueued


# Loops an app runs beside the task worker in every worker process (proactive's event
# consumer), registered in its AppConfig.ready: each gets the worker's stop event.
_loops: dict[str, Callable[[threading.Event], None]] = {}


def register_loop(name: str, loop: Callable[[threading.Event], None]) -> None:
    """Run `loop(stop)` in a thread of every worker process until `stop` is set. Registering a
    name again replaces its loop."""
    _loops[name] = loop


def _start_loops(stop: threading.Event) -> list[threading.Thread]:
    threads = []
    for name, loop in _loops.items():
        thread = threading.Thread(target=loop, args=(stop,), daemon=True, name=name)
        thread.start()
        threads.append(thread)
    return threads


def run_worker(
    *, interval: float = 0.2, stop: threading.Event | None = None, embedded: bool = False
) -> None:
    """Run tasks until `stop` is set, under a lease renewed by a heartbeat thread (a killed
    worker's task is run again by another within seconds: core/task_leases.py). It steps back
    while webhooks are being acknowledged: in its own process when embedded in the web
    process, in any web process sharing its Redis otherwise (core/pressure.py)."""
    stop = stop or threading.Event()
    lease = Lease(get_random_string(32))
    worker = default_worker(lease, yield_to_web=True)
    heartbeat = Heartbeat(lease, stop, worker)
    heartbeat.start()
    loops = _start_loops(stop)
    logger.info("task worker %s started", lease.worker_id)
    # A worker process pushes its tasks' events through one event loop of its own (the task
    # goes on at once); embedded in the server, the worker thread keeps the plain path.
    pushes = contextlib.nullcontext() if embedded else events.push_loop()
    asked: dict[str, int] = {}  # enqueue_periodic: the slot each job was last asked about
    try:
        with pushes:
            while not stop.is_set():
                ran = 0
                try:
                    enqueue_periodic(asked=asked)
                    # Every ready task, a claimed batch at a time; back here at least once a
                    # second under load, for the periodic jobs.
                    ran = worker.run_ready(max_seconds=BUSY_TURN_SECONDS)
                except Exception as exc:
                    if not availability.is_unavailable_error(exc):
                        logger.exception("task worker loop failed; retrying")
                    else:
                        # The database answers "down" at once now (core/availability.py): without
                        # this pause the loop would log a traceback five times a second until then.
                        logger.warning("task worker: the database is unreachable; retrying")
                        stop.wait(availability.PROBE_INTERVAL * 2)
                finally:
                    close_old_connections()
                if not ran:  # no pause while tasks are ready: the queue is polled again at once
                    stop.wait(interval)
    finally:  # also on Ctrl+C in `teamline worker`
        stop.set()
        heartbeat.thread.join(timeout=lease.seconds)  # it removes the lease row on its way out
        for thread in loops:
            thread.join(timeout=lease.seconds)
    connections.close_all()  # this thread's connections; the server goes on without them


def start_embedded_worker() -> threading.Event:
    stop = threading.Event()
    thread = threading.Thread(
        target=run_worker, kwargs={"stop": stop, "embedded": True}, daemon=True, name="tasks"
    )
    thread.start()
    return stop
