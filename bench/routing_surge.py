"""Routing under a surge with the batch router, on PostgreSQL, through the real persistence path
(not a test).

    .venv/bin/python bench/routing_surge.py [--items 20000 --window 60 --teams 50 --agents 1000
        --routers 1 --resolve-rate 50 --sizes 1000,10000,100000 --decisions 300 --profile]

Creates a fresh database teamline_bench_routing_<pid> on postgres://postgres@127.0.0.1:5432
(`--db-url`), migrates it, seeds 50 teams and 1,000 available agents (chat capacity 3), and:

1. Surge, end to end: 20,000 chats arrive within one minute (paced: item i is due at
   i × 60 s / 20,000), spread over the teams. The conversations (and their customers) are
   bulk-created beforehand, so what is timed is routing only (the bulk path skips message
   storage and identity resolution, not any routing work). Three kinds of process run at once:
   - one arrival process: per arrival `with transaction.atomic():
     routing.actions.route_conversation(conv, defer=True)`, the real enqueue path (the queued
     work item, due now, and in the same transaction making sure a `route_pending` task is
     waiting; no task worker runs here, the router processes stand for it). Each enqueue is
     timed and its SQL queries counted (connection.execute_wrapper); the conversations are
     loaded before the start (the inbound caller holds its row; route_conversation reads it
     again itself);
   - `--routers` router processes: loop `routing.batch.route_pending()` as the
     `routing.tasks.route_pending` task does (after a batch that was not full it waits
     `LINGER_SECONDS` so the next batch gathers the arrivals meanwhile; 5 ms when it decides
     nothing) until the arrival process is done and nothing is due (or
     `--time-limit`). Per batch: wall time, queries (execute_wrapper calls; an executemany,
     pipelined by psycopg in one round trip, counts once, and its rows are also counted as
     statements), batch size, time.time() when it returned (its transaction committed) and the
     decided work item ids. Calls that decide nothing are
     counted apart; routing warnings (a batch rolled back on a deadlock report and left due
     again, a failed claim) are counted from the `teamline.routing` loggers;
   - one resolver process: resolves `--resolve-rate` chats per second (round robin over the
     agents, the first open chat of each; the lookup is not timed) with
     `conversations.actions.do_change_status(conv, RESOLVED, actor=agent)`, which closes the
     work item and offers the agent waiting work (`agent_freed` → `offer_waiting_work`, the
     agent-driven decision), timed, queries counted.
   Afterwards the work items' `enqueued_at` is read back; decision latency of an arrival =
   time.time() when the first batch that decided its item committed − its enqueued_at (both
   this machine's wall clock; enqueued_at is taken at the start of the enqueue, before its
   commit). An item decided again later (a claim that no longer held under the locks is placed
   due at once and retried; a step timeout) counts as a re-evaluation. Invariants are checked on
   the database at the end: each arrival has exactly one work item, live (queued or assigned)
   while the chat is open and none live once resolved; no agent has more open chats than their
   capacity; no conversation is assigned while its item is queued, and every assigned item's
   agent is its conversation's assignee.
2. Drain (a backlog): all open work is cleared in bulk (conversations resolved, live items
   closed, queue entries deleted; agents are empty again), `--items` new chats are enqueued with
   `route_conversation(conv, defer=True)` by `--enqueuers` processes (timed: the enqueue rate),
   then `--routers` router processes drain them with `route_pending()`. This is the batch
   router's own speed, without the arrival and resolver processes competing for the cores.
3. Queue length: the waiting work is cleared in bulk (agents stay full), then the queue is
   topped up with bulk-created queued work items (and their queue entries, not due for an hour)
   to 1k, 10k and 100k; at each size `--decisions` new chats are enqueued with defer (timed)
   and routed with `route_pending()` in batches in this process (agents are full, so they are
   placed in the queue): queries per decision and batch times per queue length; then
   `--decisions` times an agent resolves a chat and is offered the most urgent waiting work
   (resolve + offer, timed, queries counted).

`--profile` adds cProfile of `route_pending` draining `--profile-items` deferred chats (at the
end, agents full). Prints a Markdown report (and --json). The database is dropped at the end
unless --keep.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
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
    """Counts SQL queries run on the default connection (connection.execute_wrapper): `count`
    is the calls (an executemany counts once: psycopg sends its statements pipelined, in one
    round trip), `statements` counts each row of an executemany as a statement."""

    def __init__(self) -> None:
        self.count = 0
        self.statements = 0

    def __call__(self, execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        self.count += 1
        try:
            self.statements += len(params) if many else 1
        except TypeError:  # an executemany given an iterator
            self.statements += 1
        return execute(sql, params, many, context)


def counted(action: Callable[[], Any]) -> tuple[float, QueryCounter, Any]:
    from django.db import connection

    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        started = time.perf_counter()
        result = action()
        elapsed = time.perf_counter() - started
    return elapsed, counter, result


def timed(action: Callable[[], Any]) -> tuple[float, int, Any]:
    elapsed, counter, result = counted(action)
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


def enqueue(conv: Any) -> None:
    """The real enqueue path of an arrival: the queued work item in the caller's transaction,
    and (after commit) a route_pending task made sure of."""
    from django.db import transaction

    from teamline.routing.actions import route_conversation

    with transaction.atomic():
        route_conversation(conv, defer=True)


class WarningCounter(logging.Handler):
    """Counts the routing warnings of this process (a batch rolled back on a deadlock report or
    a busy database, a claim that failed), keeping the first few messages."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.first: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if len(self.first) < 5:
            self.first.append(f"{record.name}: {record.getMessage()}")

    @classmethod
    def install(cls) -> WarningCounter:
        counter = cls()
        logging.getLogger("teamline.routing").addHandler(counter)
        return counter


