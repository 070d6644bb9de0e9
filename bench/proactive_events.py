"""Proactive care at scale: usage events through the real ingest endpoint, then rule
evaluation by 1 and 2 `teamline worker` processes, with the built-in data-cap pair on
(not a test).

    .venv/bin/python bench/proactive_events.py [--small] [--events 1000000
        --customers 100000 --crossing 0.1 --db sqlite|postgresql
        --db-url postgres://postgres@127.0.0.1:5432/postgres
        --redis-url redis://127.0.0.1:6379/14 --clients 2 --server-workers 1
        --workers 1,2 --rounds 1 --json out.json]

The default is the issue's size: 1,000,000 events for 100,000 customers. `--small` is 50,000
for 5,000 (a minute or two).

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
   clock, first request to last answer), events per CPU-second of the server's processes
   (utime + stime from /proc, children included) and the p50/p95 of a batch's answer.
2. Evaluation, once per `--workers` count: every event is made unevaluated again and the
   firings and notices of the previous round are removed; N `teamline worker` processes are
   started and, once they are up, the queue is filled (the database queue: the UPDATE that
   clears evaluated_at; with --redis-url on PostgreSQL: the ids published to a Redis stream of
   this run's own key). Reported: events/s (wall) until nothing is left, per worker, and
   events per CPU-second of each worker process over that span — on a shared, loaded
   machine the CPU figure is the honest per-worker capacity; the wall rate depends on what
   else runs. The workers also run the batches' `deliver_notices` tasks meanwhile (their CPU
   is in the figure); after the last event, the time until every notice is decided is
   reported as delivery (waiting at most `--delivery-wait` seconds, 180; what is still
   pending then is reported). Checked: the 80 % and the 100 % reminder (Notice) exist exactly for
   the crossing customers (the set of customer ids, not only the count), once each, and no
   other notice exists. `--rounds N` repeats each worker count N times (medians reported).
   The load average is recorded with each phase.

On PostgreSQL the report also says what the database did (bench/pg_activity.py): per phase,
the CPU of the backends serving each process (the processes name their sessions with
PGAPPNAME), wait events sampled from pg_stat_activity, WAL and table counters, and
`explain_batch`: every statement of one batch with EXPLAIN (ANALYZE, BUFFERS, WAL) at full
size. Between rounds the tables are VACUUMed (no ANALYZE); only the first `--delivery-rounds`
rounds of each worker count wait for delivery. `--keep` / `--reuse NAME` skip seeding and
ingest on a kept database.

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


def _env(app: str = "") -> dict[str, str]:
    """The child's environment; `app` names its PostgreSQL sessions (libpq's PGAPPNAME), so
    the database's CPU and waits are charged to the process they serve (bench/pg_activity.py)."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["DJANGO_SETTINGS_MODULE"] = "teamline.settings.defaults"
    env["TEAMLINE_EMBEDDED_WORKER"] = "0"
    if app:
        env["PGAPPNAME"] = app
    return env


@contextlib.contextmanager
def serve(workdir: Path, processes: int) -> Iterator[tuple[str, int]]:
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
            env=_env("bench-server"),
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
        yield base, proc.pid
    finally:
        _stop(proc)


