"""Routing under a surge, on PostgreSQL, through the real persistence path (not a test).

    .venv/bin/python bench/routing_surge.py [--items 20000 --teams 50 --agents 1000
        --workers 2 --sizes 1000,10000,100000 --decisions 300 --profile]

Creates a fresh database teamline_bench_routing_<pid> on postgres://postgres@127.0.0.1:5432
(`--db-url`), migrates it, seeds 50 teams and 1,000 available agents (chat capacity 3), and:

1. Surge: 20,000 chats arrive within one minute (paced: item i is due at i × 60 s / 20,000),
   spread over the teams, handled by `--workers` processes. Each arrival is routed with
   `routing.actions.route_conversation` — the real decision, claim and placement path, one
   transaction per item. The conversations (and their customers) are created beforehand with
   bulk_create, so the timing is routing only: the bulk path skips message storage and
   identity resolution, it does NOT skip any routing work. Meanwhile agents resolve chats
   (`conversations.actions.do_change_status(RESOLVED)`, which closes the work item and calls
   `routing.actions.agent_freed` → `offer_waiting_work`, the agent-driven decision).
2. Queue length: the queue is topped up with bulk-created queued work items (and their queue
   entries) to 1k, 10k and 100k; at each size `--decisions` item-driven decisions
   (route_conversation of a new chat while agents are full, so it is queued) and agent-driven
   ones (an agent resolves a chat and is offered the most urgent waiting work) are timed and
   their SQL queries counted (connection.execute_wrapper).

Prints a Markdown report (and --json). The database is dropped at the end unless --keep.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- Database lifecycle -----------------------------------------------------------------------


def admin_sql(base_url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(f"{base_url}/postgres", autocommit=True) as conn:
        conn.execute(statement)


def setup_django(base_url: str, name: str) -> None:
    os.environ["TEAMLINE_DATABASE_URL"] = f"{base_url}/{name}"
    os.environ.setdefault("TEAMLINE_VAR_DIR", tempfile.mkdtemp(prefix="teamline-bench-"))
    os.environ.pop("TEAMLINE_REDIS_URL", None)  # events go to the in-process layer
    os.environ["DJANGO_SETTINGS_MODULE"] = "teamline.settings.defaults"
    import django

    django.setup()


# --- Measuring --------------------------------------------------------------------------------


class QueryCounter:
    """Counts SQL statements run on the default connection (connection.execute_wrapper)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        self.count += 1
        return execute(sql, params, many, context)


def timed(action: Callable[[], Any]) -> tuple[float, int, Any]:
    from django.db import connection

    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        started = time.perf_counter()
        result = action()
        elapsed = time.perf_counter() - started
    return elapsed, counter.count, result


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def summary(latencies: list[float], queries: list[int]) -> dict[str, float]:
    return {
        "n": len(latencies),
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000 if latencies else float("nan"),
        "queries_mean": statistics.fmean(queries) if queries else float("nan"),
        "queries_min": min(queries) if queries else 0,
        "queries_max": max(queries) if queries else 0,
    }


# --- Seeding ----------------------------------------------------------------------------------


def seed(teams: int, agents: int, capacity: int) -> dict[str, Any]:
    from teamline.accounts.actions import do_create_staff_user, do_set_presence
    from teamline.accounts.models import Presence
    from teamline.connectors.models import Inbox
    from teamline.teams.actions import do_add_team_member, do_create_team
    from teamline.teams.models import Team

    team_ids, inbox_ids, agent_ids = [], [], []
    for t in range(teams):
        team = do_create_team(name=f"Team {t:02d}", slug=f"team-{t:02d}", timezone="UTC")
        team_ids.append(team.pk)
        inbox_ids.append(Inbox.objects.create(name=f"Chat {t:02d}", default_team=team).pk)
    teams_by_id = {team.pk: team for team in Team.objects.all()}
    for a in range(agents):
        user = do_create_staff_user(
            username=f"agent{a:04d}",
            password=None,
            capacity={"chat": capacity, "voice": 1, "email": 5},
        )
        do_add_team_member(teams_by_id[team_ids[a % teams]], user)
        do_set_presence(user, Presence.AVAILABLE, actor=user)
        agent_ids.append(user.pk)
    return {"teams": team_ids, "inboxes": inbox_ids, "agents": agent_ids}