def load_conversations(ids: list[int]) -> dict[int, Any]:
    """The conversations by id, loaded up front (an arrival's caller already holds its row;
    route_conversation reads it again itself)."""
    from teamline.conversations.models import Conversation

    found: dict[int, Any] = {}
    for start in range(0, len(ids), 5000):
        found.update(Conversation.objects.in_bulk(ids[start : start + 5000]))
    return found


def route_batch() -> tuple[float, QueryCounter, Any, float]:
    """One route_pending call: (seconds, its queries, RouteBatch, time.time() after it returned,
    i.e. after its transaction committed)."""
    from teamline.routing.batch import route_pending

    elapsed, counter, batch = counted(route_pending)
    return elapsed, counter, batch, time.time()


def batch_record(
    elapsed: float, counter: QueryCounter, batch: Any, finished: float
) -> dict[str, Any]:
    return {
        "seconds": elapsed,
        "queries": counter.count,
        "statements": counter.statements,
        "size": len(batch.decided),
        "assigned": batch.assigned,
        "placed": batch.placed,
        "closed": batch.closed,
        "finished": finished,
        "decided": list(batch.decided),
    }


def batch_summary(batches: list[dict[str, Any]]) -> dict[str, Any]:
    """Batches that decided something: sizes, times, queries per decision."""
    sizes = [b["size"] for b in batches]
    decided = sum(sizes)
    seconds = [b["seconds"] for b in batches]
    queries = [b["queries"] for b in batches]
    statements = sum(b["statements"] for b in batches)
    return {
        "batches": len(batches),
        "decisions": decided,
        "assigned": sum(b["assigned"] for b in batches),
        "placed": sum(b["placed"] for b in batches),
        "closed": sum(b["closed"] for b in batches),
        "size_mean": statistics.fmean(sizes) if sizes else float("nan"),
        "size_max": max(sizes) if sizes else 0,
        "p50_ms": percentile(seconds, 0.50) * 1000,
        "p99_ms": percentile(seconds, 0.99) * 1000,
        "max_ms": max(seconds) * 1000 if seconds else float("nan"),
        "queries_per_batch_mean": statistics.fmean(queries) if queries else float("nan"),
        "queries_per_decision": sum(queries) / decided if decided else float("nan"),
        "statements_per_decision": statements / decided if decided else float("nan"),
        "ms_per_decision": sum(seconds) * 1000 / decided if decided else float("nan"),
    }


def nothing_due() -> bool:
    """No queued conversation item is due (items leased by another router are not due: that
    router decides them). route_pending also answers empty when its batch rolled back, with
    the batch's items due again at once: this tells the two apart."""
    from django.utils import timezone

    from teamline.routing.models import WorkItem, WorkState

    return not WorkItem.objects.filter(
        state=WorkState.QUEUED, next_check_at__lte=timezone.now(), conversation__isnull=False
    ).exists()


def route_until_empty() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """route_pending() in this process until nothing is due."""
    batches: list[dict[str, Any]] = []
    while True:
        elapsed, counter, batch, finished = route_batch()
        if not batch.decided and nothing_due():
            return batches, {"seconds": elapsed, "queries": counter.count}
        if batch.decided:
            batches.append(batch_record(elapsed, counter, batch, finished))


# --- Seeding ----------------------------------------------------------------------------------


def seed(teams: int, agents: int, capacity: int) -> dict[str, Any]:
    from teamline.accounts.actions import do_create_staff_user, do_set_presence
    from teamline.accounts.models import Presence
    from teamline.conversations.models import Inbox
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


def clear_open_work(*, keep_assigned: bool) -> int:
    """Bench housekeeping between phases (not measured): resolve open conversations in bulk
    (only the unassigned ones when keep_assigned), close their live work items and delete their
    queue entries. Returns the number of conversations resolved."""
    from django.db import transaction
    from django.db.models import Q
    from django.utils import timezone

    from teamline.conversations.models import Conversation, Status
    from teamline.routing.models import LIVE_STATES, QueueEntry, WorkItem, WorkState

    now = timezone.now()
    conv_filter = Q(status=Status.OPEN)
    if keep_assigned:
        conv_filter &= Q(assignee__isnull=True)
    with transaction.atomic():
        ids = list(Conversation.objects.filter(conv_filter).values_list("pk", flat=True))
        for start in range(0, len(ids), 5000):
            chunk = ids[start : start + 5000]
            QueueEntry.objects.filter(work_item__conversation_id__in=chunk).delete()
            WorkItem.objects.filter(conversation_id__in=chunk, state__in=LIVE_STATES).update(
                state=WorkState.DONE, closed_at=now, next_check_at=None
            )
            Conversation.objects.filter(pk__in=chunk).update(
                status=Status.RESOLVED, resolved_at=now, waiting_since=None, updated_at=now
            )
    return len(ids)


