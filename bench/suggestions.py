"""Suggestions on a large help center: what the widget's suggestion request and the desk's
suggested articles cost per request (not a test).

    .venv/bin/python bench/suggestions.py [--articles 10000 --rounds 3 --db sqlite|postgresql]

Builds the same database as bench/kb_search.py (the quality set's help center plus fillers),
then, per query of the quality set and round, times through Django's test client (the whole
request path in-process, no network hop):
- `GET /widget/api/<inbox>/suggestions?q=&lang=` with a chat session's token (what the widget
  sends after the visitor pauses typing);
- `GET /desk/conversations/<id>/` with `HX-Target: suggestions` for a conversation whose
  customer wrote that query (the partial the desk fetches when the customer writes again).
- and, as the reference in the same run, `GET /api/v1/kb/search?q=&lang=&limit=3` with a staff
  token (the search alone, as bench/kb_search.py times it).
Reported: p50, p95, max per endpoint. Interleaved, so the machine's load falls on all three.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench.kb_search import build  # noqa: E402
from bench.scratch_db import configure, drop  # noqa: E402


def _pct(timings: list[float], p: float) -> float:
    ordered = sorted(timings)
    return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 2)


def measure(rounds: int) -> dict[str, dict[str, float]]:
    from django.test import Client
    from tests.knowledge.search_set import QUERIES

    from teamline.accounts.actions import do_create_api_token
    from teamline.accounts.models import User
    from teamline.connectors.actions import do_start_webchat_session
    from teamline.core.testing import create_agent, create_inbox, create_team, customer_says
    from teamline.customers.models import Customer
    from teamline.routing.actions import do_assign_conversation

    team = create_team("Bench")
    inbox = create_inbox(team)
    agent = create_agent("bench-agent", team=team)
    widget = Client(HTTP_AUTHORIZATION=f"Bearer {do_start_webchat_session(inbox).token}")
    desk = Client()
    desk.force_login(User.objects.get(pk=agent.pk))
    _, secret = do_create_api_token(agent, name="bench", actor=agent)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    conversations = []
    for n, (query, language, _topic) in enumerate(QUERIES):
        customer = Customer.objects.create(name=f"Bench {n}", home_team=team)
        message, _ = customer_says(customer, query, inbox=inbox)
        conversation = message.conversation
        if conversation.assignee_id is None:
            do_assign_conversation(conversation, agent, actor=None, reason="bench")
        Customer.objects.filter(pk=customer.pk).update(preferred_language=language)
        conversations.append(conversation.pk)
    url = f"/widget/api/{inbox.public_id}/suggestions"
    timings: dict[str, list[float]] = {"api search (reference)": [], "widget": [], "desk": []}
    from django.core.cache import cache

    for _ in range(rounds):
        for (query, language, _topic), conversation_id in zip(QUERIES, conversations, strict=True):
            cache.clear()  # the per-session limit is not what is measured
            started = time.perf_counter()
            response = api.get("/api/v1/kb/search", {"q": query, "lang": language, "limit": 3})
            timings["api search (reference)"].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.content
            started = time.perf_counter()
            response = widget.get(url, {"q": query, "lang": language})
            timings["widget"].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.content
            started = time.perf_counter()
            response = desk.get(
                f"/desk/conversations/{conversation_id}/",
                headers={"HX-Request": "true", "HX-Target": "suggestions"},
            )
            timings["desk"].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.status_code
    return {
        name: {
            "requests": len(values),
            "p50_ms": _pct(values, 0.5),
            "p95_ms": _pct(values, 0.95),
            "max_ms": round(max(values), 2),
            "mean_ms": round(statistics.fmean(values), 2),
        }
        for name, values in timings.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--db-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="teamline-bench-suggest-") as workdir:
        name = configure(args.db, args.db_url, Path(workdir), label="suggest")
        try:
            build(args.articles, 0, random.Random(7), "mixed")
            result = measure(args.rounds)
        finally:
            drop(args.db_url, name)
    print(f"## Suggestions: {args.articles:,} articles on {args.db}")
    for endpoint, figures in result.items():
        print(
            f"{endpoint}: {figures['requests']} requests, p50 {figures['p50_ms']} ms · "
            f"p95 {figures['p95_ms']} ms · max {figures['max_ms']} ms"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
