"""Task worker leases: a killed worker's task runs again within seconds, never twice at once.

django_tasks_db claims a task by setting it RUNNING, stamping `started_at` and appending the
worker's id to `worker_ids`; nothing says whether that worker is still alive. Here:

- every worker (a `teamline worker` process, or the thread embedded in `teamline serve`) has a
  `TaskWorker` row whose `beat_at` its heartbeat thread renews from the database's clock every
  `lease / 5` seconds (2 s by default): that is its lease;
- the same heartbeat thread looks for RUNNING tasks whose worker (`worker_ids[-1]`) has not
  renewed for `lease` seconds and gives each back to the queue with a conditional UPDATE
  (`WHERE status = RUNNING AND started_at = <the dead claim's>`), so of several workers
  reaping at once exactly one succeeds, and a task claimed again meanwhile is not touched;
- a worker that cannot renew its own lease stops itself before anyone may take over: its task
  thread refuses every further query of the running task once `0.6 × lease` has passed since
  the last renewal it sent (a database execute wrapper), which is earlier than the `lease` after
  which others take over;
- completions are conditional on the claim too: a worker that comes back after being taken
  over (stopped, partitioned, starved) finds its claim gone and records nothing.

A worker claims up to TEAMLINE["TASK_CLAIM_BATCH"] ready tasks in one transaction (one
SELECT ... FOR UPDATE SKIP LOCKED, one UPDATE: one claim stamp for the batch) and runs them in
claim order. A batch whose worker dies is given back whole; only its first unfinished task
(the one that may have been running) keeps the dead worker's id as an attempt, the others
were never started and lose it. A worker that stops mid-batch gives back what it did not
start at once.

A task that has killed its worker MAX_ATTEMPTS times is marked FAILED instead of being run
again (a task that crashes the process would otherwise kill every worker in turn). Tasks
claimed by a worker without a lease row (django_tasks_db's own `db_worker`) keep the old rule:
given back after TEAMLINE["TASK_STALL_SECONDS"].
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Collection, Iterable
from datetime import timedelta
from traceback import format_exception
from typing import Any

from django.conf import settings
from django.db import (
    DatabaseError,
    IntegrityError,
    OperationalError,
    close_old_connections,
    connection,
)
from django.db.models import BooleanField, ExpressionWrapper, F, Q
from django.db.models.functions import Now
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.compat import TaskContext, task_finished, task_started
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

from .compiled import CompiledUpdate
from .models import TaskWorker
from .pressure import background_pause

logger = logging.getLogger(__name__)

# A task whose worker died this many times (its claims are `worker_ids`) is not run again.
MAX_ATTEMPTS = 5
# Share of the lease after which a worker that could not renew stops its own task's queries.
FENCE_SHARE = 0.6


class LeaseLost(RuntimeError):
    """The worker could not renew its lease in time: its task must not touch the database."""


def lease_seconds() -> float:
    return float(settings.TEAMLINE["TASK_LEASE_SECONDS"])


class Lease:
    """This worker's lease, as the worker itself knows it (monotonic clock).

    `renewed_at` is when the last renewal that succeeded was *sent*: the database stamped
    `beat_at` at or after that moment, so others cannot consider the lease expired before
    `renewed_at + lease` (database time runs at the same rate). `generation` changes whenever
    the lease may have lapsed (a gap longer than the fence, or the row was reaped); a task run
    belongs to the generation it started in and is fenced when it changes.
    """

    def __init__(self, worker_id: str, *, seconds: float | None = None) -> None:
        self.worker_id = worker_id
        self.seconds = seconds if seconds is not None else lease_seconds()
        self.fence_after = self.seconds * FENCE_SHARE
        self.beat_every = self.seconds / 5
        self.generation = 0
        self._renewed_at: float | None = None
        self._lock = threading.Lock()

    def holds(self, generation: int | None = None) -> bool:
        with self._lock:
            if self._renewed_at is None:
                return False
            if generation is not None and generation != self.generation:
                return False
            return time.monotonic() - self._renewed_at < self.fence_after

    def renew(self) -> bool:
        """Renew (or register) the lease row. Returns whether it was renewed."""
        sent = time.monotonic()
        try:
            found = TaskWorker.objects.filter(worker_id=self.worker_id).update(beat_at=Now())
            if not found:
                # First beat, or others reaped the row while this worker was silent.
                with contextlib.suppress(IntegrityError):  # created meanwhile: fine
                    TaskWorker.objects.create(
                        worker_id=self.worker_id,
                        hostname=socket.gethostname()[:255],
                        pid=os.getpid(),
                        beat_at=Now(),
                    )
        except DatabaseError:
            logger.warning("task worker %s could not renew its lease", self.worker_id)
            return False
        with self._lock:
            lapsed = self._renewed_at is None or sent - self._renewed_at >= self.fence_after
            if lapsed or not found:
                self.generation += 1
            self._renewed_at = sent
        return True

    def release(self) -> None:
        """A clean stop: remove the row (the worker is no longer running anything)."""
        with self._lock:
            self._renewed_at = None
        TaskWorker.objects.filter(worker_id=self.worker_id).delete()

    def fence(self, generation: int) -> Fence:
        """A database execute wrapper that refuses queries once this run's lease is gone."""
        return Fence(self, generation)