def invariants(conv_ids: list[int]) -> dict[str, Any]:
    """Checks on the database: per arrival (conv_ids) and over all agents and items."""
    from collections import Counter

    from django.db.models import Count, F, Max

    from teamline.accounts.models import AgentProfile
    from teamline.conversations.models import Conversation, Status
    from teamline.routing.models import LIVE_STATES, WorkItem, WorkState

    items: Counter[int] = Counter()
    live: Counter[int] = Counter()
    statuses: dict[int, str] = {}
    assigned: set[int] = set()
    for start in range(0, len(conv_ids), 5000):
        chunk = conv_ids[start : start + 5000]
        for conv_id, state in WorkItem.objects.filter(conversation_id__in=chunk).values_list(
            "conversation_id", "state"
        ):
            items[conv_id] += 1
            live[conv_id] += state in LIVE_STATES
        for pk, status, assignee_id in Conversation.objects.filter(pk__in=chunk).values_list(
            "pk", "status", "assignee_id"
        ):
            statuses[pk] = status
            if assignee_id is not None:
                assigned.add(pk)
    open_ids = [c for c in conv_ids if statuses.get(c) == Status.OPEN]
    closed_ids = [c for c in conv_ids if statuses.get(c) != Status.OPEN]
    per_agent = (
        Conversation.objects.filter(status=Status.OPEN, assignee__isnull=False)
        .values("assignee_id", "channel_kind")
        .annotate(n=Count("pk"))
    )
    capacities = {
        user_id: capacity or {}
        for user_id, capacity in AgentProfile.objects.values_list("user_id", "capacity")
    }
    over = [
        row
        for row in per_agent
        if row["n"] > int(capacities.get(row["assignee_id"], {}).get(row["channel_kind"], 0))
    ]
    max_open = (
        Conversation.objects.filter(status=Status.OPEN, assignee__isnull=False, channel_kind="chat")
        .values("assignee_id")
        .annotate(n=Count("pk"))
        .aggregate(m=Max("n"))["m"]
        or 0
    )
    return {
        "arrivals": len(conv_ids),
        "open": len(open_ids),
        "resolved": len(closed_ids),
        "without_one_item": sum(1 for c in conv_ids if items[c] != 1),
        "open_without_one_live": sum(1 for c in open_ids if live[c] != 1),
        "resolved_with_live": sum(1 for c in closed_ids if live[c] != 0),
        "open_assigned": sum(1 for c in open_ids if c in assigned),
        "max_open_chats_per_agent": max_open,
        "agents_over_capacity": len(over),
        "assigned_while_queued": WorkItem.objects.filter(
            state=WorkState.QUEUED, conversation__assignee__isnull=False
        ).count(),
        "assigned_item_mismatch": WorkItem.objects.filter(state=WorkState.ASSIGNED)
        .exclude(conversation__assignee_id=F("assignee_id"))
        .count(),
    }


def task_rows() -> dict[str, int]:
    """route_pending task rows in the task table (no worker runs in the bench), by status."""
    from django.db.models import Count
    from django_tasks_db.models import DBTaskResult

    return dict(
        DBTaskResult.objects.filter(task_path__endswith="route_pending")
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )


# --- Child processes --------------------------------------------------------------------------


def child(fn: Callable[..., dict[str, Any]], path: str, *args: Any) -> None:
    """Process body: run `fn`, write its result (or the traceback) to `path` as JSON."""
    from django.db import connections

    connections.close_all()  # the parent closed its connections before forking
    try:
        result = fn(*args)
    except BaseException:
        result = {"error": traceback.format_exc()}
        log(result["error"])
    finally:
        connections.close_all()
    with open(path, "w") as handle:
        json.dump(result, handle)


class Processes:
    """Forked processes whose results come back through JSON files."""

    def __init__(self) -> None:
        self.context = multiprocessing.get_context("fork")
        self.folder = tempfile.mkdtemp(prefix="teamline-bench-routing-")
        self.started: list[tuple[str, Any, str]] = []

    def event(self) -> Any:
        return self.context.Event()

    def start(self, name: str, fn: Callable[..., dict[str, Any]], *args: Any) -> Any:
        path = os.path.join(self.folder, f"{name}.json")
        process = self.context.Process(target=child, args=(fn, path, *args), name=name)
        process.start()
        self.started.append((name, process, path))
        return process

    def join(self, process: Any, timeout: float) -> None:
        process.join(max(timeout, 1.0))
        if process.is_alive():
            log(f"{process.name} did not finish in time; terminating it")
            process.terminate()
            process.join()

    def result(self, process: Any, errors: list[str]) -> dict[str, Any]:
        path = next(p for _n, proc, p in self.started if proc is process)
        try:
            with open(path) as handle:
                result = json.load(handle)
        except OSError:
            result = {"error": f"{process.name} exited with code {process.exitcode}, no result"}
        if "error" in result:
            errors.append(f"{process.name}:\n{result['error']}")
        return result


