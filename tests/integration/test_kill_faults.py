"""kill -9 under inbound load, with real processes: a `teamline serve --no-worker` and a separate
`teamline worker`, on the test database (PostgreSQL + Redis in the integration run).

Telegram updates, signed with the bot's secret token, are posted all along; an update that is
not answered 200 (connection refused or cut while the web process is down) is posted again,
as Telegram does. Afterwards every update is exactly one message: nothing lost, nothing twice.
The worker killed in the middle of a task has that task run again, by its replacement, within
30 s (the lease, not the 600 s stall time). Loopback only; each test stops by itself.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.db import connection
from django_tasks_db.models import DBTaskResult

from teamline.connectors.models import WebhookEvent
from teamline.conversations.models import Direction, Inbox, Message
from teamline.core.task_leases import CLAIM_ORDER
from teamline.core.testing import create_agent, create_team

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
SECRET = "tl_Fault-test-secret_0123456789"
USERS = 7_100_000_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _database_url() -> str:
    """The test database, as the subprocesses must reach it."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    user, host, port = db["USER"], db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


class Cluster:
    """The web and worker processes, started, killed and restarted by the test."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
            "DJANGO_SETTINGS_MODULE": "teamline.settings.defaults",
            "TEAMLINE_DATABASE_URL": _database_url(),
            "TEAMLINE_VAR_DIR": str(workdir),
            "TEAMLINE_EMBEDDED_WORKER": "0",
            "TEAMLINE_LOG_LEVEL": "WARNING",
        }
        self.web: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self._logs: list = []

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("ab")
        self._logs.append(log)
        return subprocess.Popen(
            [sys.executable, "-m", "teamline.cli", *args],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def start_web(self) -> None:
        self.web = self._spawn(
            "web", "serve", "--no-worker", "--host", "127.0.0.1", "--port", str(self.port)
        )
        deadline = time.monotonic() + 60  # collectstatic first; slow on a busy machine
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/desk/login/", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.web.poll() is None, self.tail("web")
            time.sleep(0.2)
        raise AssertionError("web process did not start:\n" + self.tail("web"))

    def start_worker(self) -> None:
        self.worker = self._spawn("worker", "worker", "--interval", "0.1")

    @staticmethod
    def kill(proc: subprocess.Popen[bytes] | None) -> None:
        if proc is not None and proc.poll() is None:
            proc.kill()  # SIGKILL: no clean-up of any kind
            proc.wait(timeout=10)

    def tail(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        for proc in (self.web, self.worker):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.kill(proc)
        for log in self._logs:
            log.close()


class Telegram:
    """Delivers updates to the inbox's webhook like Telegram: again until answered 200."""

    def __init__(self, url: str, inbox: Inbox) -> None:
        self.endpoint = f"{url}/webhooks/telegram/{inbox.public_id}/"
        self.acked: set[int] = set()
        self.attempts = 0
        self.failures = 0
        self._lock = threading.Lock()

    def body(self, n: int) -> bytes:
        user = {"id": USERS + n, "is_bot": False, "first_name": f"Kari {n}"}
        message = {
            "message_id": 1,
            "from": user,
            "chat": {"id": USERS + n, "first_name": f"Kari {n}", "type": "private"},
            "date": int(time.time()),
            "text": f"fault test {n}",
        }
        return json.dumps({"update_id": 900_000 + n, "message": message}).encode()

    def deliver(self, numbers: list[int], deadline: float) -> None:
        """Post each update until it is answered 200 (or the deadline passes)."""
        pending = list(numbers)
        with httpx.Client(timeout=10) as client:
            while pending and time.monotonic() < deadline:
                n = pending.pop(0)
                self.attempts += 1
                try:
                    response = client.post(
                        self.endpoint,
                        content=self.body(n),
                        headers={
                            "Content-Type": "application/json",
                            "X-Telegram-Bot-Api-Secret-Token": SECRET,
                        },
                    )
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    with self._lock:
                        self.acked.add(n)
                else:
                    self.failures += 1
                    pending.append(n)  # Telegram retries later
                    time.sleep(0.05)
                time.sleep(0.01)

    def run(self, total: int, senders: int, deadline: float) -> list[threading.Thread]:
        threads = [
            threading.Thread(
                target=self.deliver, args=(list(range(i, total, senders)), deadline), daemon=True
            )
            for i in range(senders)
        ]
        for thread in threads:
            thread.start()
        return threads


