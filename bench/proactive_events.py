"""Proactive care at scale: usage events through the real ingest endpoint, then rule
evaluation by 1 and 2 `teamline worker` processes, with the built-in data-cap pair on
(not a test).

    .venv/bin/python bench/proactive_events.py [--events 1000000 --customers 100000
        --crossing 0.1 --db sqlite|postgresql
        --db-url postgres://postgres@127.0.0.1:5432/postgres
        --redis-url redis://127.0.0.1:6379/14 --clients 2 --server-workers 1
        --workers 1,2 --json out.json]

Builds a fresh database (a SQLite file in a temporary directory, or a scratch PostgreSQL
database teamline_bench_events_<pid>, dropped afterwards), migrates it (the data-cap pair is
created enabled by its migration) and bulk-inserts `--customers` customers with a phone
identity each, on a team whose clock is at midday (so no reminder is deferred by quiet hours).

1. Ingest: a real `teamline serve --no-worker` (uvicorn) on a free local port; `--clients`
   threads post batches of 5,000 usage events (`POST /api/v1/events`, an admin token with the
   `events` scope) until `--events` are sent. Each customer gets events/customers readings;
   a `--crossing` share of customers climbs from 4 % to 110 % of the cap (each crosses 80 %
   and 100 % once), the others stay between 10 % and 70 %. Events are interleaved across
   customers, so one customer's readings land in many batches. Reported: events/s (wall
   clock, first request to last answer) and the p50/p95 of a batch's answer.
2. Evaluation, once per `--workers` count: every event is made unevaluated again and the
   firings and notices of the previous round are removed; N `teamline worker` processes are
   started and, once they are up, the queue is filled (the database queue: the UPDATE that
   clears evaluated_at; with --redis-url on PostgreSQL: the ids published to a Redis stream of
   this run's own key). Reported: events/s until nothing is left, and per worker.
   Checked: exactly one 80 % and one 100 % reminder (Notice) per crossing customer and none
   for the others.

With --redis-url, the server and workers use the Redis stream mode (PostgreSQL only; the
stream key is bench_events:<pid> and is deleted afterwards); without it, the database queue.
The full size takes minutes and most of two cores: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench.scratch_db import configure, drop  # noqa: E402

BATCH = 5_000
CAP_MB = 10_240


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["DJANGO_SETTINGS_MODULE"] = "teamline.settings.defaults"
    env["TEAMLINE_EMBEDDED_WORKER"] = "0"
    return env


@contextlib.contextmanager
def serve(workdir: Path, processes: int) -> Iterator[str]:
    """`teamline serve --no-worker` on a free port, with this process's database."""
    import httpx
    from django.db import connections

    connections.close_all()
    port = _free_port()
    log_path = workdir / "server.log"
    command = [str(Path(sys.executable).parent / "teamline"), "serve", "--no-worker"]
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port), "--workers", str(processes)],
            env=_env(),
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{log_path.read_text()[-3000:]}")
            try:
                httpx.get(base + "/api/v1/", timeout=2.0)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield base
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


# --- The world ------------------------------------------------------------------------------


def seed(customers: int) -> tuple[list[str], str]:
    """Customers with a phone identity each, on a team at midday; an admin's events token."""
    from datetime import UTC, datetime

    from teamline.accounts.actions import do_create_api_token, do_create_staff_user
    from teamline.customers.models import Customer, Identity
    from teamline.teams.actions import do_create_team

    offset = (13 - datetime.now(UTC).hour + 12) % 24 - 12
    zone = "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"  # Etc/GMT signs are inverted
    team = do_create_team(name="Bench", slug="bench", timezone=zone, region="Bench")
    admin = do_create_staff_user(username="bench", password="bench-pass-123", role="admin")  # noqa: S106
    _, token = do_create_api_token(admin, name="bench", actor=admin, scopes=["events"])
    phones = [f"+4791{i:06d}" if i < 1_000_000 else f"+4741{i:06d}" for i in range(customers)]
    for start in range(0, customers, 10_000):
        chunk = phones[start : start + 10_000]
        rows = Customer.objects.bulk_create(
            [Customer(name=f"Customer {start + i}", home_team=team) for i in range(len(chunk))]
        )
        Identity.objects.bulk_create(
            [
                Identity(customer=c, kind="phone", value=p, verified=True)
                for c, p in zip(rows, chunk, strict=True)
            ]
        )
    return phones, token


