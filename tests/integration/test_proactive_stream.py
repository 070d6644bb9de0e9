"""Proactive care's event stream on PostgreSQL + Redis (docs/adr/0007-proactive-event-stream.md):
several consumers share one Redis stream through a consumer group, a batch a dead consumer
held is claimed by another, what Redis lost is published again from the database, and a
`teamline worker` killed with SIGKILL in the middle of a batch loses no event.

Each test uses a stream key of its own on the configured Redis (TEAMLINE_REDIS_URL) and
deletes it afterwards; nothing else on that Redis is touched.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.conf import settings as django_settings
from django.db import close_old_connections, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from teamline.accounts.actions import do_create_api_token
from teamline.core.testing import create_user
from teamline.customers.models import Customer, Identity
from teamline.proactive import stream
from teamline.proactive.builtin import DATA_CAP_80, DATA_CAP_100
from teamline.proactive.models import Event, Notice, Rule, RuleFiring
from teamline.proactive.redis_stream import GROUP, RedisEventStream, _client

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def redis_stream(settings) -> Iterator[str]:
    """A stream key of this test's own, in the redis mode; removed afterwards."""
    if not django_settings.REDIS_URL or connection.vendor != "postgresql":
        pytest.skip("the event stream runs on PostgreSQL + Redis")
    key = f"ingest_test:{uuid.uuid4().hex}"
    settings.TEAMLINE = {
        **settings.TEAMLINE,
        "EVENT_STREAM": "redis",
        "EVENT_STREAM_KEY": key,
        "STREAM_BATCH": 100,
        "STREAM_CLAIM_SECONDS": 1,
        "STREAM_REPUBLISH_SECONDS": 0,
    }
    yield key
    _client(django_settings.REDIS_URL).delete(key)


@pytest.fixture
def client() -> Client:
    admin = create_user("admin", role="admin")
    _, secret = do_create_api_token(admin, name="feed", actor=admin, scopes=["events"])
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def _customers(n: int) -> list[str]:
    phones = [f"+4791{i:06d}" for i in range(n)]
    customers = Customer.objects.bulk_create([Customer(name=f"C{i}") for i in range(n)])
    Identity.objects.bulk_create(
        [
            Identity(customer=c, kind="phone", value=p, verified=True)
            for c, p in zip(customers, phones, strict=True)
        ]
    )
    return phones


def _send(client: Client, phones: list[str], total: int, *, prefix: str = "u") -> None:
    for start in range(0, total, 5_000):
        events = [
            {
                "id": f"{prefix}-{i}",
                "type": "usage",
                "occurred_at": "2026-12-05T09:30:00Z",
                "customer": {"phone": phones[i % len(phones)]},
                "data": {"data_used_mb": i, "data_cap_mb": 20_480},
            }
            for i in range(start, min(total, start + 5_000))
        ]
        response = client.post(
            "/api/v1/events", json.dumps({"events": events}), content_type="application/json"
        )
        assert response.status_code == 202, response.content


def _unevaluated() -> int:
    return Event.objects.filter(evaluated_at__isnull=True).count()


def test_two_consumers_share_the_stream_and_each_batch_goes_to_one(redis_stream, client):
    phones = _customers(50)
    _send(client, phones, 2_000)
    evaluated: dict[str, list[int]] = {"a": [], "b": []}
    stop = threading.Event()

    def consumer(name: str) -> None:
        def recording(ids):
            ids = list(ids)
            done = stream.evaluate_ids(ids)
            evaluated[name].extend(ids)
            return done

        redis = RedisEventStream.from_settings(recording)
        try:
            while not stop.is_set():
                redis.consume_once(name, block_ms=100)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=consumer, args=(n,)) for n in evaluated]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 60
        while _unevaluated() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)

    assert _unevaluated() == 0
    assert evaluated["a"] and evaluated["b"], "both consumers took batches"
    handed = evaluated["a"] + evaluated["b"]
    assert sorted(handed) == sorted(Event.objects.values_list("pk", flat=True))  # each once


def test_a_batch_a_dead_consumer_held_is_claimed_and_evaluated_by_another(redis_stream, client):
    phones = _customers(5)
    _send(client, phones, 100)
    redis = RedisEventStream.from_settings(stream.evaluate_ids)
    # The dead consumer read the entry and never acknowledged it.
    redis.client.xreadgroup(GROUP, "dead", {redis_stream: ">"}, count=1)
    assert redis.pending() == {"dead": 1}
    assert redis.consume_once("alive", block_ms=10) == 0  # not stale yet; nothing new either

    time.sleep(1.2)
    assert redis.consume_once("alive", block_ms=10) == 100

    assert redis.pending() == {}
    assert _unevaluated() == 0
    # The dead consumer holds nothing any more: it is forgotten once idle long enough.
    time.sleep(0.01)
    assert redis.forget_idle_consumers(idle_ms=0) >= 1
    names = {c["name"] for c in redis.client.xinfo_consumers(redis_stream, GROUP)}
    assert b"dead" not in names and "dead" not in names


