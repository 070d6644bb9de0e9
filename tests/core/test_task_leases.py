"""Task worker leases: a task whose worker died runs again within seconds, a slow worker keeps its
task, and a worker that comes back after being taken over records nothing and writes nothing."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tasks import task
from django_tasks_db.models import DBTaskResult

from teamline.core import pressure
from teamline.core.models import TaskWorker
from teamline.core.pressure import note_web_pressure
from teamline.core.task_leases import (
    MAX_ATTEMPTS,
    Lease,
    LeasedWorker,
    LeaseLost,
    default_worker,
    requeue_orphaned_tasks,
)
from teamline.core.testing import create_team
from teamline.core.worker import run_worker
from teamline.teams.models import Team

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

# Worker "paused" blocks on this gate inside the task (as a stopped or starved process would).
paused_gate = threading.Event()


@task(takes_context=True)
def note_team(context, label: str) -> str:
    """A task with a visible effect: a team named after the label and the worker running it."""
    worker = context.task_result.worker_ids[-1]
    if worker == "paused":
        paused_gate.wait(timeout=30)
    create_team(f"{label} by {worker}")
    return worker


@task(takes_context=True)
def note_team_quietly(context, label: str) -> str:
    """Like note_team, but it swallows every error (as careless code may)."""
    if context.task_result.worker_ids[-1] == "paused":
        paused_gate.wait(timeout=30)
    try:
        create_team(label)
    except Exception:
        return "failed quietly"
    return "done"


def make_worker(worker_id: str, *, lease_seconds: float) -> LeasedWorker:
    lease = Lease(worker_id, seconds=lease_seconds)
    assert lease.renew()
    return default_worker(lease)


def claimed_by_a_dead_worker(seconds_silent: float) -> DBTaskResult:
    """A task some worker claimed, then the worker was killed `seconds_silent` ago."""
    result = note_team.enqueue("Oslo")
    TaskWorker.objects.create(
        worker_id="killed", beat_at=timezone.now() - timedelta(seconds=seconds_silent)
    )
    DBTaskResult.objects.filter(pk=result.id).update(
        status="RUNNING", started_at=timezone.now() - timedelta(seconds=seconds_silent + 1)
    )
    DBTaskResult.objects.filter(pk=result.id).update(worker_ids=["killed"])
    return DBTaskResult.objects.get(pk=result.id)


def wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_a_killed_workers_task_is_run_by_another_worker_within_seconds(settings):
    settings.TEAMLINE = {**settings.TEAMLINE, "TASK_LEASE_SECONDS": 1.0}
    claimed = claimed_by_a_dead_worker(seconds_silent=2)

    stop = threading.Event()
    started = time.monotonic()
    thread = threading.Thread(target=run_worker, kwargs={"stop": stop, "interval": 0.05})
    thread.start()
    try:
        done = wait_for(lambda: DBTaskResult.objects.get(pk=claimed.pk).status == "SUCCESSFUL", 10)
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        thread.join(timeout=10)
    assert done, "the dead worker's task was not run again"
    assert elapsed < 5, elapsed  # not TASK_STALL_SECONDS (600 s)
    result = DBTaskResult.objects.get(pk=claimed.pk)
    assert result.worker_ids[0] == "killed" and len(result.worker_ids) == 2
    assert Team.objects.filter(name=f"Oslo by {result.worker_ids[1]}").count() == 1
    assert not TaskWorker.objects.filter(worker_id="killed").exists()  # the dead row is gone
    assert not TaskWorker.objects.exists()  # and the stopped worker removed its own


def test_a_slow_worker_that_still_beats_keeps_its_task():
    result = note_team.enqueue("Bergen")
    TaskWorker.objects.create(worker_id="slow", beat_at=timezone.now())
    DBTaskResult.objects.filter(pk=result.id).update(
        status="RUNNING", started_at=timezone.now() - timedelta(hours=2), worker_ids=["slow"]
    )
    assert requeue_orphaned_tasks(lease=10) == 0
    assert DBTaskResult.objects.get(pk=result.id).status == "RUNNING"


def test_a_task_of_a_worker_without_a_lease_waits_for_the_stall_time():
    """django_tasks_db's own db_worker has no lease row: the old stall rule applies."""
    recent, old = note_team.enqueue("Recent"), note_team.enqueue("Old")
    DBTaskResult.objects.filter(pk=recent.id).update(
        status="RUNNING", started_at=timezone.now(), worker_ids=["plain"]
    )
    DBTaskResult.objects.filter(pk=old.id).update(
        status="RUNNING", started_at=timezone.now() - timedelta(minutes=20), worker_ids=["plain"]
    )
    assert requeue_orphaned_tasks(lease=10, stall=600) == 1
    assert DBTaskResult.objects.get(pk=recent.id).status == "RUNNING"
    assert DBTaskResult.objects.get(pk=old.id).status == "READY"