def bulk_conversations(world: dict[str, Any], count: int, offset: int) -> list[int]:
    """`count` open, unassigned chats (one new customer each), spread over the teams."""
    from django.utils import timezone

    from teamline.conversations.models import Conversation
    from teamline.customers.models import Customer

    teams, inboxes = world["teams"], world["inboxes"]
    now = timezone.now()
    ids: list[int] = []
    for start in range(0, count, 5000):
        chunk = range(start, min(start + 5000, count))
        customers = Customer.objects.bulk_create(
            Customer(name=f"c{offset + i}", home_team_id=teams[(offset + i) % len(teams)])
            for i in chunk
        )
        conversations = Conversation.objects.bulk_create(
            Conversation(
                customer=customer,
                inbox_id=inboxes[(offset + i) % len(teams)],
                team_id=teams[(offset + i) % len(teams)],
                channel="webchat",
                channel_kind="chat",
                waiting_since=now,
                last_message_at=now,
            )
            for i, customer in zip(chunk, customers, strict=True)
        )
        ids += [c.pk for c in conversations]
    return ids


def fill_queue(world: dict[str, Any], target: int, offset: int) -> int:
    """Top the queue up to `target` queued work items (bulk: conversations, items, entries),
    as if they had arrived over the last hour. Returns the queue length."""
    from django.utils import timezone

    from teamline.conversations.models import Conversation
    from teamline.routing import engine
    from teamline.routing.models import QueueEntry, WorkItem, WorkState

    queued = WorkItem.objects.filter(state=WorkState.QUEUED).count()
    missing = target - queued
    if missing <= 0:
        return queued
    now = timezone.now()
    conv_ids = bulk_conversations(world, missing, offset)
    for start in range(0, len(conv_ids), 5000):
        chunk = conv_ids[start : start + 5000]
        rows = Conversation.objects.filter(pk__in=chunk).values_list("pk", "customer_id", "team_id")
        items = WorkItem.objects.bulk_create(
            WorkItem(
                conversation_id=pk,
                customer_id=customer_id,
                channel_kind="chat",
                home_team_id=team_id,
                step_index=1,
                step_kind="home_team",
                step_entered_at=now - timedelta(seconds=n % 3600),
                enqueued_at=now - timedelta(seconds=n % 3600),
                rank_at=engine.rank_at(now - timedelta(seconds=n % 3600), "chat", 0, False),
                next_check_at=now + timedelta(hours=1),
                version=1,
            )
            for n, (pk, customer_id, team_id) in enumerate(rows)
        )
        QueueEntry.objects.bulk_create(
            QueueEntry(
                work_item=item, team_id=item.home_team_id, channel_kind="chat", rank_at=item.rank_at
            )
            for item in items
        )
    return WorkItem.objects.filter(state=WorkState.QUEUED).count()


# --- Phase 1: the surge -----------------------------------------------------------------------


def surge_worker(job: dict[str, Any]) -> dict[str, Any]:
    """One process: route its share of the arrivals at their due times, resolving chats of
    its agents meanwhile."""
    from django.db import connection, transaction

    from teamline.accounts.models import User
    from teamline.conversations.actions import do_change_status
    from teamline.conversations.models import Conversation, Status
    from teamline.routing.actions import route_conversation

    connection.close()  # never share the parent's connection
    ids: list[int] = job["conversations"]
    agents = job["agents"]
    due_every = job["window"] / max(job["total"], 1)
    resolve_every = 1.0 / job["resolve_rate"] if job["resolve_rate"] else float("inf")
    started = job["start_at"]
    while time.time() < started:
        time.sleep(0.001)
    route_lat, route_q, offer_lat, offer_q = [], [], [], []
    assigned = 0
    next_resolve = started + resolve_every
    agent_index = 0
    deadline = started + job["time_limit"]
    for n, conv_id in enumerate(ids):
        if time.time() > deadline:
            break  # report what was routed within the time limit
        due = started + (job["first"] + n * job["stride"]) * due_every
        while time.time() < due:
            time.sleep(0.0005)
        conv = Conversation.objects.get(pk=conv_id)

        def route(conv: Conversation = conv) -> int | None:
            with transaction.atomic():
                return route_conversation(conv)

        elapsed, queries, agent_id = timed(route)
        route_lat.append(elapsed)
        route_q.append(queries)
        assigned += agent_id is not None
        # Agents resolve chats over time (freeing capacity → agent-driven offers); at most one
        # per arrival, so a router that falls behind does not spend its time resolving.
        if time.time() >= next_resolve:
            next_resolve += resolve_every
            agent_id = agents[agent_index % len(agents)]
            agent_index += 1
            open_conv = Conversation.objects.filter(
                assignee_id=agent_id, status=Status.OPEN
            ).first()
            if open_conv is None:
                continue
            user = User.objects.get(pk=agent_id)
            elapsed, queries, _ = timed(
                lambda c=open_conv, u=user: do_change_status(c, Status.RESOLVED, actor=u)
            )
            offer_lat.append(elapsed)
            offer_q.append(queries)
    return {
        "route_lat": route_lat,
        "route_q": route_q,
        "offer_lat": offer_lat,
        "offer_q": offer_q,
        "assigned": assigned,
        "finished": time.time(),
    }