def test_what_redis_lost_is_published_again_from_the_database(redis_stream, client):
    """Redis keeps the stream in memory only here: a restart loses it. The database still
    holds every event; the sweep publishes the unevaluated ones again."""
    phones = _customers(5)
    _send(client, phones, 300)
    redis = RedisEventStream.from_settings(stream.evaluate_ids)
    redis.client.delete(redis_stream)  # what a Redis restart without persistence does

    assert stream.sweep() == 300
    while redis.consume_once("after-restart", block_ms=10):
        pass

    assert _unevaluated() == 0


class Workers:
    """`teamline worker` processes on the test database and this test's stream."""

    def __init__(self, key: str) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="teamline-ingest-"))
        db = connection.settings_dict
        url = (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
            "DJANGO_SETTINGS_MODULE": "teamline.settings.defaults",
            "TEAMLINE_DATABASE_URL": url,
            "TEAMLINE_REDIS_URL": django_settings.REDIS_URL,
            "TEAMLINE_VAR_DIR": str(self.workdir),
            "TEAMLINE_EVENT_STREAM": "redis",
            "TEAMLINE_EVENT_STREAM_KEY": key,
            "TEAMLINE_STREAM_BATCH": "200",
            "TEAMLINE_STREAM_CLAIM_SECONDS": "2",
            "TEAMLINE_STREAM_POLL_SECONDS": "0.2",
            "TEAMLINE_LOG_LEVEL": "WARNING",
        }
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"worker-{len(self.procs)}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "teamline.cli", "worker", "--interval", "0.2"],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)

    def logs(self) -> str:
        return "\n".join(p.read_text()[-2000:] for p in self.workdir.glob("*.log"))


@pytest.fixture
def workers(redis_stream) -> Iterator[Workers]:
    group = Workers(redis_stream)
    try:
        yield group
    finally:
        group.stop()


def _usage_climbing_past_the_cap(phones: list[str], readings: int) -> list[dict]:
    """Each customer's usage climbing from 4 % to 110 % of the cap over `readings` events,
    interleaved across customers so one customer's events land in many batches."""
    cap = 10_240
    return [
        {
            "id": f"r-{step}-{n}",
            "type": "usage",
            "occurred_at": "2026-12-05T12:00:00Z",
            "customer": {"phone": phone},
            "data": {
                "data_used_mb": round(cap * 1.1 * (step + 1) / readings),
                "data_cap_mb": cap,
                "billing_period": "2026-12",
            },
        }
        for step in range(readings)
        for n, phone in enumerate(phones)
    ]


@pytest.fixture
def data_cap_pair() -> None:
    """The built-in pair as its data migration makes it: a transactional test before this one
    emptied every table when it ended, the migration's rows included."""
    if not Rule.objects.filter(builtin__in=[DATA_CAP_80, DATA_CAP_100]).exists():
        importlib.import_module("teamline.proactive.migrations.0003_data_cap_rules").create(
            django_apps, None
        )


def test_a_worker_killed_in_the_middle_of_a_batch_loses_no_event_and_sends_nothing_twice(
    redis_stream, client, workers, data_cap_pair
):
    """30,000 usage readings of 1,000 customers, each climbing past 80 % and 100 % of the cap,
    under the built-in data-cap pair: after a SIGKILL in the middle of a batch and another
    worker taking over, every event is evaluated and each customer has exactly one reminder
    per threshold."""
    phones = _customers(1_000)
    events = _usage_climbing_past_the_cap(phones, 30)
    for start in range(0, len(events), 5_000):
        body = json.dumps({"events": events[start : start + 5_000]})
        response = client.post("/api/v1/events", body, content_type="application/json")
        assert response.json()["accepted"] == 5_000
    at_80, at_100 = (Rule.objects.get(builtin=key) for key in (DATA_CAP_80, DATA_CAP_100))
    assert at_80.enabled and at_100.enabled
    redis = RedisEventStream.from_settings(stream.evaluate_ids)
    first = workers.start()

    # Catch the worker inside a batch: freeze it, look, and kill it while it holds one (it is
    # the only consumer, so a pending entry is its own).
    held = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and _unevaluated():
        time.sleep(0.05)
        first.send_signal(signal.SIGSTOP)
        held = sum(redis.pending().values())
        if held and RuleFiring.objects.exists():
            first.kill()  # SIGKILL while stopped: no clean-up of any kind
            first.wait(timeout=10)
            break
        first.send_signal(signal.SIGCONT)
    assert held, "never caught the worker inside a batch:\n" + workers.logs()
    assert _unevaluated() > 0, "the kill came too late to matter"

    workers.start()
    deadline = time.monotonic() + 240
    while _unevaluated() and time.monotonic() < deadline:
        time.sleep(0.5)

    assert _unevaluated() == 0, workers.logs()
    assert Event.objects.count() == 30_000
    for rule in (at_80, at_100):
        per_customer = Counter(
            Notice.objects.filter(rule=rule).values_list("customer_id", flat=True)
        )
        assert len(per_customer) == 1_000, rule.name  # nobody missed
        assert set(per_customer.values()) == {1}, rule.name  # nobody twice
        assert RuleFiring.objects.filter(rule=rule).count() == 1_000
    deadline = time.monotonic() + 10
    while redis.pending() and time.monotonic() < deadline:  # the last ack follows the commit
        time.sleep(0.1)
    assert redis.pending() == {}, "the dead worker's batch was claimed and acknowledged"


