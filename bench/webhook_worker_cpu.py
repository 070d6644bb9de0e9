"""What processing one stored provider webhook costs the task worker (not a test).

    .venv/bin/python bench/webhook_worker_cpu.py [--db postgresql|sqlite] [--redis-db N]
        [--events 300] [--rounds 3] [--returning] [--profile FILE] [--src OTHER/src] [--json F]

The end-to-end benchmark (bench/webhooks_throughput.py) measures delivered webhooks per second
with the web processes, the workers and PostgreSQL sharing this 2-core machine, so its rate
moves with everything else that runs. This one times the worker's side alone, in one process,
on a fresh scratch database (bench/scratch_db.py): the signed webhooks of the big bench (the
same bodies: Telegram, WhatsApp and Twilio SMS, a third each) are acknowledged through the real
webhook view (Django's test client), then `teamline worker`'s loop (core/task_leases.py
`default_worker`, events pushed through `core.events.push_loop`) runs every ready task. It
reports, per processed webhook: the worker's CPU time (`time.process_time`, which other
processes' load changes far less than wall time), its wall time, the SQL statements it ran and
the transactions PostgreSQL committed (pg_stat_database's xact_commit, every connection of the
database: the worker is the only one).

Traffic: by default every webhook is a new customer's first message (a new customer, a new
conversation handed to the batch router), as in the big bench. `--returning`: each customer
wrote once before (processed and routed, not measured), and the measured webhooks are their
second messages into the conversation that is still open.

`--src` times another checkout's code with this same driver (A/B in one sitting).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BASE_URL = "http://testserver"


def post_hooks(client: Any, hooks: list[Any]) -> None:
    for hook in hooks:
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in hook.headers.items()}
        extra.pop("HTTP_CONTENT_TYPE")
        response = client.post(
            hook.path, data=hook.body, content_type=hook.headers["Content-Type"], **extra
        )
        if response.status_code != 200:
            raise SystemExit(f"{hook.provider} webhook answered {response.status_code}")


def commits() -> int:
    from django.db import connection

    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        )
        (value,) = cursor.fetchone()
    # The statistics are sent by a backend when it goes idle, at most every 10 ms or so.
    return int(value)


def settle_stats() -> int:
    from django.db import connection

    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
    time.sleep(1.2)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
    return commits()


def run_round(rnd: int, events: int, returning: bool, profile: str | None) -> dict[str, Any]:
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django_tasks_db.models import DBTaskResult

    import webhooks_throughput as wh
    from teamline.accounts.models import ChannelKind, Presence
    from teamline.conversations.models import Message
    from teamline.core import events as core_events
    from teamline.core.task_leases import Lease, default_worker
    from teamline.core.testing import create_agent, create_team

    team = create_team(f"Bench {rnd}", region=f"bench{rnd}")
    for i in range(3):
        create_agent(
            f"bench-{rnd}-{i}",
            team=team,
            presence=Presence.AVAILABLE,
            capacity={ChannelKind.CHAT: 1000, ChannelKind.EMAIL: 5, ChannelKind.VOICE: 1},
        )
    seed = wh.django_seed_inboxes(team.pk)
    client = Client()
    lease = Lease(f"bench-{rnd}", seconds=600)
    assert lease.renew()
    worker = default_worker(lease)
    providers = ("telegram", "meta", "twilio")
    with core_events.push_loop():
        if returning:
            first = [
                wh.build_hook(i, 2, providers[i % 3], seed, BASE_URL, who=1)
                for i in range(rnd * events, (rnd + 1) * events)
            ]
            post_hooks(client, first)
            worker.run_ready()
        hooks = [
            wh.build_hook(i, 1, providers[i % 3], seed, BASE_URL)
            for i in range(rnd * events, (rnd + 1) * events)
        ]
        post_hooks(client, hooks)
        before_messages = Message.objects.count()
        ready = DBTaskResult.objects.filter(status="READY").count()
        base = settle_stats()
        reset_queries()
        profiler = cProfile.Profile() if profile else None
        with CaptureQueriesContext(connection) as captured:
            wall0, cpu0, own0 = time.perf_counter(), time.process_time(), time.thread_time()
            if profiler:
                profiler.enable()
            ran = worker.run_ready()
            if profiler:
                profiler.disable()
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            own = time.thread_time() - own0
        committed = settle_stats() - base - 2  # the two reads of the counter
    if profiler and profile:
        profiler.dump_stats(profile)
        with open(profile + ".sql", "w") as handle:
            handle.writelines(q["sql"][:300] + "\n" for q in captured.captured_queries)
    stored = Message.objects.count() - before_messages
    if stored != events:
        raise SystemExit(f"{stored} messages stored for {events} webhooks")
    return {
        "events": events,
        "tasks_ready": ready,
        "tasks_run": ran,
        "cpu_ms_per_event": cpu * 1000 / events,
        "task_thread_cpu_ms_per_event": own * 1000 / events,
        "wall_ms_per_event": wall * 1000 / events,
        "statements_per_event": len(captured.captured_queries) / events,
        "commits_per_event": committed / events if connection.vendor == "postgresql" else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--db-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-db", type=int, default=None, help="Redis cache + layer")
    parser.add_argument("--events", type=int, default=300, help="per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--returning", action="store_true", help="second messages, see above")
    parser.add_argument(
        "--profile", help="cProfile stats of the last round's worker here, its SQL in FILE.sql"
    )
    parser.add_argument("--src", default=str(ROOT / "src"), help="the code to time")
    parser.add_argument("--json", help="also append the result here")
    args = parser.parse_args()

    sys.path.insert(0, str(Path(args.src).resolve()))
    sys.path.insert(1, str(ROOT / "bench"))
    import scratch_db

    redis_url = f"redis://127.0.0.1:6379/{args.redis_db}" if args.redis_db is not None else ""
    with tempfile.TemporaryDirectory(prefix="teamline-whcpu-") as tmp:
        name = scratch_db.configure(
            args.db, args.db_url, Path(tmp), label="whcpu", redis_url=redis_url
        )
        try:
            from django.conf import settings
            from django.core.management import call_command

            settings.DEBUG = False
            call_command("migrate", verbosity=0)
            rounds = []
            for rnd in range(args.rounds):
                last = rnd == args.rounds - 1
                result = run_round(
                    rnd + 1, args.events, args.returning, args.profile if last else None
                )
                print(json.dumps(result), flush=True)
                rounds.append(result)
        finally:
            from django.db import connections

            connections.close_all()
            if name:
                scratch_db.drop(args.db_url, name)
    summary = {
        "bench": "webhook_worker_cpu",
        "db": args.db,
        "src": args.src,
        "returning": args.returning,
        "events": args.events,
        "load": os.getloadavg(),
        "machine": scratch_db.machine(),
        "rounds": rounds,
        "median": {
            key: statistics.median(r[key] for r in rounds)
            for key in ("cpu_ms_per_event", "wall_ms_per_event", "statements_per_event")
        }
        | (
            {"commits_per_event": statistics.median(r["commits_per_event"] for r in rounds)}
            if args.db == "postgresql"
            else {}
        ),
    }
    print(json.dumps(summary["median"]))
    if args.json:
        with open(args.json, "a") as handle:
            handle.write(json.dumps(summary) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
