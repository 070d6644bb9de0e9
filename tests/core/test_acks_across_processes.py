"""Acknowledgements first, across processes: with PostgreSQL + Redis the web processes and the
`teamline worker` processes are apart, on the same cores. A web process acknowledging webhooks
marks it in Redis; a worker process reads the mark between tasks and keeps to a quarter of its
process meanwhile, and still gets its work done under a stream of acks that never stops."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django_tasks import task

from teamline.core import pressure
from teamline.core.task_leases import Lease, LeasedWorker, default_worker
from teamline.core.testing import create_team
from teamline.teams.models import Team

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

SRC = Path(__file__).resolve().parents[2] / "src"

# A web process of its own: it starts acknowledging a webhook when told "enter" on its stdin,
# finishes when told "leave", and exits at the end of its input.
WEB_PROCESS = """
import sys, django
django.setup()
from teamline.core import pressure
print("ready", flush=True)
for line in sys.stdin:
    getattr(pressure, line.strip() + "_ack")()
    print("done", flush=True)
"""


@task()
def found_town(name: str) -> None:
    create_team(name)


@pytest.fixture
def shared(settings, monkeypatch):
    """A Redis key of this test's own; the process's mark and reader made afresh."""
    if not django_settings.REDIS_URL:
        pytest.skip("the integration run configures Redis (TEAMLINE_REDIS_URL)")
    settings.CHANNEL_PREFIX = f"test-acks-{uuid.uuid4().hex[:12]}"
    for name, value in [
        ("_mark", None),
        ("_mark_checked", False),
        ("_reader", None),
        ("_reader_checked", False),
        ("_busy_until", 0.0),
        ("_acks_in_flight", 0),
    ]:
        monkeypatch.setattr(pressure, name, value)
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    key = f"{settings.CHANNEL_PREFIX}:acks-in-flight"
    yield client, key
    client.delete(key)


def wait_until(condition, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        threading.Event().wait(0.01)  # not time.sleep: a test may be counting the worker's
    return condition()


def worker(worker_id: str) -> LeasedWorker:
    lease = Lease(worker_id, seconds=30)
    assert lease.renew()
    return default_worker(lease, yield_to_web=True)


def test_a_worker_process_sees_the_acks_of_a_web_process_while_they_are_in_flight(shared):
    client, key = shared
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "teamline.settings.test",
        "TEAMLINE_REDIS_URL": django_settings.REDIS_URL,
        "TEAMLINE_CHANNEL_PREFIX": django_settings.CHANNEL_PREFIX,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
    }
    web = subprocess.Popen(
        [sys.executable, "-c", WEB_PROCESS],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert web.stdin is not None and web.stdout is not None
    try:
        assert web.stdout.readline().strip() == "ready"
        assert not pressure.acks_elsewhere()  # nothing acknowledged yet

        web.stdin.write("enter\n")
        web.stdin.flush()
        assert web.stdout.readline().strip() == "done"
        # A provider waits on that web process: this process, which acknowledges nothing
        # itself, sees it within a read interval or so.
        assert pressure.acks_in_flight() == 0 and not pressure.web_busy()
        assert wait_until(pressure.acks_elsewhere, 1.0)
        # An ack that takes long is still marked after the mark's own expiry (renewed).
        time.sleep(pressure.MARK_TTL_MS / 1000 * 2)
        assert client.exists(key) and pressure.acks_elsewhere()

        web.stdin.write("leave\n")
        web.stdin.flush()
        assert web.stdout.readline().strip() == "done"
        # Acknowledged: the mark lapses by itself, and the worker stops stepping back.
        assert wait_until(lambda: not pressure.acks_elsewhere(), 2.0)
        assert not client.exists(key)
    finally:
        web.stdin.close()
        web.wait(timeout=10)


def test_a_worker_process_takes_a_quarter_while_web_processes_acknowledge(shared, monkeypatch):
    """The pause after each task is the embedded worker's: three times the task's time, 10 ms
    to 0.5 s; none once the mark has lapsed."""
    client, key = shared
    pauses: list[float] = []
    monkeypatch.setattr("teamline.core.task_leases.time.sleep", pauses.append)
    apart = worker("apart")

    found_town.enqueue("Alta")
    apart.run()
    assert pauses == []  # no web process is acknowledging

    client.set(key, b"1", px=5000)  # a web process is (seen within a read interval)
    assert wait_until(pressure.acks_elsewhere)
    found_town.enqueue("Bodø")
    found_town.enqueue("Kirkenes")
    apart.run()
    assert len(pauses) == 2 and all(0.01 <= p <= 0.5 for p in pauses)
    assert Team.objects.filter(name__in=["Alta", "Bodø", "Kirkenes"]).count() == 3

    client.delete(key)
    assert wait_until(lambda: not pressure.acks_elsewhere())
    found_town.enqueue("Vardø")
    apart.run()
    assert len(pauses) == 2


def test_a_worker_process_still_gets_its_work_done_under_acks_that_never_stop(shared):
    """A web process that acknowledges without a break (its mark renewed all along) slows the
    worker down; it never stops it: every stored task is run, each after a bounded pause."""
    client, key = shared
    stop = threading.Event()

    def acknowledging_without_a_break() -> None:
        while not stop.is_set():
            client.set(key, b"1", px=pressure.MARK_TTL_MS)
            stop.wait(pressure.MARK_RENEW_SECONDS)

    web = threading.Thread(target=acknowledging_without_a_break, daemon=True)
    web.start()
    try:
        towns = [f"Town {i}" for i in range(6)]
        for name in towns:
            found_town.enqueue(name)
        assert wait_until(pressure.acks_elsewhere, 1.0)
        started = time.monotonic()
        ran = worker("patient").run_ready(max_seconds=20)
        took = time.monotonic() - started
    finally:
        stop.set()
        web.join()
    assert ran == 6
    assert Team.objects.filter(name__in=towns).count() == 6
    # It did step back (at least 10 ms after each task), and not for long (at most 0.5 s each).
    assert 6 * pressure.BACKGROUND_PAUSE_MIN_SECONDS <= took < 6 * 0.5 + 5


def test_without_redis_nothing_is_shared(settings, monkeypatch):
    """SQLite, one process: acks in flight stay the process's own, as before; no thread."""
    settings.REDIS_URL = ""
    for name, value in [("_mark", None), ("_mark_checked", False)]:
        monkeypatch.setattr(pressure, name, value)
    monkeypatch.setattr(pressure, "_reader", None)
    monkeypatch.setattr(pressure, "_reader_checked", False)
    pressure.enter_ack()
    try:
        assert pressure._mark is None
        assert pressure.web_busy() and not pressure.acks_elsewhere()
    finally:
        pressure.leave_ack()


def test_a_redis_that_does_not_answer_never_holds_the_worker_up(settings, monkeypatch):
    """The mark is only a hint: when Redis is down, the worker reads "no acks" at once and
    does not try again for a while."""
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    monkeypatch.setattr(pressure, "_reader", None)
    monkeypatch.setattr(pressure, "_reader_checked", False)
    started = time.monotonic()
    assert not pressure.acks_elsewhere()
    assert not pressure.acks_elsewhere()  # not tried again meanwhile
    assert time.monotonic() - started < pressure.MARK_REDIS_TIMEOUT_SECONDS * 2 + 0.5
    assert pressure.background_pause(0.02) == 0.0