def test_a_poison_entry_is_acknowledged_and_held_so_the_stream_and_its_sweep_go_on(
    redis_stream, client, monkeypatch
):
    """A batch whose evaluation fails is not left pending in the group (where it was claimed
    again every STREAM_CLAIM_SECONDS and kept the sweep from ever republishing): the entry is
    acknowledged, its events are held for the dead letter's retries (proactive/deadletter.py),
    the next entries are evaluated, and the sweep does not republish the held events."""
    from teamline.proactive import deadletter, engine
    from teamline.proactive.models import FailedBatch, HeldEvent

    phones = _customers(5)
    real = engine.evaluate_batch

    def poisoned(events):
        if any(e.external_id == "p-0" for e in events):
            raise ValueError("the engine trips over p-0")
        return real(events)

    monkeypatch.setattr(stream, "evaluate_batch", poisoned)
    monkeypatch.setattr(deadletter, "evaluate_batch", poisoned)
    _send(client, phones, 100, prefix="p")  # one entry of 100, p-0 among them
    _send(client, phones, 100, prefix="q")  # the next entry
    redis = RedisEventStream.from_settings(stream.evaluate_ids)

    assert redis.consume_once("w", block_ms=100) == 0  # the poisoned entry: held
    assert redis.consume_once("w", block_ms=100) == 100  # the next one goes through
    assert redis.pending() == {}  # both acknowledged
    assert redis.idle()
    batch = FailedBatch.objects.get()
    assert (batch.state, batch.events_count) == ("retrying", 100)
    assert stream.sweep() == 0, "held events are not published again"

    # Its retries fail until the last, which evaluates the 99 good events one by one.
    for _attempt in range(4):
        deadletter.retry_due(now=FailedBatch.objects.get().next_attempt_at)
    batch.refresh_from_db()
    assert (batch.state, batch.events_count) == ("parked", 1)
    assert list(HeldEvent.objects.values_list("event__external_id", flat=True)) == ["p-0"]
    assert _unevaluated() == 1


def test_a_batch_is_read_by_its_keys_whatever_the_statistics_say(redis_stream, client):
    """A worker reads its batch by primary key. Statistics taken while nothing waited (an
    autovacuum ANALYZE on a quiet afternoon) say no event is unevaluated; a burst then fills
    the queue. Had the batch's statements named `evaluated_at IS NULL`, PostgreSQL would read
    them through the partial index of the whole queue and filter it by the batch's ids — every
    batch scanning the entire backlog (measured: 15 s a batch with 36,000 queued)."""
    phones = _customers(50)
    _send(client, phones, 3_000)
    Event.objects.update(evaluated_at=timezone.now())
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE proactive_event")
    Event.objects.update(evaluated_at=None)  # the burst
    ids = list(Event.objects.order_by("pk").values_list("pk", flat=True)[1_000:1_100])

    with CaptureQueriesContext(connection) as captured:
        assert stream.evaluate_ids(ids) == 100

    plans = []
    with connection.cursor() as cursor:
        for query in captured.captured_queries:
            sql = query["sql"]
            if "proactive_event" in sql and sql.lstrip().upper().startswith(("SELECT", "UPDATE")):
                cursor.execute(f"EXPLAIN {sql}")
                plans.append((sql, "\n".join(row[0] for row in cursor.fetchall())))
    assert len(plans) >= 2  # the batch's rows, its mark
    for sql, plan in plans:
        assert "event_unevaluated" not in plan, f"{sql}\n{plan}"
    assert _unevaluated() == 2_900
