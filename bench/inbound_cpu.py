"""What one customer message costs the server's database thread, in CPU (not a test).

    .venv/bin/python bench/inbound_cpu.py [--db sqlite|postgresql] [--redis-db N]
        [--messages 2000] [--rounds 3] [--operation customer|api-reply]
        [--src OTHER_CHECKOUT/src] [--json FILE]

The end-to-end benchmark (bench/ws_throughput.py) measures the whole server's CPU per delivered
message, which on this shared 2-core machine moves with whatever else runs. This one times the
piece the profiles name, in one process: the widget's own handler for a message
(`widget.consumers._receive_message`: the rate-limit hit, the language capture, the inbound
action with its lock, INSERT, UPDATE and events pushed after commit to the channel layer), on
a fresh scratch database (bench/scratch_db.py) with K agents and N customers whose
conversations are assigned, as in the K=5/N=20 load. It reports the process's CPU time per
message (`time.process_time`, not wall time: load from other processes changes it far less; the
loop's pushes are in it, wall time includes the sleep that lets each round's last pushes leave),
its wall time, and the queries per message.

`--caller worker` runs the handler in a plain thread, as the task worker runs the inbound
actions of provider webhooks (its events have no server loop to go to).

`--operation api-reply` times the other direction instead: an agent's reply through the API
(`POST /api/v1/conversations/{id}/messages` with a personal access token: the middleware,
django-ninja, the token, the conversation opened under the visibility rule, the reply action
with its lock, INSERT, UPDATE and events). Each agent answers the customers assigned to them,
in turn. With `--caller server` (the default) each reply is one ASGI request to the application
`teamline serve` runs (`teamline.asgi.application`, from an event loop as uvicorn calls it: the
handler's threads and hops are timed); `--caller test-client` sends it with Django's test
client in this thread instead (no ASGI handler: how results before 2026-12-07 were taken).

`--src` times another checkout's code with this same driver (an A/B in one sitting: run the
two alternately, e.g. the commit before a change in a `git worktree`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def measure(
    agents: int, customers: int, messages: int, rounds: int, caller: str, operation: str
) -> dict[str, object]:
    from channels.db import database_sync_to_async

    from teamline.core import events
    from teamline.core.testing import (
        create_agent,
        create_customer,
        create_inbox,
        create_team,
        customer_says,
    )
    from teamline.routing.actions import do_assign_conversation
    from teamline.widget import consumers

    team = create_team("Bench")
    inbox = create_inbox(team)
    staff = [create_agent(f"bench-agent-{i}", team=team) for i in range(agents)]
    sessions = []
    for i in range(customers):
        customer = create_customer(team=team, name=f"Customer {i}")
        first, _ = customer_says(customer, "Hello", inbox=inbox)
        do_assign_conversation(first.conversation, staff[i % agents], actor=None, reason="bench")
        sessions.append(consumers.WidgetSession(inbox=inbox, customer=customer, ip="127.0.0.1"))

    if operation == "api-reply":
        return measure_api_replies(staff, sessions, messages, rounds, caller)

    numbers = itertools.count()

    def one() -> tuple[Any, str, str]:
        n = next(numbers)
        return sessions[n % len(sessions)], f"bench-{n}", f"Message {n}: my data is slow"

    def send(count: int) -> None:
        """`count` messages one after the other. As the server runs them (`server`): from its
        event loop through Channels' database thread, so each transaction's events are handed
        back to the loop and pushed there (core/events.py), and the loop's work is timed too.
        As the task worker (`worker`): in a plain thread with no server loop behind it."""

        async def run() -> None:
            receive = database_sync_to_async(consumers._receive_message)
            for _ in range(count):
                await receive(*one())
            await asyncio.sleep(0.05)  # the last pushes leave

        if caller == "server":
            asyncio.run(run())
            return
        # The worker pushes through a loop of its own while it runs (core/events.push_loop;
        # code before it has none: each transaction waits for its push on a new loop).
        with getattr(events, "push_loop", contextlib.nullcontext)():
            for _ in range(count):
                consumers._receive_message(*one())

    def counted(count: int) -> None:
        for _ in range(count):  # directly, in this thread, so the queries are seen
            consumers._receive_message(*one())

    return timed(send, counted, messages, rounds)


def timed(
    send: Callable[[int], None], counted: Callable[[int], None], messages: int, rounds: int
) -> dict[str, object]:
    """CPU and wall time per message of `send(messages)` over `rounds` rounds after a warm-up,
    and the queries per message of `counted(50)` (run in this thread)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    send(200)  # warm: first compilations, caches, connections
    cpu_ms, wall_ms = [], []
    for _ in range(rounds):
        cpu, wall = time.process_time(), time.perf_counter()
        send(messages)
        cpu_ms.append((time.process_time() - cpu) * 1000 / messages)
        wall_ms.append((time.perf_counter() - wall) * 1000 / messages)
    with CaptureQueriesContext(connection) as queries:
        counted(50)
    return {
        "cpu_ms_per_msg": round(statistics.median(cpu_ms), 3),
        "cpu_ms_rounds": [round(v, 3) for v in cpu_ms],
        "wall_ms_per_msg": round(statistics.median(wall_ms), 3),
        "queries_per_msg": round(len(queries.captured_queries) / 50, 2),
    }