def readings(phones: list[str], total: int, crossing: float) -> Iterator[list[dict[str, Any]]]:
    """Batches of usage events: step by step over all customers (interleaved)."""
    per = max(1, total // len(phones))
    climbers = int(len(phones) * crossing)
    batch: list[dict[str, Any]] = []
    sent = 0
    for step in range(per):
        for n, phone in enumerate(phones):
            if sent == total:
                break
            if n < climbers:
                share = 0.04 + 1.06 * step / max(1, per - 1)
            else:
                share = 0.10 + 0.60 * step / max(1, per - 1)
            batch.append(
                {
                    "id": f"r{step}-{n}",
                    "type": "usage",
                    "occurred_at": "2026-12-05T12:00:00Z",
                    "customer": {"phone": phone},
                    "data": {
                        "data_used_mb": round(CAP_MB * share),
                        "data_cap_mb": CAP_MB,
                        "billing_period": "2026-12",
                    },
                }
            )
            sent += 1
            if len(batch) == BATCH:
                yield batch
                batch = []
    if batch:
        yield batch


def ingest(base: str, token: str, batches: Iterator[list[dict[str, Any]]], clients: int) -> dict:
    import httpx

    lock = threading.Lock()
    timings: list[float] = []
    counts = Counter()

    def client() -> None:
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120
        ) as http:
            while True:
                with lock:
                    batch = next(batches, None)
                if batch is None:
                    return
                body = json.dumps({"events": batch})
                started = time.perf_counter()
                response = http.post(
                    "/api/v1/events", content=body, headers={"Content-Type": "application/json"}
                )
                elapsed = time.perf_counter() - started
                answer = response.json()
                if response.status_code != 202 or answer["rejected"]:
                    raise RuntimeError(f"{response.status_code}: {str(answer)[:300]}")
                with lock:
                    timings.append(elapsed)
                    counts["accepted"] += answer["accepted"]
                    counts["duplicates"] += answer["duplicates"]

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    timings.sort()
    return {
        "events": counts["accepted"],
        "duplicates": counts["duplicates"],
        "seconds": round(wall, 2),
        "events_per_second": round(counts["accepted"] / wall),
        "batch_p50_ms": round(statistics.median(timings) * 1000),
        "batch_p95_ms": round(timings[int(0.95 * (len(timings) - 1))] * 1000),
    }


# --- Evaluation -----------------------------------------------------------------------------


def reset_evaluation() -> None:
    from django_tasks_db.models import DBTaskResult

    from teamline.proactive.models import Notice, RuleFiring

    Notice.objects.all().delete()
    RuleFiring.objects.all().delete()
    DBTaskResult.objects.all().delete()