def test_a_task_that_killed_its_worker_every_time_is_failed_not_run_forever():
    claimed = claimed_by_a_dead_worker(seconds_silent=30)
    DBTaskResult.objects.filter(pk=claimed.pk).update(
        worker_ids=[f"w{i}" for i in range(MAX_ATTEMPTS - 1)] + ["killed"]
    )
    assert requeue_orphaned_tasks(lease=10) == 0
    result = DBTaskResult.objects.get(pk=claimed.pk)
    assert result.status == "FAILED"
    assert "worker died" in result.traceback


def test_a_worker_taken_over_while_paused_writes_nothing_and_records_nothing():
    """Worker "paused" runs a task, then stalls past its lease (a stopped process, a starved
    thread). The task is given back and "fresh" runs it. When "paused" resumes, its next query
    is refused (its lease lapsed) and its claim is no longer its own: one run, one team."""
    paused_gate.clear()
    result = note_team.enqueue("Tromsø")
    paused = make_worker("paused", lease_seconds=1.0)
    thread = threading.Thread(target=paused.run)
    thread.start()
    try:
        assert wait_for(lambda: DBTaskResult.objects.get(pk=result.id).status == "RUNNING", 5)
        time.sleep(1.2)  # no heartbeat: the lease runs out (in the database and for itself)
        assert not paused.lease.holds()
        assert requeue_orphaned_tasks(lease=1.0) == 1

        fresh = make_worker("fresh", lease_seconds=30)
        fresh.run()
        assert DBTaskResult.objects.get(pk=result.id).status == "SUCCESSFUL"
    finally:
        paused_gate.set()  # "paused" resumes
        thread.join(timeout=10)
    after = DBTaskResult.objects.get(pk=result.id)
    assert after.status == "SUCCESSFUL"
    assert after.worker_ids == ["paused", "fresh"]
    assert after.return_value == "fresh"
    assert list(Team.objects.filter(name__startswith="Tromsø").values_list("name", flat=True)) == [
        "Tromsø by fresh"
    ]


def test_a_lease_that_lapsed_and_came_back_still_fences_the_run_it_interrupted():
    """The heartbeat may win the race after a pause and renew first: the interrupted run belongs
    to the old generation and stays fenced; the next run is allowed."""
    lease = Lease("flaky", seconds=0.5)
    assert lease.renew()
    generation = lease.generation
    fence = lease.fence(generation)
    time.sleep(0.4)  # past the fence (0.6 × 0.5 s)
    assert lease.renew()  # renewed again after the gap
    with pytest.raises(LeaseLost), connection.execute_wrapper(fence):
        Team.objects.count()
    with connection.execute_wrapper(lease.fence(lease.generation)):
        assert Team.objects.count() == 0


def test_the_embedded_worker_takes_a_quarter_of_the_process_while_webhooks_are_acknowledged(
    monkeypatch,
):
    """In `teamline serve` the worker shares the process with the requests: while a provider
    waits on an ack, or the web side had to refuse webhooks, it pauses after each task three
    times as long as the task took (at least 10 ms, at most 0.5 s); otherwise it never pauses."""
    monkeypatch.setattr(pressure, "_busy_until", 0.0)  # no pressure left by an earlier test
    pauses: list[float] = []
    monkeypatch.setattr("teamline.core.task_leases.time.sleep", pauses.append)
    embedded = make_worker("embedded", lease_seconds=30)
    embedded.yield_to_web = True

    note_team.enqueue("Alta")
    note_team.enqueue("Bodø")
    embedded.run()  # the web is idle: no pause
    assert pauses == []

    note_team.enqueue("Hammerfest")
    pressure.enter_ack()  # a webhook is being acknowledged
    try:
        embedded.run()
    finally:
        pressure.leave_ack()
    assert len(pauses) == 1 and 0.01 <= pauses[0] <= 0.5
    assert Team.objects.filter(name__startswith="Hammerfest").count() == 1

    note_team.enqueue("Tromsø")
    note_web_pressure()  # webhooks found no room a moment ago
    embedded.run()
    assert len(pauses) == 2


