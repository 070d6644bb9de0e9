"""Wallboard fan-out: a committed change → the wallboard frame on 100 supervisors' sockets.

    .venv/bin/python bench/wallboard_fanout.py --supervisors 100 --changes 40
    .venv/bin/python bench/wallboard_fanout.py --supervisors 100 --changes 40 --redis 6

The run starts the real server (`teamline serve`) on a fresh SQLite database in a temp
directory — with the embedded in-memory channel layer, or with `--redis N` the Redis pub/sub
layer on Redis database N with a unique channel prefix — seeds one team with one agent and
`--supervisors` supervisors (signed in by session rows made with Django's test client, MFA off),
opens one desk socket per supervisor and subscribes each to the wallboard
({"type": "wallboard.subscribe"}).

Isolated changes: the agent's presence is changed `--changes` times through the desk's own
HTTP endpoint (POST /desk/presence/), `--gap` seconds apart (longer than the one-second
coalescing window, so each change is pushed on the leading edge). The change's time is the
agent's `presence_changed_at`, written inside the transaction (so slightly *before* the commit:
the latency is over-, never under-estimated); each socket records when the first frame showing
that value arrives. Latency = frame received − presence_changed_at, per socket and change
(server and client share the machine's clock).

Burst: `--burst` changes as fast as one client can POST them; per socket, how many frames came
(coalescing: expected 2, the leading and the trailing push) and how long after the last change
the frame showing it came (expected up to about one second: the trailing edge).

Everything is removed at the end. Only 127.0.0.1 is used. Results: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from ws_throughput import (
    VENV_BIN,
    BenchError,
    Cleanup,
    CpuSample,
    code_version,
    cpu_usage,
    free_port,
    log,
    machine_info,
    percentile,
    run_checked,
    start_server,
    teamline_env,
)

SEED = """
import json
from django.conf import settings
# The supervisors are signed in by session (force_login), never by password: hash fast.
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
from django.test import Client
from teamline.accounts.models import Role
from teamline.core.testing import create_team, create_user
team = create_team("Fan-out")
agent = create_user("wb-agent", role=Role.AGENT, team=team, presence="away")
cookies = []
for n in range({supervisors}):
    user = create_user(f"wb-sup-{{n}}", role=Role.SUPERVISOR, supervises=team)
    client = Client()
    client.force_login(user)
    cookies.append(client.cookies["sessionid"].value)
client = Client()
client.force_login(agent)
print(json.dumps({{"team": team.pk, "agent": agent.pk, "cookies": cookies,
                  "agent_cookie": client.cookies["sessionid"].value}}))