# --- Phase 1: the surge, end to end -----------------------------------------------------------


def arrival_process(job: dict[str, Any]) -> dict[str, Any]:
    """Enqueue each arrival (defer) at its due time."""

    ids: list[int] = job["conversations"]
    due_every = job["window"] / max(len(ids), 1)
    conversations = load_conversations(ids)  # before the start: the inbound path holds its row
    started = job["start_at"]
    while time.time() < started:
        time.sleep(0.001)
    lat, queries, lag = [], [], []
    for n, conv_id in enumerate(ids):
        if time.time() > job["deadline"]:
            break  # report what arrived within the time limit
        due = started + n * due_every
        while time.time() < due:
            time.sleep(0.0005)
        lag.append(time.time() - due)
        elapsed, count, _ = timed(lambda conv=conversations[conv_id]: enqueue(conv))
        lat.append(elapsed)
        queries.append(count)
    return {"lat": lat, "queries": queries, "lag": lag, "finished": time.time()}


def router_process(job: dict[str, Any], arrivals_done: Any) -> dict[str, Any]:
    """route_pending() in a loop until the arrivals are done and nothing is due."""
    warnings = WarningCounter.install()
    while time.time() < job["start_at"]:
        time.sleep(0.001)
    batches: list[dict[str, Any]] = []
    empty_polls = empty_queries = 0
    from teamline.routing.batch import LINGER_SECONDS, ROUTE_BATCH

    while time.time() < job["deadline"]:
        done = arrivals_done.is_set()  # read before the call: no arrival can come after it
        elapsed, counter, batch, finished = route_batch()
        if batch.decided:
            batches.append(batch_record(elapsed, counter, batch, finished))
            if len(batch.decided) < ROUTE_BATCH:
                time.sleep(LINGER_SECONDS)  # as the route_pending task does (routing/tasks.py)
            continue
        empty_polls += 1
        empty_queries += counter.count
        if done and nothing_due():
            break
        time.sleep(0.005)
    return {
        "batches": batches,
        "empty_polls": empty_polls,
        "empty_queries": empty_queries,
        "warnings": warnings.count,
        "warning_messages": warnings.first,
    }


def resolver_process(job: dict[str, Any], stop: Any) -> dict[str, Any]:
    """Agents resolve chats at `rate` per second (round robin over the agents)."""
    from teamline.accounts.models import User
    from teamline.conversations.actions import do_change_status
    from teamline.conversations.models import Conversation, Status

    warnings = WarningCounter.install()
    agents: list[int] = job["agents"]
    users = {u.pk: u for u in User.objects.filter(pk__in=agents)}
    every = 1.0 / job["rate"]
    started = job["start_at"]
    while time.time() < started:
        time.sleep(0.001)
    next_at = started + every
    lat, queries = [], []
    skipped = index = 0
    while not stop.is_set() and time.time() < job["deadline"]:
        wait = next_at - time.time()
        if wait > 0:
            time.sleep(min(wait, 0.005))
            continue
        next_at += every
        conv = None
        for _ in range(50):
            agent_id = agents[index % len(agents)]
            index += 1
            conv = Conversation.objects.filter(assignee_id=agent_id, status=Status.OPEN).first()
            if conv is not None:
                break
        if conv is None or conv.assignee_id is None:
            skipped += 1
            continue
        user = users[conv.assignee_id]
        elapsed, count, _ = timed(
            lambda c=conv, u=user: do_change_status(c, Status.RESOLVED, actor=u)
        )
        lat.append(elapsed)
        queries.append(count)
    return {
        "lat": lat,
        "queries": queries,
        "skipped": skipped,
        "started": started,
        "finished": time.time(),
        "warnings": warnings.count,
        "warning_messages": warnings.first,
    }


def decision_latencies(
    conv_ids: list[int], batches: list[dict[str, Any]]
) -> tuple[list[float], dict[str, Any]]:
    """Per arrival: the first batch that decided its work item (commit time) − enqueued_at."""
    from teamline.routing.models import WorkItem

    first: dict[int, float] = {}
    for b in batches:
        for item_id in b["decided"]:
            if item_id not in first or b["finished"] < first[item_id]:
                first[item_id] = b["finished"]
    enqueued: dict[int, float] = {}
    for start in range(0, len(conv_ids), 5000):
        chunk = conv_ids[start : start + 5000]
        for pk, at in WorkItem.objects.filter(conversation_id__in=chunk).values_list(
            "pk", "enqueued_at"
        ):
            enqueued[pk] = at.timestamp()
    latencies = [first[pk] - at for pk, at in enqueued.items() if pk in first]
    finishes = [first[pk] for pk in enqueued if pk in first]
    decided_total = sum(b["size"] for b in batches)
    return latencies, {
        "enqueued": len(enqueued),
        "decided": len(latencies),
        "decisions_total": decided_total,
        "redecisions": decided_total - len(first),
        "first_enqueued": min(enqueued.values()) if enqueued else float("nan"),
        "last_decided": max(finishes) if finishes else float("nan"),
    }