def measure_api_replies(
    staff: list[Any], sessions: list[Any], messages: int, rounds: int, caller: str
) -> dict[str, object]:
    from django.test import Client

    from teamline.accounts.actions import do_create_api_token
    from teamline.conversations.models import Conversation
    from teamline.core.testing import asgi_http

    clients, secrets = {}, {}
    for agent in staff:
        _token, secret = do_create_api_token(agent, name="bench", actor=agent)
        clients[agent.pk] = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
        secrets[agent.pk] = secret
    replies = []  # (the assigned agent, the reply URL), one per customer
    for session in sessions:
        conversation = Conversation.objects.filter(customer=session.customer).get()
        url = f"/api/v1/conversations/{conversation.pk}/messages"
        replies.append((conversation.assignee_id, url))
    numbers = itertools.count()

    def reply(n: int) -> tuple[int, str, bytes]:
        agent, url = replies[n % len(replies)]
        return agent, url, json.dumps({"text": f"Reply {n}: try again now"}).encode()

    def with_client(count: int) -> None:
        for _ in range(count):
            agent, url, body = reply(next(numbers))
            response = clients[agent].generic("POST", url, body, "application/json")
            if response.status_code != 201:
                raise SystemExit(f"the reply was answered {response.status_code}")

    def served(count: int) -> None:
        from teamline.asgi import application

        async def run() -> None:
            for _ in range(count):
                agent, url, body = reply(next(numbers))
                headers = [
                    (b"authorization", f"Bearer {secrets[agent]}".encode()),
                    (b"content-type", b"application/json"),
                ]
                status, _, answer = await asgi_http(application, "POST", url, body, headers)
                if status != 201:
                    raise SystemExit(f"the reply was answered {status}: {answer[:200]!r}")
            await asyncio.sleep(0.05)  # the last pushes leave

        asyncio.run(run())

    send = served if caller == "server" else with_client
    # The queries are counted with the test client (in this thread, so they are seen); the
    # warm-up records each token's first use.
    return timed(send, with_client, messages, rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--db-url", default="postgres://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis-db", type=int, default=None, help="Redis cache + layer")
    parser.add_argument("--agents", "-k", type=int, default=5)
    parser.add_argument("--customers", "-n", type=int, default=20)
    parser.add_argument("--messages", type=int, default=2000, help="per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--caller",
        choices=["server", "worker", "test-client"],
        default="server",
        help="a customer's message: run the handler as the server does (from its loop, "
        "through the database thread: default) or as the task worker does (a plain thread); "
        "an API reply: through the served ASGI application (server, default) or Django's "
        "test client (test-client)",
    )
    parser.add_argument(
        "--operation",
        choices=["customer", "api-reply"],
        default="customer",
        help="a customer's message from the widget (default) or an agent's reply by the API",
    )
    parser.add_argument("--src", default=str(ROOT / "src"), help="the code to time")
    parser.add_argument("--json", help="also append the result here")
    args = parser.parse_args()
    if (args.operation, args.caller) in {("customer", "test-client"), ("api-reply", "worker")}:
        parser.error(f"--caller {args.caller} does not apply to --operation {args.operation}")
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(Path(args.src).resolve()))
    from bench.scratch_db import configure, drop, machine

    # As bench/ws_throughput.py: the abuse limits stay checked (each message counts its hit)
    # but never stop the load from one address.
    for name in ("TEAMLINE_RATE_SESSIONS", "TEAMLINE_RATE_CONVERSATIONS", "TEAMLINE_RATE_MESSAGES"):
        os.environ[name] = "1000000000"
    redis_url = f"redis://127.0.0.1:6379/{args.redis_db}" if args.redis_db is not None else ""
    with tempfile.TemporaryDirectory(prefix="teamline-inbound-") as workdir:
        name = configure(args.db, args.db_url, Path(workdir), label="inbound", redis_url=redis_url)
        try:
            from django.core.cache import cache
            from django.core.management import call_command

            import teamline

            call_command("migrate", verbosity=0)
            cache.clear()
            result = measure(
                args.agents,
                args.customers,
                args.messages,
                args.rounds,
                args.caller,
                args.operation,
            )
        finally:
            drop(args.db_url, name)
    report = {
        "target": (
            "agent reply by the API, in-process"
            if args.operation == "api-reply"
            else "inbound message, in-process"
        ),
        "backend": args.db + (" + redis" if redis_url else ""),
        "K": args.agents,
        "N": args.customers,
        "caller": args.caller,
        "code": str(Path(teamline.__file__).resolve().parent.parent),
        **machine(),
        **result,
    }
    print(json.dumps(report))
    if args.json:
        with open(args.json, "a") as out:
            out.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