@pytest.fixture
def inbox() -> Inbox:
    team = create_team("Tromsø")
    create_agent("ola", team=team, presence="available")
    inbox = Inbox(name="Fault bot", kind="telegram", default_team=team)
    inbox.credentials = {
        "bot_token": "7012345678:AAFaultTestToken0123456789abcdefghi",
        "secret_token": SECRET,
    }
    inbox.save()
    return inbox


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    workdir = Path(tempfile.mkdtemp(prefix="teamline-faults-"))
    nodes = Cluster(workdir)
    try:
        yield nodes
    finally:
        nodes.stop()


def wait_for(predicate, seconds: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def assert_each_update_is_exactly_one_message(inbox: Inbox, telegram: Telegram, total: int):
    assert telegram.acked == set(range(total)), "some updates were never acknowledged"
    inbound = Message.objects.filter(inbox=inbox, direction=Direction.INBOUND)
    assert wait_for(lambda: inbound.count() >= total, 45), "not every update became a message"
    time.sleep(1)  # a duplicate being processed late would show up now
    external_ids = list(inbound.values_list("external_id", flat=True))
    assert len(external_ids) == total
    assert len(set(external_ids)) == total
    assert WebhookEvent.objects.filter(inbox=inbox).count() == total


def test_killing_the_web_process_under_load_loses_and_duplicates_nothing(inbox, cluster):
    total = 150
    cluster.start_web()
    cluster.start_worker()
    telegram = Telegram(cluster.url, inbox)
    senders = telegram.run(total, senders=4, deadline=time.monotonic() + 75)

    assert wait_for(lambda: len(telegram.acked) >= total // 3, 30)
    cluster.kill(cluster.web)  # kill -9 in the middle of the stream
    cluster.start_web()  # and back, on the same port

    for sender in senders:
        sender.join(timeout=80)
    assert telegram.failures > 0  # the kill was felt: some posts failed and were posted again
    assert_each_update_is_exactly_one_message(inbox, telegram, total)


def test_a_worker_killed_during_a_task_has_it_run_again_within_30_seconds(inbox, cluster):
    total = 120
    cluster.start_web()
    cluster.start_worker()
    first = cluster.worker
    assert first is not None
    telegram = Telegram(cluster.url, inbox)
    senders = telegram.run(total, senders=4, deadline=time.monotonic() + 75)

    # Catch the worker inside a task: freeze it, look, and kill it while it holds one (it is
    # the only worker, so a RUNNING task is its own; it runs its claimed batch in claim order,
    # so the first RUNNING one is the task in progress).
    killed_task = dead_id = None
    deadline = time.monotonic() + 30
    while killed_task is None and time.monotonic() < deadline:
        first.send_signal(signal.SIGSTOP)
        running = list(
            DBTaskResult.objects.filter(status="RUNNING")
            .order_by(*CLAIM_ORDER)
            .values_list("pk", "worker_ids")
        )
        if running:
            killed_task, worker_ids = running[0]
            dead_id = worker_ids[-1]
            first.kill()
            first.wait(timeout=10)
        else:
            first.send_signal(signal.SIGCONT)
            time.sleep(0.02)
    assert killed_task is not None, "never caught the worker in the middle of a task"
    killed_at = time.monotonic()
    cluster.start_worker()  # its replacement, as a supervisor would start it

    assert wait_for(
        lambda: DBTaskResult.objects.get(pk=killed_task).status == "SUCCESSFUL", 40, step=0.1
    ), "the killed worker's task was not run again:\n" + cluster.tail("worker")
    retried_after = time.monotonic() - killed_at
    print(f"the killed worker's task ran again {retried_after:.1f} s after the kill")
    assert retried_after < 30, f"retried only after {retried_after:.1f} s"
    result = DBTaskResult.objects.get(pk=killed_task)
    assert result.worker_ids[-2:][0] == dead_id and result.worker_ids[-1] != dead_id

    for sender in senders:
        sender.join(timeout=80)
    assert_each_update_is_exactly_one_message(inbox, telegram, total)