def run_surge(world: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from django.db import connections

    conv_ids = bulk_conversations(world, args.items, offset=0)
    connections.close_all()
    procs = Processes()
    arrivals_done, stop = procs.event(), procs.event()
    start_at = time.time() + 3.0  # the arrival process loads the conversations first
    deadline = start_at + args.time_limit
    arrival = procs.start(
        "arrivals",
        arrival_process,
        {
            "conversations": conv_ids,
            "window": args.window,
            "start_at": start_at,
            "deadline": deadline,
        },
    )
    routers = [
        procs.start(
            f"router{r}",
            router_process,
            {"start_at": start_at, "deadline": deadline},
            arrivals_done,
        )
        for r in range(max(args.routers, 1))
    ]
    resolver = None
    if args.resolve_rate > 0:
        resolver = procs.start(
            "resolver",
            resolver_process,
            {
                "agents": world["agents"],
                "rate": args.resolve_rate,
                "start_at": start_at,
                "deadline": deadline,
            },
            stop,
        )
    grace = deadline + 120 - time.time()
    procs.join(arrival, grace)
    arrivals_done.set()
    for router in routers:
        procs.join(router, deadline + 120 - time.time())
    stop.set()
    if resolver is not None:
        procs.join(resolver, 60)
    errors: list[str] = []
    arrived = procs.result(arrival, errors)
    routed = [procs.result(router, errors) for router in routers]
    resolved = procs.result(resolver, errors) if resolver is not None else {}
    batches = [b for part in routed for b in part.get("batches", [])]
    latencies, counts = decision_latencies(conv_ids, batches)
    wall = counts["last_decided"] - counts["first_enqueued"]
    resolver_wall = resolved.get("finished", 0) - resolved.get("started", 0)
    log("surge: checking invariants")
    return {
        "items": len(conv_ids),
        "routers": len(routers),
        "arrived": len(arrived.get("lat", [])),
        "arrivals_seconds": arrived.get("finished", start_at) - start_at,
        **counts,
        "wall_seconds": wall,
        "decisions_per_second": counts["decided"] / wall if wall > 0 else float("nan"),
        "latency_p50_s": percentile(latencies, 0.50),
        "latency_p99_s": percentile(latencies, 0.99),
        "latency_max_s": max(latencies) if latencies else float("nan"),
        "lag_p99_ms": percentile(arrived.get("lag", []), 0.99) * 1000,
        "lag_max_ms": max(arrived.get("lag", [0.0])) * 1000,
        "batch": batch_summary(batches),
        "empty_polls": sum(part.get("empty_polls", 0) for part in routed),
        "empty_poll_queries": sum(part.get("empty_queries", 0) for part in routed),
        "arrival": summary(arrived.get("lat", []), arrived.get("queries", [])),
        "offer": summary(resolved.get("lat", []), resolved.get("queries", [])),
        "resolves_per_second": len(resolved.get("lat", [])) / resolver_wall
        if resolver_wall > 0
        else float("nan"),
        "resolve_skipped": resolved.get("skipped", 0),
        "invariants": invariants(conv_ids),
        "tasks": task_rows(),
        "warnings": sum(part.get("warnings", 0) for part in [*routed, resolved]),
        "warning_messages": [
            m for part in [*routed, resolved] for m in part.get("warning_messages", [])
        ],
        "errors": errors,
    }


# --- Phase 2: draining a backlog --------------------------------------------------------------


def enqueue_process(job: dict[str, Any]) -> dict[str, Any]:
    conversations = load_conversations(job["conversations"])
    while time.time() < job["start_at"]:
        time.sleep(0.001)
    lat, queries = [], []
    for conv_id in job["conversations"]:
        elapsed, count, _ = timed(lambda conv=conversations[conv_id]: enqueue(conv))
        lat.append(elapsed)
        queries.append(count)
    return {"lat": lat, "queries": queries, "finished": time.time()}


def run_drain(world: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from django.db import connections

    cleared = clear_open_work(keep_assigned=False)
    conv_ids = bulk_conversations(world, args.items, offset=1_000_000)
    connections.close_all()
    procs = Processes()
    errors: list[str] = []
    enqueuers = max(args.enqueuers, 1)
    start_at = time.time() + 2.0
    parts = [
        procs.start(
            f"enqueuer{e}",
            enqueue_process,
            {"conversations": conv_ids[e::enqueuers], "start_at": start_at},
        )
        for e in range(enqueuers)
    ]
    for part in parts:
        procs.join(part, args.time_limit)
    enqueued = [procs.result(part, errors) for part in parts]
    enqueue_wall = max(p.get("finished", start_at) for p in enqueued) - start_at
    lat = [x for p in enqueued for x in p.get("lat", [])]
    queries = [x for p in enqueued for x in p.get("queries", [])]
    log(f"drain: {len(lat)} enqueued in {enqueue_wall:.1f} s; routing")
    done = procs.event()
    done.set()
    start_at = time.time() + 0.5
    deadline = start_at + args.time_limit
    routers = [
        procs.start(f"drain{r}", router_process, {"start_at": start_at, "deadline": deadline}, done)
        for r in range(max(args.routers, 1))
    ]
    for router in routers:
        procs.join(router, deadline + 60 - time.time())
    routed = [procs.result(router, errors) for router in routers]
    batches = [b for part in routed for b in part.get("batches", [])]
    decided = {item_id for b in batches for item_id in b["decided"]}
    finished = max((b["finished"] for b in batches), default=start_at)
    wall = finished - start_at
    return {
        "cleared": cleared,
        "items": len(conv_ids),
        "enqueuers": enqueuers,
        "routers": len(routers),
        "enqueue_seconds": enqueue_wall,
        "enqueues_per_second": len(lat) / enqueue_wall if enqueue_wall > 0 else float("nan"),
        "enqueue": summary(lat, queries),
        "decided": len(decided),
        "wall_seconds": wall,
        "decisions_per_second": sum(b["size"] for b in batches) / wall if wall > 0 else 0.0,
        "batch": batch_summary(batches),
        "invariants": invariants(conv_ids),
        "warnings": sum(part.get("warnings", 0) for part in routed),
        "warning_messages": [m for part in routed for m in part.get("warning_messages", [])],
        "errors": errors,
    }


# --- Phase 3: queries per decision at 1k, 10k, 100k queued ------------------------------------


def measure_at(world: dict[str, Any], size: int, decisions: int, offset: int) -> dict[str, Any]:
    from teamline.accounts.models import User
    from teamline.conversations.actions import do_change_status
    from teamline.conversations.models import Conversation, Status
    from teamline.routing.models import WorkItem, WorkState

    queued = fill_queue(world, size, offset)
    new_ids = bulk_conversations(world, decisions, offset + size + 1)
    enqueue_lat, enqueue_q, offer_lat, offer_q = [], [], [], []
    conversations = load_conversations(new_ids)
    for conv_id in new_ids:
        elapsed, queries, _ = timed(lambda conv=conversations[conv_id]: enqueue(conv))
        enqueue_lat.append(elapsed)
        enqueue_q.append(queries)
    batches, empty = route_until_empty()
    users = {u.pk: u for u in User.objects.filter(pk__in=world["agents"])}
    for n in range(decisions):
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
        "enqueue": summary(enqueue_lat, enqueue_q),
        "batch": batch_summary(batches),
        "batch_sizes": [b["size"] for b in batches],
        "batch_ms": [b["seconds"] * 1000 for b in batches],
        "batch_queries": [b["queries"] for b in batches],
        "batch_statements": [b["statements"] for b in batches],
        "empty_poll": empty,
        "offer": summary(offer_lat, offer_q),
    }


def profile_drain(world: dict[str, Any], count: int, offset: int) -> str:
    import cProfile
    import io
    import pstats

    for conv in load_conversations(bulk_conversations(world, count, offset)).values():
        enqueue(conv)
    profiler = cProfile.Profile()
    profiler.enable()
    batches, _empty = route_until_empty()
    profiler.disable()
    out = io.StringIO()
    out.write(f"route_pending on {count} deferred chats: {len(batches)} batches\n")
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
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


def code_state() -> str:
    """The commit measured, and whether the work tree had uncommitted changes under src/."""
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=root, capture_output=True, text=True
        ).stdout.splitlines()
    except OSError:
        return "unknown"
    return f"{head}" + (f" + uncommitted changes in {len(dirty)} files under src/" if dirty else "")