def cpu_seconds(pgid: int) -> float:
    """utime + stime of every live process of the process group `pgid` (a server and its
    uvicorn children, or one worker), from /proc: no third-party module."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # After the command: state ppid pgrp … utime(12) stime(13) cutime cstime
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total / tick


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


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


def drain_search_index() -> None:
    """Index the seeded customers for the desk's search now: the workers' search loop would
    otherwise do it during the first evaluation round (100,000 customers: minutes of a
    worker's and the database's CPU inside the measured span)."""
    from teamline.search.actions import do_index_pending

    started = time.perf_counter()
    done = 0
    while n := do_index_pending(5_000):
        done += n
    log(f"indexed {done:,} customers for search in {time.perf_counter() - started:.0f} s")


def ingest(
    base: str, server: int, token: str, batches: Iterator[list[dict[str, Any]]], clients: int
) -> dict:
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

    failures: list[BaseException] = []

    def guarded() -> None:
        try:
            client()
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=guarded) for _ in range(clients)]
    load_before = load()
    cpu_before = cpu_seconds(server)
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    cpu = cpu_seconds(server) - cpu_before
    if failures:
        raise RuntimeError(f"ingest failed: {failures[0]!r}")
    timings.sort()
    return {
        "events": counts["accepted"],
        "duplicates": counts["duplicates"],
        "seconds": round(wall, 2),
        "events_per_second": round(counts["accepted"] / wall),
        "server_cpu_seconds": round(cpu, 2),
        "events_per_server_cpu_second": round(counts["accepted"] / cpu) if cpu else None,
        "load_before": load_before,
        "load_after": load(),
        "batch_p50_ms": round(statistics.median(timings) * 1000),
        "batch_p95_ms": round(timings[int(0.95 * (len(timings) - 1))] * 1000),
    }


# --- Evaluation -----------------------------------------------------------------------------


def reset_evaluation(stream_mode: bool) -> float:
    """Back to "ingested, nothing evaluated yet", fast and in the same physical state each
    round: the firings, notices and tasks of the last round go; events still unevaluated (only
    after ingest) are marked evaluated, so nothing is queued while the workers start; with
    the stream, its key goes (the ingest's entries, the last round's acknowledged ones).
    Then VACUUM of the tables the round rewrote — this machine's PostgreSQL runs without
    autovacuum, and without it every round would meet the dead row versions of all the rounds
    before it (each round updates every event twice: the requeue and the mark). Not ANALYZE:
    statistics taken now, with every event evaluated, are the ones that once made a batch's
    claim scan the whole queue (docs/benchmarks.md); the engine must not depend on them, and
    the rounds should see what a run without autovacuum sees. Returns the seconds it took."""
    from django.db import connection
    from django_tasks_db.models import DBTaskResult

    from teamline.proactive.models import Event, Notice, RuleFiring

    started = time.perf_counter()
    Notice.objects.all().delete()
    RuleFiring.objects.all().delete()
    DBTaskResult.objects.all().delete()
    Event.objects.filter(evaluated_at__isnull=True).update(evaluated_at=timezone_now())
    if stream_mode:
        import redis
        from django.conf import settings

        redis.Redis.from_url(settings.REDIS_URL).delete(settings.TEAMLINE["EVENT_STREAM_KEY"])
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for model in (Event, RuleFiring, Notice, DBTaskResult):
                cursor.execute(
                    f"VACUUM (ANALYZE) {connection.ops.quote_name(model._meta.db_table)}"
                )
    return time.perf_counter() - started


def evaluate(
    workdir: Path,
    workers: int,
    stream_mode: bool,
    total: int,
    delivery_wait: float,
    monitor: Any = None,
    explain: dict[str, Any] | None = None,
) -> dict:
    """Start `workers` worker processes, fill the queue, time until every event is evaluated
    (wall and each worker's CPU; with `monitor`, the database's CPU and waits), then until
    every notice is decided."""
    from django.db import connections
    from django_tasks_db.models import DBTaskResult

    from teamline.proactive import stream
    from teamline.proactive.models import Event, Notice

    reset_seconds = reset_evaluation(stream_mode)
    connections.close_all()
    procs = []
    for n in range(workers):
        out = (workdir / f"worker-{workers}-{n}.log").open("wb")
        procs.append(
            subprocess.Popen(
                [str(Path(sys.executable).parent / "teamline"), "worker", "--interval", "0.2"],
                env=_env(f"bench-worker-{n}"),
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
    time.sleep(8)  # Django start-up in each worker
    database: dict[str, Any] = {}
    try:
        load_before = load()
        requeue_started = time.perf_counter()
        Event.objects.update(evaluated_at=None)
        requeue_seconds = time.perf_counter() - requeue_started
        if explain is not None and stream_mode:
            # The statements of one batch as the workers are about to run them: every event
            # queued (the workers only take what is published, below).
            explain["batch"] = explain_batch(stream_mode, total)
        cpu_before = [cpu_seconds(p.pid) for p in procs]
        activity = monitor() if monitor is not None else None
        started = time.perf_counter()
        if stream_mode:
            ids = list(Event.objects.order_by("pk").values_list("pk", flat=True))
            stream.publish(ids)
        # "Anything left?" Not a count() of the queue every quarter second: at a million
        # events each one read the whole partial index and the rows behind it — 0.3–0.6 s of
        # the database's CPU (docs/benchmarks.md), most of a core at four a second on a
        # two-core machine. With the stream, its group says when everything was read and
        # acknowledged (an entry is acknowledged after its batch committed); the database
        # confirms once. Without it, an EXISTS through the partial index.
        waiting = Event.objects.filter(evaluated_at__isnull=True, customer__isnull=False)
        redis_stream = stream._redis_stream() if stream_mode else None
        while True:
            if (redis_stream is None or redis_stream.idle()) and not waiting.exists():
                break
            if any(p.poll() is not None for p in procs):
                raise RuntimeError("a worker died:\n" + _tail(workdir, workers))
            time.sleep(0.25)
        wall = time.perf_counter() - started
        cpu = [cpu_seconds(p.pid) - before for p, before in zip(procs, cpu_before, strict=True)]
        if activity is not None:
            database = activity.stop()
        load_after = load()
        log(
            f"evaluated in {wall:.1f} s, worker CPU {[round(c, 1) for c in cpu]} s, database "
            f"{database.get('cpu_seconds')} s; waiting up to {delivery_wait:.0f} s "
            "for the notices"
        )
        undecided = Notice.objects.filter(status="pending")
        delivery_started = time.perf_counter()
        while (
            undecided.exists()
            or DBTaskResult.objects.filter(
                task_path="teamline.proactive.delivery.deliver_notices", status="READY"
            ).exists()
        ) and time.perf_counter() - delivery_started < delivery_wait:
            if any(p.poll() is not None for p in procs):
                raise RuntimeError("a worker died:\n" + _tail(workdir, workers))
            time.sleep(0.25)
        delivery_wall = time.perf_counter() - started
        delivery_tail = time.perf_counter() - delivery_started
        cpu_total = [
            cpu_seconds(p.pid) - before for p, before in zip(procs, cpu_before, strict=True)
        ]
        pending = undecided.count()
    finally:
        for proc in procs:
            _stop(proc)
    notices = Notice.objects.count()
    # The backends serving the workers (not the benchmark's own polling, reported apart).
    backend_cpu = sum(
        seconds
        for name, seconds in (database.get("cpu_seconds") or {}).items()
        if name.startswith("bench-worker")
    )
    return {
        "workers": workers,
        "seconds": round(wall, 2),
        "events_per_second": round(total / wall),
        "per_worker": round(total / wall / workers),
        "worker_cpu_seconds": [round(c, 2) for c in cpu],
        "events_per_worker_cpu_second": round(total / sum(cpu)) if sum(cpu) else None,
        # Worker and database together: the CPU an event costs wherever it is spent.
        "cpu_microseconds_per_event": {
            "workers": round(sum(cpu) / total * 1e6, 1),
            "database": round(backend_cpu / total * 1e6, 1) if database else None,
            "total": round((sum(cpu) + backend_cpu) / total * 1e6, 1) if database else None,
            "benchmark_polling": round(
                (database.get("cpu_seconds") or {}).get("bench-main", 0.0) / total * 1e6, 1
            )
            if database
            else None,
        },
        "load_before": load_before,
        "load_after": load_after,
        "reset_seconds": round(reset_seconds, 2),
        "requeue_seconds": round(requeue_seconds, 2),
        "notices": notices,
        "notices_pending_at_end": pending,
        "notices_decided_after_seconds": round(delivery_wall, 2) if not pending else None,
        "delivery_tail_seconds": round(delivery_tail, 2),
        "worker_cpu_seconds_with_delivery": [round(c, 2) for c in cpu_total],
        "notice_outcomes": dict(Counter(Notice.objects.values_list("status", flat=True))),
        "database": database,
        **check_reminders(),
    }


def explain_batch(stream_mode: bool, total: int, batch: int = 500) -> list[dict[str, Any]]:
    """The statements one batch of evaluation sends, each with its EXPLAIN (ANALYZE, BUFFERS,
    WAL) at full size — run on the batch 80 % into the stream (the climbers cross 80 % of
    their cap there, so the batch fires), in a transaction that is rolled back. Each
    statement is explained in a savepoint rolled back before it runs for real, so every plan
    sees the state the real statement sees. PostgreSQL only."""
    from django.db import connection, transaction

    from teamline.proactive import stream
    from teamline.proactive.models import Event

    if connection.vendor != "postgresql":
        return []
    start = int(total * 0.8)
    ids = list(Event.objects.order_by("pk").values_list("pk", flat=True)[start : start + batch])
    found: list[dict[str, Any]] = []
    queued = Event.objects.filter(evaluated_at__isnull=True).exists()

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        head = sql.lstrip()[:16].upper()
        if many or not head.startswith(("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")):
            return execute(sql, params, many, context)
        raw = context["cursor"].cursor
        raw.execute("SAVEPOINT bench_explain")
        raw.execute("EXPLAIN (ANALYZE, BUFFERS, WAL, FORMAT JSON) " + sql, params)
        plan = raw.fetchone()[0][0]
        raw.execute("ROLLBACK TO SAVEPOINT bench_explain")
        found.append(_plan_summary(sql, plan))
        return execute(sql, params, many, context)

    with transaction.atomic():
        if not queued:
            Event.objects.filter(pk__in=ids).update(evaluated_at=None)
        with connection.execute_wrapper(wrapper):
            if stream_mode:
                stream.evaluate_ids(ids)
            else:
                stream.evaluate_pending(batch)
        transaction.set_rollback(True)
    return found


def _plan_summary(sql: str, plan: dict[str, Any]) -> dict[str, Any]:
    top = plan["Plan"]
    nodes: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        text = node["Node Type"]
        if node.get("Relation Name"):
            text += f" on {node['Relation Name']}"
        if node.get("Index Name"):
            text += f" using {node['Index Name']}"
        text += f" (rows {node.get('Actual Rows')}, loops {node.get('Actual Loops')})"
        nodes.append(text)
        for child in node.get("Plans") or ():
            walk(child)

    walk(top)
    return {
        "sql": " ".join(sql.split())[:200],
        "execution_ms": round(plan.get("Execution Time", 0.0), 2),
        "planning_ms": round(plan.get("Planning Time", 0.0), 2),
        "rows": top.get("Actual Rows"),
        "shared_hit": top.get("Shared Hit Blocks"),
        "shared_read": top.get("Shared Read Blocks"),
        "shared_dirtied": top.get("Shared Dirtied Blocks"),
        "wal_records": top.get("WAL Records"),
        "wal_fpi": top.get("WAL FPI"),
        "wal_bytes": top.get("WAL Bytes"),
        "plan": nodes,
    }


def timezone_now() -> Any:
    from django.utils import timezone

    return timezone.now()


def _tail(workdir: Path, workers: int) -> str:
    return "\n".join(
        p.read_text(errors="replace")[-2000:] for p in workdir.glob(f"worker-{workers}-*.log")
    )


EXPECTED: dict[str, Any] = {}


def check_reminders() -> dict:
    """The 80 % and the 100 % reminder exist for exactly the crossing customers (by id), once
    each, and no other notice exists."""
    from teamline.proactive.builtin import DATA_CAP_80, DATA_CAP_100
    from teamline.proactive.models import Notice, Rule

    expected: set[int] = EXPECTED["climber_ids"]
    result: dict[str, Any] = {}
    exact = True
    rule_ids = []
    for key in (DATA_CAP_80, DATA_CAP_100):
        rule = Rule.objects.get(builtin=key)
        rule_ids.append(rule.pk)
        per = Counter(Notice.objects.filter(rule=rule).values_list("customer_id", flat=True))
        result[key] = {"customers": len(per), "most_per_customer": max(per.values(), default=0)}
        exact = exact and set(per) == expected and all(n == 1 for n in per.values())
    others = Notice.objects.exclude(rule_id__in=rule_ids).count()
    result["other_notices"] = others
    result["reminders_exact"] = exact and others == 0
    return result


def climber_ids(phones: list[str]) -> set[int]:
    from teamline.core.bulk import in_values
    from teamline.customers.models import Identity

    return set(
        Identity.objects.filter(kind="phone", value__in=in_values(phones)).values_list(
            "customer_id", flat=True
        )
    )


def _commit() -> str:
    if os.environ.get("BENCH_COMMIT"):  # a run from an exported tree (git archive) says so
        return os.environ["BENCH_COMMIT"]
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


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
    parser.add_argument("--rounds", type=int, default=1, help="evaluation rounds per count")
    parser.add_argument("--small", action="store_true", help="50,000 events, 5,000 customers")
    parser.add_argument(
        "--delivery-wait",
        type=float,
        default=180,
        help="seconds to wait after evaluation for the notices to be decided",
    )
    parser.add_argument(
        "--delivery-rounds",
        type=int,
        default=1,
        help="how many rounds per worker count wait for delivery (the others stop at the last "
        "event evaluated: with --rounds 3 the run stays within minutes)",
    )
    parser.add_argument("--json", default="")
    parser.add_argument(
        "--keep", action="store_true", help="keep the PostgreSQL database (its name is logged)"
    )
    parser.add_argument(
        "--reuse",
        default="",
        help="a database a --keep run left (same --events/--customers): skip seeding and ingest",
    )
    args = parser.parse_args()
    if args.small:
        args.events, args.customers = 50_000, 5_000
    if args.events < args.customers:
        parser.error("--events must be at least --customers (one reading each)")
    workdir = Path(tempfile.mkdtemp(prefix="teamline-bench-events-"))
    stream_mode = bool(args.redis_url) and args.db == "postgresql"
    if stream_mode:
        os.environ["TEAMLINE_REDIS_URL"] = args.redis_url
        os.environ["TEAMLINE_EVENT_STREAM_KEY"] = f"bench_events:{os.getpid()}"
    os.environ["PGAPPNAME"] = "bench-main"  # this process's sessions (bench/pg_activity.py)
    name = configure(args.db, args.db_url, workdir, label="events", reuse=args.reuse)
    database_name = name or args.reuse
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
        "commit": _commit(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "load_at_start": load(),
    }
    try:
        from django.core.management import call_command

        monitor = None
        if args.db == "postgresql":
            from bench.pg_activity import PgActivity

            from teamline.proactive.models import Event, Notice, RuleFiring

            dsn = f"{args.db_url.rsplit('/', 1)[0]}/{database_name}"
            tables = tuple(m._meta.db_table for m in (Event, RuleFiring, Notice))

            def monitor() -> Any:
                return PgActivity(dsn, database_name, tables=tables).start()

        log(f"migrating the {args.db} database {database_name}")
        call_command("migrate", verbosity=0)
        if args.reuse:
            from teamline.proactive.models import Event

            phones = [
                f"+4791{i:06d}" if i < 1_000_000 else f"+4741{i:06d}" for i in range(args.customers)
            ]
            report["ingest"] = {"events": Event.objects.count(), "reused": args.reuse}
        else:
            log(f"seeding {args.customers:,} customers")
            phones, token = seed(args.customers)
            drain_search_index()
            log(f"ingesting {args.events:,} events with {args.clients} clients")
            with serve(workdir, args.server_workers) as (base, server):
                activity = monitor() if monitor is not None else None
                report["ingest"] = ingest(
                    base, server, token, readings(phones, args.events, args.crossing), args.clients
                )
            if activity is not None:
                report["ingest"]["database"] = activity.stop()
            log(f"ingest: {report['ingest']}")
        EXPECTED["climber_ids"] = climber_ids(phones[: int(len(phones) * args.crossing)])
        drain_search_index()  # a reused database may hold what a stopped run left
        if report["ingest"]["events"] != args.events:
            raise RuntimeError(f"{report['ingest']['events']} of {args.events} events stored")
        explained: dict[str, Any] = {}
        report["evaluation"] = []
        report["evaluation_median"] = {}
        for workers in [int(n) for n in args.workers.split(",") if n]:
            rounds = []
            for n in range(args.rounds):
                log(f"evaluating with {workers} worker(s), round {n + 1}")
                result = evaluate(
                    workdir,
                    workers,
                    stream_mode,
                    report["ingest"]["events"],
                    args.delivery_wait if n < args.delivery_rounds else 0,
                    monitor,
                    explained if not explained else None,
                )
                if explained.get("batch") and "explain_batch" not in report:
                    report["explain_batch"] = explained["batch"]
                log(f"evaluation: {result}")
                report["evaluation"].append(result)
                rounds.append(result)
            report["evaluation_median"][str(workers)] = {
                key: statistics.median(r[key] for r in rounds)
                for key in ("events_per_second", "events_per_worker_cpu_second", "seconds")
            }
            report["evaluation_median"][str(workers)]["cpu_microseconds_per_event"] = {
                part: statistics.median(r["cpu_microseconds_per_event"][part] or 0 for r in rounds)
                for part in ("workers", "database", "total", "benchmark_polling")
            }
    finally:
        if stream_mode:
            import redis

            redis.Redis.from_url(args.redis_url).delete(os.environ["TEAMLINE_EVENT_STREAM_KEY"])
        if args.keep and name:
            log(f"kept the database {name} (--reuse {name})")
        else:
            drop(args.db_url, name)
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