def evaluate(workdir: Path, workers: int, stream_mode: bool, total: int) -> dict:
    """Start `workers` worker processes, fill the queue, time until every event is evaluated."""
    from django.db import connections

    from teamline.proactive import stream
    from teamline.proactive.models import Event

    Event.objects.update(evaluated_at=timezone_now())  # nothing queued while workers start
    reset_evaluation()
    connections.close_all()
    procs = []
    for n in range(workers):
        out = (workdir / f"worker-{workers}-{n}.log").open("wb")
        procs.append(
            subprocess.Popen(
                [str(Path(sys.executable).parent / "teamline"), "worker", "--interval", "0.2"],
                env=_env(),
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
    time.sleep(8)  # Django start-up in each worker
    try:
        Event.objects.update(evaluated_at=None)
        started = time.perf_counter()
        if stream_mode:
            ids = list(Event.objects.order_by("pk").values_list("pk", flat=True))
            stream.publish(ids)
        while True:
            left = Event.objects.filter(evaluated_at__isnull=True).count()
            if not left:
                break
            if any(p.poll() is not None for p in procs):
                raise RuntimeError("a worker died:\n" + _tail(workdir, workers))
            time.sleep(0.5)
        wall = time.perf_counter() - started
    finally:
        for proc in procs:
            _stop(proc)
    return {
        "workers": workers,
        "seconds": round(wall, 2),
        "events_per_second": round(total / wall),
        "per_worker": round(total / wall / workers),
        **check_reminders(),
    }


def timezone_now() -> Any:
    from django.utils import timezone

    return timezone.now()


def _tail(workdir: Path, workers: int) -> str:
    return "\n".join(
        p.read_text(errors="replace")[-2000:] for p in workdir.glob(f"worker-{workers}-*.log")
    )


EXPECTED: dict[str, int] = {}


def check_reminders() -> dict:
    """Exactly one reminder per threshold per crossing customer, none for anyone else."""
    from teamline.proactive.builtin import DATA_CAP_80, DATA_CAP_100
    from teamline.proactive.models import Notice, Rule

    result: dict[str, Any] = {}
    for key in (DATA_CAP_80, DATA_CAP_100):
        rule = Rule.objects.get(builtin=key)
        per = Counter(Notice.objects.filter(rule=rule).values_list("customer_id", flat=True))
        result[key] = {"customers": len(per), "most_per_customer": max(per.values(), default=0)}
        result[f"{key}_exact"] = len(per) == EXPECTED["climbers"] and max(
            per.values(), default=0
        ) == (1 if EXPECTED["climbers"] else 0)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--crossing", type=float, default=0.1)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--db-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--server-workers", type=int, default=1)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    if args.events < args.customers:
        parser.error("--events must be at least --customers (one reading each)")
    workdir = Path(tempfile.mkdtemp(prefix="teamline-bench-events-"))
    stream_mode = bool(args.redis_url) and args.db == "postgresql"
    if stream_mode:
        os.environ["TEAMLINE_REDIS_URL"] = args.redis_url
        os.environ["TEAMLINE_EVENT_STREAM_KEY"] = f"bench_events:{os.getpid()}"
    name = configure(args.db, args.db_url, workdir, label="events")
    if stream_mode:  # configure() leaves Redis out; this benchmark wants it
        os.environ["TEAMLINE_REDIS_URL"] = args.redis_url
        from django.conf import settings

        settings.REDIS_URL = args.redis_url
        settings.TEAMLINE["EVENT_STREAM"] = "redis"
        settings.TEAMLINE["EVENT_STREAM_KEY"] = os.environ["TEAMLINE_EVENT_STREAM_KEY"]
        os.environ["TEAMLINE_EVENT_STREAM"] = "redis"
    else:
        os.environ["TEAMLINE_EVENT_STREAM"] = "database"
    report: dict[str, Any] = {
        "benchmark": "proactive_events",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "db": args.db,
        "queue": "redis stream" if stream_mode else "database",
        "events": args.events,
        "customers": args.customers,
    }
    try:
        from django.core.management import call_command

        log(f"migrating a fresh {args.db} database")
        call_command("migrate", verbosity=0)
        log(f"seeding {args.customers:,} customers")
        phones, token = seed(args.customers)
        EXPECTED["climbers"] = int(len(phones) * args.crossing)
        log(f"ingesting {args.events:,} events with {args.clients} clients")
        with serve(workdir, args.server_workers) as base:
            report["ingest"] = ingest(
                base, token, readings(phones, args.events, args.crossing), args.clients
            )
        log(f"ingest: {report['ingest']}")
        report["evaluation"] = []
        for workers in [int(n) for n in args.workers.split(",") if n]:
            log(f"evaluating with {workers} worker(s)")
            result = evaluate(workdir, workers, stream_mode, report["ingest"]["events"])
            log(f"evaluation: {result}")
            report["evaluation"].append(result)
    finally:
        if stream_mode:
            import redis

            redis.Redis.from_url(args.redis_url).delete(os.environ["TEAMLINE_EVENT_STREAM_KEY"])
        drop(args.db_url, name)
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