def op_row(label: str, row: dict[str, float]) -> str:
    return (
        f"| {label} | {row['n']:,} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | "
        f"{row['mean_ms']:.1f} | {row['queries_mean']:.1f} ({row['queries_min']}–"
        f"{row['queries_max']}) |"
    )


def check(label: str, bad: int | None) -> str:
    return f"- {label}: {'ok' if bad == 0 else f'**VIOLATED ({bad:,})**'}"


def invariant_lines(inv: dict[str, Any]) -> list[str]:
    return [
        f"Invariants ({inv['arrivals']:,} arrivals: {inv['open']:,} open, of which "
        f"{inv['open_assigned']:,} assigned; "
        f"{inv['resolved']:,} resolved):",
        "",
        check("every arrival has exactly one work item", inv["without_one_item"]),
        check("every open arrival has exactly one live item", inv["open_without_one_live"]),
        check("no resolved arrival has a live item", inv["resolved_with_live"]),
        check(
            f"no agent over capacity (most open chats of one agent: "
            f"{inv['max_open_chats_per_agent']})",
            inv["agents_over_capacity"],
        ),
        check("no conversation assigned while its item is queued", inv["assigned_while_queued"]),
        check(
            "every assigned item's agent is its conversation's assignee",
            inv["assigned_item_mismatch"],
        ),
    ]