def test_background_work_takes_at_most_a_quarter_of_a_busy_process(monkeypatch):
    monkeypatch.setattr(pressure, "_busy_until", 0.0)  # no pressure left by an earlier test
    assert pressure.background_pause(0.02) == 0.0  # the web is idle
    pressure.enter_ack()
    try:
        assert pressure.background_pause(0.02) == pytest.approx(0.06)  # 0.02 of every 0.08 s
        assert pressure.background_pause(0.0001) == pressure.BACKGROUND_PAUSE_MIN_SECONDS
        assert pressure.background_pause(5.0) == pressure.BACKGROUND_PAUSE_MAX_SECONDS
    finally:
        pressure.leave_ack()
    assert not pressure.web_busy()


def test_a_claim_whose_outcome_could_not_be_recorded_is_given_back_by_its_own_worker():
    """The database was unreachable as the worker finished: the task stayed RUNNING under a
    lease that is still alive. The worker's own heartbeat gives it back once it is older than
    the lease and no longer the one running; the task it is running now stays."""
    left, current = note_team.enqueue("Narvik"), note_team.enqueue("Harstad")
    TaskWorker.objects.create(worker_id="alive", beat_at=timezone.now())
    DBTaskResult.objects.filter(pk__in=[left.id, current.id]).update(
        status="RUNNING", started_at=timezone.now() - timedelta(seconds=30), worker_ids=["alive"]
    )
    assert requeue_orphaned_tasks(lease=10) == 0  # another worker: the lease holds
    assert requeue_orphaned_tasks(lease=10, own=("alive", current.id)) == 1
    assert DBTaskResult.objects.get(pk=left.id).status == "READY"
    assert DBTaskResult.objects.get(pk=current.id).status == "RUNNING"


def test_a_task_that_swallows_the_refusal_is_given_back_not_recorded_as_done():
    paused_gate.clear()
    result = note_team_quietly.enqueue("Vardø")
    paused = make_worker("paused", lease_seconds=0.5)
    thread = threading.Thread(target=paused.run)
    thread.start()
    try:
        assert wait_for(lambda: DBTaskResult.objects.get(pk=result.id).status == "RUNNING", 5)
        time.sleep(0.4)  # the lease lapses while the task waits
    finally:
        paused_gate.set()
        thread.join(timeout=10)
    assert not thread.is_alive()  # it stopped claiming once its lease was gone
    after = DBTaskResult.objects.get(pk=result.id)
    assert after.status == "READY"  # back in the queue, to be run for real
    assert after.worker_ids == ["paused"]  # claimed once, not again and again
    assert not Team.objects.filter(name="Vardø").exists()


# --- Claiming a batch -------------------------------------------------------------------------


@task()
def note_team_then_another(label: str) -> str:
    """A task whose work enqueues a follow-up (as processing enqueues routing)."""
    create_team(label)
    note_team.enqueue(f"{label} 2")
    return label


def test_a_worker_claims_a_batch_in_one_transaction_and_runs_it_in_queue_order():
    results = [note_team.enqueue(city) for city in ("Molde", "Ålesund", "Kristiansund")]
    worker = make_worker("batcher", lease_seconds=30)
    worker.claim_batch = 8
    with CaptureQueriesContext(connection) as claiming:
        batch = worker._claim()
    claim_sql = [q["sql"] for q in claiming.captured_queries if "dbtaskresult" in q["sql"]]
    assert len(claim_sql) == 2, claim_sql  # one locked read, one UPDATE for the three
    assert [str(t.pk) for t in batch] == [r.id for r in results]
    assert {t.started_at for t in batch} == {batch[0].started_at}  # one claim stamp

    worker._run_batch(batch)
    for result in results:
        after = DBTaskResult.objects.get(pk=result.id)
        assert after.status == "SUCCESSFUL" and after.worker_ids == ["batcher"]
    assert Team.objects.filter(name__endswith="by batcher").count() == 3