def run_surge(world: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from django.db import connections

    conv_ids = bulk_conversations(world, args.items, offset=0)
    connections.close_all()
    workers = max(args.workers, 1)
    start_at = time.time() + 1.0
    jobs = [
        {
            "conversations": conv_ids[w::workers],
            "first": w,
            "stride": workers,
            "total": len(conv_ids),
            "window": args.window,
            "agents": world["agents"][w::workers],
            "resolve_rate": args.resolve_rate / workers,
            "start_at": start_at,
            "time_limit": args.time_limit,
        }
        for w in range(workers)
    ]
    context = multiprocessing.get_context("fork")
    with context.Pool(workers) as pool:
        parts = pool.map(surge_worker, jobs)
    finished = max(part["finished"] for part in parts)
    route_lat = [x for p in parts for x in p["route_lat"]]
    route_q = [x for p in parts for x in p["route_q"]]
    offer_lat = [x for p in parts for x in p["offer_lat"]]
    offer_q = [x for p in parts for x in p["offer_q"]]
    wall = finished - start_at
    return {
        "items": len(conv_ids),
        "routed": len(route_lat),
        "workers": workers,
        "wall_seconds": wall,
        "arrivals_per_second": len(route_lat) / wall,
        "decisions_per_second": (len(route_lat) + len(offer_lat)) / wall,
        "assigned_on_arrival": sum(p["assigned"] for p in parts),
        "route": summary(route_lat, route_q),
        "offer": summary(offer_lat, offer_q),
    }


# --- Phase 2: queries per decision at 1k, 10k, 100k queued ------------------------------------


def measure_at(world: dict[str, Any], size: int, decisions: int, offset: int) -> dict[str, Any]:
    from django.db import transaction

    from teamline.accounts.models import User
    from teamline.conversations.actions import do_change_status
    from teamline.conversations.models import Conversation, Status
    from teamline.routing.actions import route_conversation
    from teamline.routing.models import WorkItem, WorkState

    queued = fill_queue(world, size, offset)
    new_ids = bulk_conversations(world, decisions, offset + size + 1)
    route_lat, route_q, offer_lat, offer_q = [], [], [], []
    users = {u.pk: u for u in User.objects.filter(pk__in=world["agents"])}
    for n, conv_id in enumerate(new_ids):
        conv = Conversation.objects.get(pk=conv_id)

        def route(conv: Conversation = conv) -> int | None:
            with transaction.atomic():
                return route_conversation(conv)

        elapsed, queries, _ = timed(route)
        route_lat.append(elapsed)
        route_q.append(queries)
        # An agent resolves a chat and is offered the most urgent waiting work they may take.
        agent_id = world["agents"][(n * 7) % len(world["agents"])]
        open_conv = Conversation.objects.filter(assignee_id=agent_id, status=Status.OPEN).first()
        if open_conv is not None:
            elapsed, queries, _ = timed(
                lambda c=open_conv, u=users[agent_id]: do_change_status(c, Status.RESOLVED, actor=u)
            )
            offer_lat.append(elapsed)
            offer_q.append(queries)
    return {
        "queued_before": queued,
        "queued_after": WorkItem.objects.filter(state=WorkState.QUEUED).count(),
        "route": summary(route_lat, route_q),
        "offer": summary(offer_lat, offer_q),
    }


def profile_decisions(world: dict[str, Any], count: int, offset: int) -> str:
    import cProfile
    import io
    import pstats

    from django.db import transaction

    from teamline.conversations.models import Conversation
    from teamline.routing.actions import route_conversation

    ids = bulk_conversations(world, count, offset)
    profiler = cProfile.Profile()
    profiler.enable()
    for conv_id in ids:
        with transaction.atomic():
            route_conversation(Conversation.objects.get(pk=conv_id))
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(18)
    return out.getvalue()


# --- Report -----------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as handle:
            ram_kb = int(handle.readline().split()[1])
    except OSError:
        ram_kb = 0
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg = cursor.fetchone()[0]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": round(ram_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "postgres": pg,
        "load_average": os.getloadavg(),
    }