def batch_lines(b: dict[str, Any]) -> list[str]:
    return [
        "| route_pending batches | value |",
        "|---|---|",
        f"| batches (that decided something) | {b['batches']:,} |",
        f"| decisions (assigned / placed / closed) | {b['decisions']:,} ({b['assigned']:,} / "
        f"{b['placed']:,} / {b['closed']:,}) |",
        f"| batch size mean / max | {b['size_mean']:.1f} / {b['size_max']} |",
        f"| batch time p50 / p99 / max ms | {b['p50_ms']:.1f} / {b['p99_ms']:.1f} / "
        f"{b['max_ms']:.1f} |",
        f"| queries per batch (mean) | {b['queries_per_batch_mean']:.1f} |",
        f"| queries per decision (Σ batch queries / decisions) | {b['queries_per_decision']:.2f} |",
        f"| statements per decision (each executemany row counted) | "
        f"{b['statements_per_decision']:.2f} |",
        f"| ms per decision (Σ batch time / decisions) | {b['ms_per_decision']:.2f} |",
    ]


def warning_lines(phase: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"Routing warnings logged (a batch rolled back and left due again, a claim that failed): "
        f"{phase['warnings']:,}.",
    ]
    return lines + [f"    {message}" for message in phase["warning_messages"][:5]]


def error_lines(errors: list[str]) -> list[str]:
    if not errors:
        return []
    lines = ["", "**Errors:**", ""]
    for error in errors:
        lines += ["```", error.rstrip(), "```"]
    return lines