class Fence:
    """Refuses a task run's queries once its lease is gone, and remembers that it did (a task
    that swallows the error must not be recorded as done)."""

    def __init__(self, lease: Lease, generation: int) -> None:
        self.lease = lease
        self.generation = generation
        self.tripped = False

    def __call__(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        if sql.startswith("ROLLBACK TO SAVEPOINT"):
            # Undoing is always allowed: a refusal inside a savepoint (a task that runs in one
            # transaction) rolls back cleanly instead of replacing its own error.
            return execute(sql, params, many, context)
        if self.tripped or not self.lease.holds(self.generation):
            self.tripped = True
            raise LeaseLost(f"task worker {self.lease.worker_id} lost its lease")
        return execute(sql, params, many, context)


def _claim_filter(task: DBTaskResult) -> Any:
    """The rows that are still this claim: RUNNING with the claim's own start stamp."""
    return DBTaskResult.objects.filter(
        pk=task.pk, status=TaskResultStatus.RUNNING, started_at=task.started_at
    )


# Every task's outcome, written where its claim still holds: compiled once (core/compiled.py).
_write_outcome = CompiledUpdate(
    DBTaskResult,
    ["finished_at", "status", "return_value", "exception_class_path", "traceback"],
    where=["status", "started_at"],
)


def give_back(task: DBTaskResult) -> bool:
    """Put a claimed task back in the queue, if the claim is still current."""
    return bool(_claim_filter(task).update(status=TaskResultStatus.READY, started_at=None))


def give_back_unstarted(tasks: Iterable[DBTaskResult]) -> int:
    """Put claimed tasks that were never started back in the queue, without counting the
    claim as an attempt (their worker id is taken off again), if each claim is still current.
    """
    returned = 0
    for task in tasks:
        returned += _claim_filter(task).update(
            status=TaskResultStatus.READY, started_at=None, worker_ids=task.worker_ids[:-1]
        )
    return returned


# The order a worker runs a claimed batch in: django_tasks_db's queue order, then the id.
CLAIM_ORDER = (F("priority").desc(), F("run_after").asc(), F("enqueued_at").asc(), "pk")


def claim_batch_size() -> int:
    return max(1, int(settings.TEAMLINE.get("TASK_CLAIM_BATCH", 1)))


def requeue_orphaned_tasks(
    *,
    lease: float | None = None,
    stall: float | None = None,
    own: tuple[str, Any] | None = None,
) -> int:
    """Give back the RUNNING tasks whose worker is dead; remove dead workers' lease rows.

    Dead: a lease row not renewed for `lease` seconds (database clock), or, for a worker with
    no row at all, a claim older than `stall` seconds. `own` = (this worker's id, the pk of
    the task it is running now or the pks of the batch it holds, or None): a claim of this
    worker older than `lease` that it does not hold any more is given back too (its outcome
    could not be recorded, say the database was unreachable just then). Each task is requeued
    (or failed after MAX_ATTEMPTS claims) by a conditional UPDATE on its claim, so concurrent
    reapers and a worker finishing at the same moment cannot both win. Returns how many
    were requeued.
    """
    lease = lease if lease is not None else lease_seconds()
    stall = stall if stall is not None else settings.TEAMLINE["TASK_STALL_SECONDS"]
    running = list(
        DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING)
        .order_by(*CLAIM_ORDER)
        .values_list("pk", "worker_ids", "started_at")
    )
    cutoff = Now() - timedelta(seconds=lease)
    stale_rows = TaskWorker.objects.filter(beat_at__lt=cutoff)
    if not running:
        if stale_rows.exists():
            stale_rows.delete()
        return 0
    owners = dict(
        TaskWorker.objects.annotate(
            live=ExpressionWrapper(Q(beat_at__gte=cutoff), output_field=BooleanField())
        ).values_list("worker_id", "live")
    )
    stall_cutoff = timezone.now() - timedelta(seconds=stall)
    requeued = failed = 0
    own_id, own_current = own or ("", None)
    # The task(s) this worker holds now: the one running and the rest of its claimed batch.
    if own_current is None:
        own_held: set[str] = set()
    elif isinstance(own_current, (set, frozenset, list, tuple)):
        own_held = {str(pk) for pk in own_current}  # UUIDs or their text
    else:
        own_held = {str(own_current)}
    own_cutoff = timezone.now() - timedelta(seconds=lease)
    # Batches of dead workers already met (in claim order): (owner, claim stamp).
    batches_seen: set[tuple[str, Any]] = set()
    for pk, worker_ids, started_at in running:
        owner: str = worker_ids[-1] if worker_ids else ""
        left_behind = (
            owner == own_id
            and str(pk) not in own_held
            and started_at is not None
            and started_at < own_cutoff
        )
        if owners.get(owner) and not left_behind:
            continue  # its worker is alive (maybe slow): its lease holds
        if owner not in owners and started_at is not None and started_at >= stall_cutoff:
            continue  # a worker without a lease (plain db_worker): only the stall rule applies
        claim = DBTaskResult.objects.filter(
            pk=pk, status=TaskResultStatus.RUNNING, started_at=started_at
        )
        if owner in owners and not left_behind:
            # A dead worker's batch runs in claim order: only its first unfinished task may
            # have been running; the later ones were never started and lose the attempt.
            if (owner, started_at) in batches_seen:
                requeued += claim.update(
                    status=TaskResultStatus.READY, started_at=None, worker_ids=worker_ids[:-1]
                )
                continue
            batches_seen.add((owner, started_at))
        if len(worker_ids) >= MAX_ATTEMPTS:
            failed += claim.update(
                status=TaskResultStatus.FAILED,
                finished_at=timezone.now(),
                exception_class_path=f"{__name__}.WorkerDied",
                traceback=f"its worker died during each of {len(worker_ids)} attempts",
            )
        else:
            requeued += claim.update(status=TaskResultStatus.READY, started_at=None)
    if not all(owners.values()):
        stale_rows.delete()
    if requeued or failed:
        logger.warning(
            "gave back %d task(s) whose worker died mid-run; failed %d after %d attempts",
            requeued,
            failed,
            MAX_ATTEMPTS,
        )
    return requeued