def report(results: dict[str, Any]) -> str:
    m = results["machine"]
    s = results["surge"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, Python {m['python']}, "
        f"PostgreSQL {m['postgres']} (same machine); load average at start "
        f"{', '.join(f'{x:.2f}' for x in m['load_average'])}.",
        "",
        f"**Surge:** {s['items']:,} chats due within {results['window']:g} s to "
        f"{results['teams']} teams and {results['agents']:,} agents (chat capacity "
        f"{results['capacity']}), {s['workers']} worker processes: {s['routed']:,} routed in "
        f"{s['wall_seconds']:.1f} s — {s['arrivals_per_second']:.0f} arrivals/s, "
        f"{s['decisions_per_second']:.0f} decisions/s including "
        f"{s['offer']['n']:,} resolve + offer; {s['assigned_on_arrival']:,} assigned on arrival.",
        "",
        "| decision | n | p50 ms | p99 ms | mean ms | queries (mean, min–max) |",
        "|---|---|---|---|---|---|",
    ]
    for label, row in (
        ("arrival (route_conversation)", s["route"]),
        ("resolve + offer", s["offer"]),
    ):
        lines.append(
            f"| {label} | {row['n']:,} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | "
            f"{row['mean_ms']:.1f} | {row['queries_mean']:.1f} ({row['queries_min']}–"
            f"{row['queries_max']}) |"
        )
    lines += [
        "",
        "**Queue length** (one process, agents full so arrivals are queued):",
        "",
        "| queued | arrival p50 / p99 ms | arrival queries (mean, min–max) | "
        "resolve + offer p50 / p99 ms | resolve + offer queries (mean, min–max) |",
        "|---|---|---|---|---|",
    ]
    for size, row in results["sizes"].items():
        r, o = row["route"], row["offer"]
        lines.append(
            f"| {int(size):,} ({row['queued_before']:,}) | {r['p50_ms']:.1f} / {r['p99_ms']:.1f}"
            f" | {r['queries_mean']:.2f} ({r['queries_min']}–{r['queries_max']}) | "
            f"{o['p50_ms']:.1f} / {o['p99_ms']:.1f} | {o['queries_mean']:.2f} "
            f"({o['queries_min']}–{o['queries_max']}) |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db-url", default=DEFAULT_URL)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--window", type=float, default=60.0, help="seconds the surge lasts")
    parser.add_argument("--teams", type=int, default=50)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--capacity", type=int, default=3, help="chats per agent")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--resolve-rate", type=float, default=50.0, help="chats resolved per second (all agents)"
    )
    parser.add_argument(
        "--time-limit", type=float, default=300.0, help="stop the surge phase after this"
    )
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--decisions", type=int, default=300)
    parser.add_argument("--profile", action="store_true", help="cProfile 500 arrivals")
    parser.add_argument("--json", help="write the raw results here")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()

    name = f"teamline_bench_routing_{os.getpid()}"
    admin_sql(args.db_url, f'CREATE DATABASE "{name}"')
    try:
        setup_django(args.db_url, name)
        from django.core.management import call_command
        from django.db import connections

        log(f"database {name}: migrating")
        call_command("migrate", verbosity=0, interactive=False)
        log(f"seeding {args.teams} teams, {args.agents} agents")
        world = seed(args.teams, args.agents, args.capacity)
        results: dict[str, Any] = {
            "machine": machine(),
            "window": args.window,
            "teams": args.teams,
            "agents": args.agents,
            "capacity": args.capacity,
        }
        log(f"surge: {args.items} arrivals in {args.window:g} s, {args.workers} workers")
        results["surge"] = run_surge(world, args)
        connections.close_all()
        results["sizes"] = {}
        offset = 10_000_000
        for size in (int(x) for x in args.sizes.split(",")):
            log(f"queue length {size}: {args.decisions} decisions")
            results["sizes"][str(size)] = measure_at(world, size, args.decisions, offset)
            offset += 1_000_000
        if args.profile:
            log("profiling 500 arrivals")
            results["profile"] = profile_decisions(world, 500, offset)
        text = report(results)
        print(text)
        if args.profile:
            print("\n" + results["profile"])
        if args.json:
            with open(args.json, "w") as handle:
                json.dump(results, handle, indent=1, default=str)
        connections.close_all()
    finally:
        if not args.keep:
            admin_sql(args.db_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
