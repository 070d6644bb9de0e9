"""Staff API requests through the real server: the server's CPU per request (not a test).

    .venv/bin/python bench/staff_requests.py [--backend sqlite|postgres] [--redis-db N]
        [-n 3000] [-c 4] [--rounds 3] [--json FILE]

What an agent's app or a supervisor's script costs the server for each API call: the real
`teamline serve` (one web process; on PostgreSQL + Redis with `--no-worker`) on a fresh
database seeded by bench/seed_teamline.py (one team, 5 agents with their personal access
tokens), then, per round, N `GET /api/v1/conversations` with a token, C at a time (httpx, one
keep-alive connection per client; the agents take turns). Measured per round: requests per
second, the server process's CPU time per request (user + system from /proc, every thread), and
the latency percentiles. The whole staff path is in it: uvicorn, Django's request handling
(core/asgi_handler.py), the thirteen middlewares, django-ninja, the token, the list query.

To compare two checkouts, run this file from one and point the server at the other's code with
`PYTHONPATH=<other>/src` (the server is started with the caller's PYTHONPATH in front), one
after the other in the same sitting. Loopback only; everything started is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ws_throughput as wt
from ws_throughput import BenchError, Cleanup, log, percentile


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--redis-db", type=int, default=None)
    parser.add_argument("-n", "--requests", type=int, default=3000, help="per round")
    parser.add_argument("-c", "--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = parser.parse_args(argv)
    # What run_teamline reads from ws_throughput's arguments.
    args.agents, args.customers, args.web_processes, args.ws_deflate = 5, 5, 1, None
    return args


async def one_round(base_url: str, tokens: list[str], n: int, concurrency: int) -> list[float]:
    todo = iter(range(n))
    latencies: list[float] = []
    turns = itertools.cycle(tokens)

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            for _ in todo:
                headers = {"Authorization": f"Bearer {next(turns)}"}
                started = time.perf_counter()
                answer = await http.get("/api/v1/conversations", headers=headers)
                latencies.append((time.perf_counter() - started) * 1000)
                if answer.status_code != 200:
                    raise BenchError(f"answered {answer.status_code}: {answer.text[:200]}")

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies


def run(args: argparse.Namespace, workdir: Path, cleanup: Cleanup, runner: Any) -> dict[str, Any]:
    settings_module = "teamline_bench_settings"
    if args.backend == "sqlite":
        backend = wt.setup_sqlite(workdir, settings_module, None)
    else:
        backend = wt.setup_postgres(workdir, cleanup, args.redis_db, settings_module)
    server, target, _login = wt.run_teamline(backend, args, cleanup)
    pid = server.proc.pid
    tokens = [token for token in target.api_tokens if token]
    if not tokens:
        raise BenchError("the seed gave the agents no API tokens")
    runner.run(one_round(server.base_url, tokens, 200, args.concurrency))  # warm
    rounds = []
    for number in range(1, args.rounds + 1):
        cpu, wall = wt.process_cpu_seconds(pid), time.perf_counter()
        latencies = runner.run(one_round(server.base_url, tokens, args.requests, args.concurrency))
        wall = time.perf_counter() - wall
        cpu = wt.process_cpu_seconds(pid) - cpu
        latencies.sort()
        result = {
            "round": number,
            "requests_per_s": round(args.requests / wall, 1),
            "server_cpu_ms_per_request": round(cpu * 1000 / args.requests, 3),
            "latency_ms": {str(q): round(percentile(latencies, q), 2) for q in (50, 95, 99)},
        }
        log(
            f"round {number}: {result['requests_per_s']} req/s, "
            f"{result['server_cpu_ms_per_request']} ms server CPU per request, "
            f"p50/p95/p99 {'/'.join(str(v) for v in result['latency_ms'].values())} ms"
        )
        rounds.append(result)

    def median(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    record = {
        "target": "staff API reads through the server",
        "backend": args.backend,
        "requests": args.requests,
        "concurrency": args.concurrency,
        "machine": {**wt.machine_info(), "code": wt.code_version()},
        "rounds": rounds,
        "requests_per_s": median("requests_per_s"),
        "server_cpu_ms_per_request": median("server_cpu_ms_per_request"),
        "ok": all(not math.isnan(r["latency_ms"]["99"]) for r in rounds),
    }
    print(
        f"median of {args.rounds}: {record['requests_per_s']} req/s, "
        f"{record['server_cpu_ms_per_request']} ms server CPU per request"
    )
    return record


def main() -> int:
    args = parse_args(sys.argv[1:])
    return wt.run_and_clean_up(args, "teamline-staff-", run)


if __name__ == "__main__":
    sys.exit(main())