def report(results: dict[str, Any]) -> str:
    m = results["machine"]
    s = results["surge"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, Python {m['python']}, "
        f"PostgreSQL {m['postgres']} (same machine); load average at start "
        f"{', '.join(f'{x:.2f}' for x in m['load_average'])}. Code: {results['code']}. "
        f"ROUTE_BATCH = "
        f"{results['route_batch']}. Total run {results['run_seconds']:.0f} s.",
        "",
        f"**Surge, end to end:** {s['items']:,} chats due within {results['window']:g} s to "
        f"{results['teams']} teams and {results['agents']:,} agents (chat capacity "
        f"{results['capacity']}); 1 arrival process (`route_conversation(defer=True)`), "
        f"{s['routers']} router process{'es' if s['routers'] > 1 else ''} (`route_pending()`), "
        f"1 resolver process ({results['resolve_rate']:g}/s asked, "
        f"{s['resolves_per_second']:.1f}/s done). {s['arrived']:,} arrived (arrival lag behind "
        f"schedule p99 {s['lag_p99_ms'] / 1000:.1f} s, max {s['lag_max_ms'] / 1000:.1f} s); "
        f"the arrival process was done after {s['arrivals_seconds']:.1f} s "
        f"({s['arrived'] / s['arrivals_seconds'] if s['arrivals_seconds'] > 0 else 0:.0f} "
        f"arrivals/s); {s['decided']:,} of {s['enqueued']:,} enqueued decided; first arrival "
        f"→ last first decision {s['wall_seconds']:.1f} s — "
        f"**{s['decisions_per_second']:.0f} decisions/s**; "
        f"{s['decisions_total']:,} batch decisions in all ({s['redecisions']:,} re-evaluations). "
        f"Batch router: {s['batch']['assigned']:,} assigned, {s['batch']['placed']:,} placed in "
        f"the queue, {s['batch']['closed']:,} closed.",
        "",
        f"Decision latency (commit time of the first batch that decided the item − its "
        f"enqueued_at; both from this machine's wall clock): **p50 "
        f"{s['latency_p50_s'] * 1000:.0f} ms, p99 {s['latency_p99_s'] * 1000:.0f} ms** "
        f"(max {s['latency_max_s'] * 1000:.0f} ms).",
        "",
        *batch_lines(s["batch"]),
        "",
        f"Calls that found nothing due: {s['empty_polls']:,} "
        f"({s['empty_poll_queries'] / s['empty_polls'] if s['empty_polls'] else 0:.1f} queries "
        f"each); route_pending task rows at the end (by status; no worker runs here): "
        f"{s['tasks'] or 'none'}.",
        "",
        "| operation | n | p50 ms | p99 ms | mean ms | queries (mean, min–max) |",
        "|---|---|---|---|---|---|",
        op_row("arrival: enqueue (route_conversation defer=True, own transaction)", s["arrival"]),
        op_row("resolve + offer (do_change_status RESOLVED)", s["offer"]),
        "",
        *invariant_lines(s["invariants"]),
        *warning_lines(s),
        *error_lines(s["errors"]),
    ]
    d = results.get("drain")
    if d:
        lines += [
            "",
            f"**Drain:** {d['cleared']:,} open conversations cleared in bulk first (agents "
            f"empty); {d['items']:,} chats enqueued with `route_conversation(defer=True)` by "
            f"{d['enqueuers']} processes in {d['enqueue_seconds']:.1f} s — "
            f"{d['enqueues_per_second']:.0f} enqueues/s (p50 {d['enqueue']['p50_ms']:.1f} ms, "
            f"p99 {d['enqueue']['p99_ms']:.1f} ms, {d['enqueue']['queries_mean']:.1f} queries "
            f"({d['enqueue']['queries_min']}–{d['enqueue']['queries_max']})); then "
            f"{d['routers']} router process{'es' if d['routers'] > 1 else ''} decided "
            f"{d['decided']:,} in {d['wall_seconds']:.1f} s — "
            f"**{d['decisions_per_second']:.0f} decisions/s**.",
            "",
            *batch_lines(d["batch"]),
            "",
            *invariant_lines(d["invariants"]),
            *warning_lines(d),
            *error_lines(d["errors"]),
        ]
    lines += [
        "",
        "**Queue length** (one process; waiting work cleared first, agents full so new chats "
        "are placed in the queue; the queue topped up with items not due for an hour):",
        "",
        "| queued | enqueue p50 / p99 ms | enqueue queries | batch sizes | batch ms (each) | "
        "queries (statements) per batch | ms per decision | queries (statements) per decision "
        "| resolve + offer p50 / p99 ms | resolve + offer queries (mean, min–max) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size, row in results["sizes"].items():
        e, b, o = row["enqueue"], row["batch"], row["offer"]
        per_batch = ", ".join(
            f"{q} ({st})"
            for q, st in zip(row["batch_queries"], row["batch_statements"], strict=True)
        )
        lines.append(
            f"| {int(size):,} ({row['queued_before']:,}) | {e['p50_ms']:.1f} / {e['p99_ms']:.1f}"
            f" | {e['queries_mean']:.2f} ({e['queries_min']}–{e['queries_max']}) | "
            f"{', '.join(str(x) for x in row['batch_sizes'])} | "
            f"{', '.join(f'{x:.1f}' for x in row['batch_ms'])} | "
            f"{per_batch} | {b['ms_per_decision']:.2f} | {b['queries_per_decision']:.2f} "
            f"({b['statements_per_decision']:.2f}) | {o['p50_ms']:.1f} / {o['p99_ms']:.1f} | "
            f"{o['queries_mean']:.2f} ({o['queries_min']}–{o['queries_max']}) |"
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
    parser.add_argument("--routers", type=int, default=1, help="route_pending processes")
    parser.add_argument(
        "--enqueuers", type=int, default=2, help="processes enqueuing the drain's backlog"
    )
    parser.add_argument(
        "--resolve-rate", type=float, default=50.0, help="chats resolved per second (all agents)"
    )
    parser.add_argument(
        "--time-limit", type=float, default=300.0, help="stop a phase's processes after this"
    )
    parser.add_argument("--no-drain", action="store_true", help="skip the drain phase")
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--decisions", type=int, default=300)
    parser.add_argument("--profile", action="store_true", help="cProfile route_pending")
    parser.add_argument("--profile-items", type=int, default=2000)
    parser.add_argument("--json", help="write the raw results here")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()

    began = time.time()
    name = f"teamline_bench_routing_{os.getpid()}"
    admin_sql(args.db_url, f'CREATE DATABASE "{name}"')
    try:
        setup_django(args.db_url, name)
        from django.core.management import call_command
        from django.db import connections

        from teamline.routing.batch import ROUTE_BATCH

        log(f"database {name}: migrating")
        call_command("migrate", verbosity=0, interactive=False)
        log(f"seeding {args.teams} teams, {args.agents} agents")
        world = seed(args.teams, args.agents, args.capacity)
        results: dict[str, Any] = {
            "machine": machine(),
            "code": code_state(),
            "route_batch": ROUTE_BATCH,
            "window": args.window,
            "teams": args.teams,
            "agents": args.agents,
            "capacity": args.capacity,
            "resolve_rate": args.resolve_rate,
        }
        log(f"surge: {args.items} arrivals in {args.window:g} s, {args.routers} router(s)")
        results["surge"] = run_surge(world, args)
        connections.close_all()
        if not args.no_drain:
            log(f"drain: {args.items} deferred chats, {args.routers} router(s)")
            results["drain"] = run_drain(world, args)
            connections.close_all()
        cleared = clear_open_work(keep_assigned=True)
        log(f"queue length: cleared {cleared} waiting conversations")
        results["sizes"] = {}
        offset = 10_000_000
        for size in (int(x) for x in args.sizes.split(",")):
            log(f"queue length {size}: {args.decisions} decisions")
            results["sizes"][str(size)] = measure_at(world, size, args.decisions, offset)
            offset += 1_000_000
        if args.profile:
            log(f"profiling route_pending on {args.profile_items} deferred chats")
            results["profile"] = profile_drain(world, args.profile_items, offset)
        results["run_seconds"] = time.time() - began
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
