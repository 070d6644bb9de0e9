"""Deflection figures on large tables: latency of GET /api/v1/selfservice/deflection (not a test).

    .venv/bin/python bench/deflection.py [--episodes 500000 --customers 100000 --teams 20
        --contacts 150000 --days 60 --rounds 5 --db sqlite|postgresql
        --db-url postgres://postgres@127.0.0.1:5432/postgres --json out.json]

Builds a fresh database (a temporary SQLite file, or a scratch PostgreSQL database
teamline_bench_deflection_<pid>, dropped afterwards), migrates it and bulk-inserts:
- `--customers` customers spread over `--teams` teams;
- `--episodes` self-service episodes over the last `--days` days (kinds, channels and six
  subjects mixed; 3 % anonymous help-center readers);
- `--contacts` routing work items (the human contacts): each for a random customer, entering the
  queue at a random time of the period, 60 % closed done within an hour, 10 % abandoned, the
  rest still live. They have no conversation (the figures read only customer, times and
  state), which keeps the build fast.

Then asks the API `--rounds` times, through Django's test client with a staff token (the whole
request path in-process): an admin for the last 30 days (every team), the same filtered to SMS,
and a supervisor of one team for the last 30 days. Reports p50 / p95 / max per question and the
figures of the last answer. Each run also prints the SQL plan's shape where the database tells it.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench.scratch_db import configure, drop  # noqa: E402

CHANNELS = [("sms", "sms_keyword"), ("voice", "ivr"), ("webchat", "bot"), ("whatsapp", "bot")]
SUBJECTS = ["balance", "data_left", "outage", "bill_explained", "opening_hours", "article:17"]
BATCH = 20_000


def build(args: argparse.Namespace) -> dict[str, object]:
    from django.core.management import call_command
    from django.utils import timezone

    from teamline.accounts.models import Role
    from teamline.core.testing import create_team, create_user
    from teamline.customers.models import Customer
    from teamline.routing.models import WorkItem, WorkState
    from teamline.selfservice.actions import DEFLECTION_WINDOW
    from teamline.selfservice.models import SelfServiceEpisode

    call_command("migrate", verbosity=0)
    rng = random.Random(7)
    now = timezone.now()
    start = now - timedelta(days=args.days)
    span = int(timedelta(days=args.days).total_seconds())
    teams = [create_team(f"Team {i}") for i in range(args.teams)]
    began = time.perf_counter()
    for offset in range(0, args.customers, BATCH):
        Customer.objects.bulk_create(
            Customer(name=f"Customer {i}", home_team=teams[i % len(teams)])
            for i in range(offset, min(args.customers, offset + BATCH))
        )
    customer_ids = list(Customer.objects.values_list("pk", flat=True))
    for offset in range(0, args.episodes, BATCH):
        rows = []
        for _ in range(min(BATCH, args.episodes - offset)):
            channel, kind = rng.choice(CHANNELS)
            anonymous = rng.random() < 0.03
            at = start + timedelta(seconds=rng.randrange(span))
            rows.append(
                SelfServiceEpisode(
                    kind="article" if anonymous else kind,
                    channel="help" if anonymous else channel,
                    subject="article:17" if anonymous else rng.choice(SUBJECTS),
                    customer_id=None if anonymous else rng.choice(customer_ids),
                    created_at=at,
                    window_ends_at=at + DEFLECTION_WINDOW,
                )
            )
        SelfServiceEpisode.objects.bulk_create(rows)
    for offset in range(0, args.contacts, BATCH):
        items = []
        for _ in range(min(BATCH, args.contacts - offset)):
            arrived = start + timedelta(seconds=rng.randrange(span))
            fate = rng.random()
            state = (
                WorkState.DONE
                if fate < 0.6
                else WorkState.ABANDONED
                if fate < 0.7
                else WorkState.ASSIGNED
            )
            closed = arrived + timedelta(seconds=rng.randrange(3600)) if fate < 0.7 else None
            items.append(
                WorkItem(
                    customer_id=rng.choice(customer_ids),
                    state=state,
                    enqueued_at=arrived,
                    rank_at=arrived,
                    step_entered_at=arrived,
                    closed_at=closed,
                )
            )
        WorkItem.objects.bulk_create(items)
    built = time.perf_counter() - began
    admin = create_user("bench-admin", role=Role.ADMIN)
    supervisor = create_user("bench-supervisor", role=Role.SUPERVISOR, supervises=teams[0])
    return {"admin": admin, "supervisor": supervisor, "now": now, "built_seconds": built}


def measure(args: argparse.Namespace, world: dict[str, object]) -> dict[str, object]:
    from django.db import connection
    from django.test import Client

    from teamline.accounts.actions import do_create_api_token

    def client_for(user: object) -> Client:
        _, secret = do_create_api_token(user, name="bench", actor=user)  # type: ignore[arg-type]
        return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    admin, supervisor = client_for(world["admin"]), client_for(world["supervisor"])
    month = {"from": (world["now"] - timedelta(days=30)).isoformat()}  # type: ignore[operator]
    questions = {
        "admin, 30 days, every team": (admin, month),
        "admin, 30 days, sms only": (admin, {**month, "channel": "sms"}),
        "supervisor, 30 days, one team": (supervisor, month),
    }
    results: dict[str, object] = {}
    if args.explain:
        explain(world)
    for label, (client, params) in questions.items():
        timings = []
        body = {}
        for _ in range(args.rounds):
            began = time.perf_counter()
            response = client.get("/api/v1/selfservice/deflection", params)
            timings.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200, response.content
            body = response.json()
        timings.sort()
        p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
        results[label] = {
            "p50_ms": round(statistics.median(timings), 1),
            "p95_ms": round(p95, 1),
            "max_ms": round(timings[-1], 1),
            "totals": body["totals"],
        }
        print(f"{label}: p50 {results[label]['p50_ms']} ms, p95 {p95:.1f} ms", flush=True)  # type: ignore[index]
        print(f"  totals {body['totals']}", flush=True)
    return results


def explain(world: dict[str, object]) -> None:
    """The database's plan for the followed episodes (not articles) of the last 30 days: the
    query with the EXISTS over the work items."""
    from django.db import connection
    from django.db.models import Count

    from teamline.selfservice.deflection import followed_episodes
    from teamline.selfservice.models import SelfServiceEpisode

    now = world["now"]
    month = SelfServiceEpisode.objects.filter(created_at__gte=now - timedelta(days=30))  # type: ignore[operator]
    _articles, others = followed_episodes(month.order_by())
    rows = others.values("channel", "subject", "kind", "helpful").annotate(n=Count("pk"))
    sql, params = rows.query.sql_with_params()
    prefix = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
    with connection.cursor() as cursor:
        cursor.execute(prefix + sql, params)
        for row in cursor.fetchall():
            print("  plan:", " ".join(str(part) for part in row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=500_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--teams", type=int, default=20)
    parser.add_argument("--contacts", type=int, default=150_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--db-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--explain", action="store_true", help="print the query plan")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="teamline-bench-deflection-") as workdir:
        name = configure(args.db, args.db_url, Path(workdir), label="deflection")
        try:
            world = build(args)
            print(f"built in {world['built_seconds']:.0f} s", flush=True)
            results = measure(args, world)
        finally:
            drop(args.db_url, name)
    report = {"db": args.db, **{k: v for k, v in vars(args).items() if k not in ("json",)}}
    report["results"] = results
    report.pop("db_url", None)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