class LeasedWorker(Worker):
    """django_tasks_db's worker, running each task under this worker's lease.

    Claiming is redone here to take a batch per round trip (row locks skipping the locked
    ones + RUNNING + the worker id, as django_tasks_db does for one); running a task is redone
    so that its queries are fenced by the lease and its completion is conditional on the
    claim (see the module docstring).
    """

    def __init__(
        self,
        *,
        lease: Lease,
        yield_to_web: bool = False,
        claim_batch: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(worker_id=lease.worker_id, **kwargs)
        self.lease = lease
        self.yield_to_web = yield_to_web
        self.claim_batch = claim_batch if claim_batch is not None else claim_batch_size()
        self.current_pk: Any = None  # the task being run now (the heartbeat leaves it alone)
        # The claimed batch not finished yet (the heartbeat leaves these alone too).
        self.held: frozenset[str] = frozenset()

    def run(self) -> None:
        """Run every ready task, then return (django_tasks_db's batch mode)."""
        self.run_ready()

    def run_ready(self, *, max_seconds: float | None = None) -> int:
        """Run ready tasks, a claimed batch at a time, until none is ready (or `max_seconds`
        have passed, so that the caller's loop gets a turn); returns how many were run.
        Claims nothing while the lease is not renewed, and stops when it lapses (the heartbeat
        renews it; meanwhile a claim would only be given back, over and over)."""
        if not self.lease.holds():
            return 0
        self.running = True
        started, ran = time.monotonic(), self._run_tasks
        while self.running:
            close_old_connections()
            batch = self._claim()
            if not batch:
                break
            self._run_batch(batch)
            if self.max_tasks is not None and self._run_tasks >= self.max_tasks:
                break
            if max_seconds is not None and time.monotonic() - started >= max_seconds:
                break
        return self._run_tasks - ran

    def _ready(self) -> Any:
        tasks = DBTaskResult.objects.ready().filter(backend_name=self.backend_name)
        if not self.process_all_queues:
            tasks = tasks.filter(queue_name__in=self.queue_names)
        if self.excluded_queue_names:
            tasks = tasks.exclude(queue_name__in=self.excluded_queue_names)
        return tasks

    def _claim(self) -> list[DBTaskResult]:
        """Claim up to `claim_batch` ready tasks in one transaction, in queue order: one locked
        read (rows other workers hold are skipped) and one UPDATE per distinct attempt history
        (almost always one). The batch shares one claim stamp (`started_at`)."""
        size = self.claim_batch
        if self.max_tasks is not None:
            size = max(1, min(size, self.max_tasks - self._run_tasks))
        tasks = self._ready()
        with exclusive_transaction(tasks.db):
            try:
                batch = list(
                    tasks.select_for_update(skip_locked=True).order_by(*CLAIM_ORDER)[:size]
                )
            except OperationalError as exc:
                if is_locked_database_exception(exc):  # SQLite busy: try again next round
                    return []
                raise
            if not batch:
                return []
            now = timezone.now()
            histories: dict[tuple[str, ...], list[DBTaskResult]] = {}
            for task in batch:
                histories.setdefault(tuple(task.worker_ids), []).append(task)
            for history, same in histories.items():
                worker_ids = [*history, self.worker_id]
                DBTaskResult.objects.filter(pk__in=[t.pk for t in same]).update(
                    status=TaskResultStatus.RUNNING, started_at=now, worker_ids=worker_ids
                )
                for task in same:
                    task.status = TaskResultStatus.RUNNING
                    task.started_at = now
                    task.worker_ids = worker_ids
        return batch

    def _run_batch(self, batch: list[DBTaskResult]) -> None:
        """Run a claimed batch in order; what is left when the worker stops (lease lost, an
        error) goes back to the queue at once, without counting as an attempt."""
        self.held = frozenset(str(task.pk) for task in batch)
        done = 0
        try:
            for task in batch:
                if not self.running:
                    break
                done += 1
                self.run_task(task)
        finally:
            left = batch[done:]
            self.held = frozenset()
            if left:
                try:
                    give_back_unstarted(left)
                except DatabaseError:
                    # Still this worker's claims: its heartbeat gives them back once they are
                    # older than the lease (requeue_orphaned_tasks, `own`).
                    logger.warning(
                        "task worker %s could not give back %d task(s)", self.worker_id, len(left)
                    )

    def run_task(self, db_task_result: DBTaskResult) -> None:
        started = time.monotonic()
        self.current_pk = db_task_result.pk
        try:
            self._run_task(db_task_result)
        finally:
            self.current_pk = None
            if self.yield_to_web:
                # While webhooks are acknowledged (or some were refused a moment ago) in this
                # process, or in a web process sharing this Redis, the worker takes at most a
                # quarter of its process (core/pressure.py). Its backlog is stored; the
                # providers waiting on an ack are not.
                pause = background_pause(time.monotonic() - started)
                if pause:
                    time.sleep(pause)

    def _run_task(self, db_task_result: DBTaskResult) -> None:
        generation = self.lease.generation
        if not self.lease.holds(generation):
            # Claimed while the lease was not (yet, or any more) renewed: let it go at once
            # (never started: not an attempt), and claim nothing more in this batch.
            self.running = False
            give_back_unstarted([db_task_result])
            return
        self.running_task = True
        try:
            task = db_task_result.task
            task_result = db_task_result.task_result
            backend_type = task.get_backend()
            fence = self.lease.fence(generation)
            with connection.execute_wrapper(fence):
                task_started.send(sender=backend_type, task_result=task_result)
                if task.takes_context:
                    value = task.call(
                        TaskContext(task_result=task_result),
                        *task_result.args,
                        **task_result.kwargs,
                    )
                else:
                    value = task.call(*task_result.args, **task_result.kwargs)
            if fence.tripped:  # the task caught LeaseLost itself: its work is not done
                raise LeaseLost(f"task worker {self.lease.worker_id} lost its lease")
            finished = self._finish(db_task_result, value=value)
        except LeaseLost:
            # Others may take the task over now: it goes back unfinished, nothing recorded.
            logger.warning("task %s stopped: lease lost; given back", db_task_result.pk)
            self.running = False
            give_back(db_task_result)
            return
        except BaseException as exc:  # a task's failure is recorded, as upstream does
            finished = self._finish(db_task_result, error=exc)
        finally:
            self.running_task = False
            self._run_tasks += 1
        if finished:
            try:
                task_finished.send(
                    sender=type(db_task_result.task.get_backend()),
                    task_result=db_task_result.task_result,
                )
            except Exception:
                logger.exception("task %s: task_finished handler failed", db_task_result.pk)
        else:
            logger.warning(
                "task %s finished after its claim was taken over; result discarded",
                db_task_result.pk,
            )

    def _finish(
        self, task: DBTaskResult, *, value: Any = None, error: BaseException | None = None
    ) -> bool:
        """Record the outcome if the claim is still this worker's. Returns whether it was."""
        now = timezone.now()
        fields: dict[str, Any]
        if error is None:
            fields = {
                "status": TaskResultStatus.SUCCESSFUL,
                "return_value": value,
                "exception_class_path": "",
                "traceback": "",
            }
        else:
            fields = {
                "status": TaskResultStatus.FAILED,
                "return_value": None,
                "exception_class_path": f"{type(error).__module__}.{type(error).__qualname__}",
                "traceback": "".join(format_exception(error)),
            }
        outcome: DBTaskResult = DBTaskResult(pk=task.pk, finished_at=now, **fields)
        for attempt in range(3):
            try:
                # The claim's rows (_claim_filter), by a statement compiled once.
                updated = _write_outcome.update(outcome, TaskResultStatus.RUNNING, task.started_at)
                break
            except (TypeError, ValueError) as exc:  # a return value JSON cannot hold
                if error is not None:
                    raise
                return self._finish(task, error=exc)
            except DatabaseError:
                if attempt == 2:
                    raise
                time.sleep(0.1)
        if updated:
            for name, value_ in fields.items():
                setattr(task, name, value_)
            task.finished_at = now
        return bool(updated)


def default_worker(lease: Lease, *, yield_to_web: bool = False) -> LeasedWorker:
    """The worker Teamline runs (`teamline worker`, the embedded one, the tests'): the default
    queue, every ready task of a round in batches, no start-up delay, no task limit."""
    return LeasedWorker(
        lease=lease,
        yield_to_web=yield_to_web,
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        excluded_queue_names=[],
    )


class Heartbeat:
    """The thread that renews a worker's lease and reaps dead workers' tasks."""

    def __init__(
        self, lease: Lease, stop: threading.Event, worker: LeasedWorker | None = None
    ) -> None:
        self.lease = lease
        self.stop = stop
        self.worker = worker
        self.thread = threading.Thread(
            target=self._run, daemon=True, name=f"lease-{lease.worker_id[:8]}"
        )

    def start(self) -> None:
        self.lease.renew()  # registered before the first claim
        close_old_connections()
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(self.lease.beat_every):
            try:
                self.lease.renew()
                held: Collection[Any] = set()
                if self.worker is not None:
                    held = set(self.worker.held)
                    if self.worker.current_pk is not None:
                        held.add(str(self.worker.current_pk))
                requeue_orphaned_tasks(lease=self.lease.seconds, own=(self.lease.worker_id, held))
            except Exception:
                logger.exception("task lease heartbeat failed; retrying")
            finally:
                close_old_connections()
        try:
            self.lease.release()
        except DatabaseError:
            pass  # the row expires by itself
        finally:
            connection.close()