def test_the_worker_does_not_pause_while_tasks_are_ready(monkeypatch):
    """The worker loop comes round after every batch here (periodic jobs get their turn under
    load): a task's follow-up still runs at once, not after the idle poll interval."""
    monkeypatch.setattr("teamline.core.worker.BUSY_TURN_SECONDS", 0)
    note_team_then_another.enqueue("Kirkenes")
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, kwargs={"stop": stop, "interval": 30})
    started = time.monotonic()
    thread.start()
    try:
        followed = wait_for(
            lambda: Team.objects.filter(name__startswith="Kirkenes 2 by").exists(), 10
        )
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        thread.join(timeout=10)
    assert followed and elapsed < 5, elapsed


def test_a_batch_whose_worker_was_killed_is_given_back_whole_and_run_once():
    """Worker "killed" claimed three tasks and died before finishing the first: all three go
    back; only the first counts the dead worker as an attempt (it may have been running), the
    other two were never started. Another worker then runs each once."""
    results = [note_team.enqueue(city) for city in ("Hamar", "Gjøvik", "Lillehammer")]
    killed = make_worker("killed", lease_seconds=1.0)
    assert len(killed._claim()) == 3
    TaskWorker.objects.filter(worker_id="killed").update(
        beat_at=timezone.now() - timedelta(seconds=5)
    )

    assert requeue_orphaned_tasks(lease=1.0) == 3
    histories = [DBTaskResult.objects.get(pk=r.id).worker_ids for r in results]
    assert histories == [["killed"], [], []]
    assert all(DBTaskResult.objects.get(pk=r.id).status == "READY" for r in results)

    make_worker("fresh", lease_seconds=30).run()
    for city in ("Hamar", "Gjøvik", "Lillehammer"):
        assert list(Team.objects.filter(name__startswith=city).values_list("name", flat=True)) == [
            f"{city} by fresh"
        ]


def test_a_worker_that_loses_its_lease_mid_batch_gives_back_the_rest_at_once():
    """The first task stalls past the lease: it goes back as an attempt, and the two tasks
    behind it in the batch go back untouched, for any worker to claim now."""
    paused_gate.clear()
    first = note_team_quietly.enqueue("Vadsø")
    rest = [note_team.enqueue(city) for city in ("Båtsfjord", "Berlevåg")]
    paused = make_worker("paused", lease_seconds=0.5)
    thread = threading.Thread(target=paused.run)
    thread.start()
    try:
        assert wait_for(lambda: DBTaskResult.objects.get(pk=first.id).status == "RUNNING", 5)
        time.sleep(0.4)  # the lease lapses while the first task waits
    finally:
        paused_gate.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert DBTaskResult.objects.get(pk=first.id).worker_ids == ["paused"]
    for result in rest:
        after = DBTaskResult.objects.get(pk=result.id)
        assert after.status == "READY" and after.worker_ids == []
    assert not Team.objects.exists()


def test_the_heartbeat_leaves_the_batch_its_worker_holds_alone():
    """A long batch: the claims behind the running task are older than the lease, yet still
    this worker's to run — its own heartbeat must not give them back."""
    results = [note_team.enqueue(city) for city in ("Sogndal", "Førde")]
    TaskWorker.objects.create(worker_id="busy", beat_at=timezone.now())
    DBTaskResult.objects.filter(pk__in=[r.id for r in results]).update(
        status="RUNNING", started_at=timezone.now() - timedelta(seconds=30), worker_ids=["busy"]
    )
    held = {str(r.id) for r in results}
    assert requeue_orphaned_tasks(lease=10, own=("busy", held)) == 0
    assert requeue_orphaned_tasks(lease=10, own=("busy", {str(results[0].id)})) == 1