"""


def parse_when(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(value).timestamp()


class Socket:
    """One supervisor's desk socket: when it first saw each value of the agent's `since`."""

    def __init__(self, ws: ClientConnection, team: int, agent: int) -> None:
        self.ws, self.team, self.agent = ws, team, agent
        self.seen: dict[float, float] = {}  # since → received at
        self.read_at: dict[float, float] = {}  # since → the server's time of the board's read
        self.frames = 0
        self.first = asyncio.Event()

    async def read(self) -> None:
        with contextlib.suppress(Exception):
            async for raw in self.ws:
                received = time.time()
                frame = json.loads(raw)
                if frame.get("type") != "wallboard":
                    continue
                board = frame["board"]
                if board["team"]["id"] != self.team:
                    continue
                self.frames += 1
                self.first.set()
                for agent in board["agents"]:
                    if agent["id"] == self.agent:
                        since = parse_when(agent["since"])
                        if since is not None and since not in self.seen:
                            self.seen[since] = received
                            self.read_at[since] = parse_when(board["at"]) or received


async def open_socket(base: str, ws_base: str, cookie: str) -> ClientConnection:
    return await connect(
        ws_base + "/ws/desk/",
        origin=base,  # type: ignore[arg-type]
        additional_headers={"Cookie": f"sessionid={cookie}"},
        open_timeout=30,
        max_size=2**22,
    )


async def change_presence(http: httpx.AsyncClient, state: str) -> None:
    response = await http.post(
        "/desk/presence/",
        data={"presence": state},
        headers={
            "X-CSRFToken": http.cookies.get("csrftoken") or "",
            "HX-Request": "true",
            "Origin": str(http.base_url).rstrip("/"),
            "Referer": str(http.base_url),
        },
    )
    if response.status_code >= 400:
        raise BenchError(f"presence change answered {response.status_code}")


async def drive(server_url: str, seed: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    ws_base = server_url.replace("http://", "ws://")
    sockets = []
    for cookie in seed["cookies"]:
        ws = await open_socket(server_url, ws_base, cookie)
        sockets.append(Socket(ws, seed["team"], seed["agent"]))
    readers = [asyncio.create_task(s.read()) for s in sockets]
    for s in sockets:
        await s.ws.send(json.dumps({"type": "wallboard.subscribe"}))
    await asyncio.wait_for(asyncio.gather(*(s.first.wait() for s in sockets)), 30)
    log(f"{len(sockets)} supervisor sockets subscribed")

    async with httpx.AsyncClient(
        base_url=server_url, cookies={"sessionid": seed["agent_cookie"]}, timeout=30
    ) as http:
        await http.get("/desk/")  # the CSRF cookie
        await asyncio.sleep(args.gap)
        for s in sockets:
            s.seen.clear()
        start_cpu = CpuSample.take(args.server_pid)
        states = ["available", "away"]
        for n in range(args.changes):
            await change_presence(http, states[n % 2])
            await asyncio.sleep(args.gap)
        end_cpu = CpuSample.take(args.server_pid)
        latencies = []
        to_read: list[float] = []  # change → the server starts reading the board
        read_to_frame: list[float] = []  # that read → the frame received (read + fan-out)
        missing = 0
        changes = sorted({since for s in sockets for since in s.seen})
        for s in sockets:
            for since in changes:
                if since in s.seen:
                    latencies.append((s.seen[since] - since) * 1000)
                    to_read.append((s.read_at[since] - since) * 1000)
                    read_to_frame.append((s.seen[since] - s.read_at[since]) * 1000)
                else:
                    missing += 1

        # Burst: as fast as one client posts; coalesced per team per second.
        for s in sockets:
            s.frames = 0
            s.seen.clear()
        burst_start = time.time()
        for n in range(args.burst):
            await change_presence(http, states[n % 2])
        burst_end = time.time()
        await asyncio.sleep(max(args.gap, 2.5))
        last_change = max((since for s in sockets for since in s.seen), default=None)
        burst_frames = [s.frames for s in sockets]
        burst_last = [
            (s.seen[last_change] - last_change) * 1000
            for s in sockets
            if last_change is not None and last_change in s.seen
        ]

    for s in sockets:
        await s.ws.close()
    for task in readers:
        task.cancel()
    latencies.sort()
    to_read.sort()
    read_to_frame.sort()
    return {
        "sockets": len(sockets),
        "changes": len(changes),
        "samples": len(latencies),
        "missing": missing,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
        "max_ms": latencies[-1] if latencies else None,
        "mean_ms": statistics.fmean(latencies) if latencies else None,
        "change_to_read_p50_p99_ms": [percentile(to_read, 50), percentile(to_read, 99)],
        "read_to_frame_p50_p99_ms": [percentile(read_to_frame, 50), percentile(read_to_frame, 99)],
        "cpu": cpu_usage(start_cpu, end_cpu),
        "burst": {
            "changes": args.burst,
            "posted_in_s": round(burst_end - burst_start, 2),
            "frames_per_socket_min": min(burst_frames),
            "frames_per_socket_max": max(burst_frames),
            "last_change_to_frame_p50_ms": percentile(sorted(burst_last), 50)
            if burst_last
            else None,
            "last_change_to_frame_max_ms": max(burst_last) if burst_last else None,
            "sockets_with_last_change": len(burst_last),
        },
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--supervisors", type=int, default=100)
    parser.add_argument("--changes", type=int, default=40)
    parser.add_argument("--gap", type=float, default=1.3, help="seconds between changes")
    parser.add_argument("--burst", type=int, default=30)
    parser.add_argument("--redis", type=int, default=None, help="Redis database number")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cleanup = Cleanup()
    workdir = Path(tempfile.mkdtemp(prefix="teamline-wallboard-bench-"))
    cleanup.push("workdir", lambda: shutil.rmtree(workdir, ignore_errors=True))
    try:
        env = teamline_env(workdir, "teamline.settings.defaults")
        env["TEAMLINE_MFA_REQUIRED_ROLES"] = ""
        layer = "InMemory (embedded)"
        if args.redis is not None:
            prefix = f"wbbench{secrets.token_hex(4)}"
            env["TEAMLINE_REDIS_URL"] = f"redis://127.0.0.1:6379/{args.redis}"
            env["TEAMLINE_CHANNEL_PREFIX"] = prefix
            layer = f"Redis pub/sub (db {args.redis}, prefix {prefix})"
        teamline = str(VENV_BIN / "teamline")
        log("migrating a fresh SQLite database")
        run_checked([teamline, "migrate", "--no-input", "-v", "0"], env, "migrate")
        out = run_checked(
            [teamline, "shell", "-c", SEED.format(supervisors=args.supervisors)], env, "seed"
        )
        seed = json.loads(out.strip().splitlines()[-1])
        port = free_port()
        server = start_server(
            "teamline",
            [teamline, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env,
            port,
            workdir,
            cleanup,
        )
        args.server_pid = server.proc.pid
        result = asyncio.run(drive(server.base_url, seed, args))
        if args.redis is not None:
            with contextlib.suppress(Exception):
                import redis

                client = redis.Redis(host="127.0.0.1", port=6379, db=args.redis)
                for key in client.scan_iter(f"{env['TEAMLINE_CHANNEL_PREFIX']}*"):
                    client.delete(key)
        report = {
            "machine": machine_info(),
            "load_avg": os.getloadavg(),
            "commit": code_version(),
            "database": "SQLite (WAL)",
            "channel_layer": layer,
            **result,
        }
        print(json.dumps(report, indent=2))
        ok = result["p99_ms"] is not None and result["p99_ms"] < 200 and not result["missing"]
        log(f"p99 {result['p99_ms']:.1f} ms, missing {result['missing']}: {'OK' if ok else 'FAIL'}")
        return 0 if ok else 1
    finally:
        cleanup.run()


if __name__ == "__main__":
    sys.exit(main())
