"""Knowledge-base search at scale: latency of the API search over a help center of 10,000
articles beside 100,000 community posts, and how well the quality set's answers hold among
them (not a test).

    .venv/bin/python bench/kb_search.py [--articles 10000 --posts 100000 --rounds 3
        --db sqlite|postgresql --db-url postgres://postgres@127.0.0.1:5432/postgres
        --transport http|client --json out.json --keep]

Builds a fresh database (a SQLite file in a temporary directory, or a scratch PostgreSQL
database teamline_bench_kbsearch_<pid> that is dropped afterwards unless --keep), migrates it and
indexes:
- the quality set's help center (tests/knowledge/search_set.py: 12 topics × 6 languages),
  through knowledge.actions.do_create_article (the real write path, indexing included);
- `--articles` − 72 filler articles in the same six languages, titles of 3-7 and bodies of
  60-160 words. `--fillers mixed` (default): 30 % of the words drawn from the quality set's
  articles of that language (so fillers share the words real queries use), 70 % invented words
  with a Zipf distribution (standing for a large help center's other topics). `--fillers salad`:
  every word drawn from the answers' vocabulary — adversarial: each filler is a random mix of
  exactly the words the queries use;
- `--posts` community posts (search documents of kind "question", the six languages in turn):
  titles of 4-12 and bodies of 10-120 words, 40 % of their words from the answers' vocabulary
  (customers ask about the same roaming, bills and SIM cards) and 60 % invented ones.
Fillers and posts are bulk-inserted with the entries and term counts `index_document` writes
(the FTS triggers / the generated tsvector and GIN index do the same work either way); on
PostgreSQL the table is then vacuumed and analysed, as autovacuum would after a bulk load.

Then every query of the quality set is sent `--rounds` times through the JSON API
(`GET /api/v1/kb/search?q=&lang=` with a staff token), timed per request. `--transport http`
(default): a real `teamline serve` (uvicorn) on a free local port, one keep-alive HTTP client
sending one request at a time; `--transport client`: Django's test client in-process (no
server, no network). Reported: p50, p95, p99, max of the API search; p50/p95 of the same
queries searching the community posts (`search(kinds=["question"])`, in-process); recall@3 /
MRR of the quality set per language on this corpus.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench.scratch_db import configure, drop  # noqa: E402

INVENTED = 5000
FILLER_REAL_SHARE = 0.3
POST_REAL_SHARE = 0.4
LETTERS = {
    "en": ("bcdfghklmnprstvw", "aeiou"),
    "nb": ("bdfghjklmnprstv", "aeiouyæøå"),
    "et": ("dghjklmnprstv", "aeiouõäöü"),
    "pt": ("bcdfglmnprstv", "aeiouãéçõ"),
}
CHINESE = {"zh-hans", "zh-hant"}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _invented_words(language: str, rng: random.Random) -> list[str]:
    """INVENTED words of the language's letters that appear in no real article (the other
    topics of a large help center), or, for Chinese, pairs of common characters."""
    if language in CHINESE:
        return [
            "".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(2)) for _ in range(INVENTED)
        ]
    consonants, vowels = LETTERS[language]
    return [
        "".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(rng.randint(2, 4)))
        for _ in range(INVENTED)
    ]


class Writer:
    """Random texts in each language: a share of the answers' own words, the rest invented."""

    def __init__(self, rng: random.Random, kind: str) -> None:
        from tests.knowledge.search_set import ARTICLES

        self.rng, self.kind = rng, kind
        self.vocab = {
            language: [
                token
                for title, body in topics.values()
                for token in (
                    list(title + body) if language in CHINESE else f"{title} {body}".split()
                )
            ]
            for language, topics in ARTICLES.items()
        }
        self.invented = {language: _invented_words(language, rng) for language in ARTICLES}
        self.zipf = [1 / rank for rank in range(1, INVENTED + 1)]

    def text(self, language: str, n: int, real_share: float) -> str:
        rng, joiner = self.rng, "" if language in CHINESE else " "
        if self.kind == "salad":
            return joiner.join(rng.choices(self.vocab[language], k=n))
        real = rng.choices(self.vocab[language], k=round(n * real_share))
        other = rng.choices(self.invented[language], weights=self.zipf, k=n - len(real))
        mixed = real + other
        rng.shuffle(mixed)
        return joiner.join(mixed)


def _count(counts: Counter[tuple[str, str, str]], entries: list[Any]) -> None:
    for entry in entries:
        counts.update(
            (entry.kind, entry.language, term)
            for term in {
                "",
                *entry.title_words.split(),
                *entry.title_grams.split(),
                *entry.body_words.split(),
                *entry.body_grams.split(),
            }
        )


def build(articles: int, posts: int, rng: random.Random, filler_kind: str) -> dict[int, str]:
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.db.models import F
    from django.utils import timezone
    from tests.knowledge.search_set import ARTICLES

    from teamline.core.testing import create_user
    from teamline.knowledge.actions import do_create_article
    from teamline.knowledge.models import (
        Article,
        ArticleStatus,
        ArticleVersion,
        SearchEntry,
        SearchTerm,
    )
    from teamline.knowledge.search import ARTICLE, QUESTION, entry_for

    call_command("migrate", verbosity=0)
    author = create_user(role="admin", username=f"bench{uuid.uuid4().hex[:6]}")
    topic_of: dict[int, str] = {}
    for language, topics in ARTICLES.items():
        for topic, (title, body) in topics.items():
            article = do_create_article(
                actor=author, title=title, body=body, language=language, publish=True
            )
            topic_of[article.pk] = topic
    writer = Writer(rng, filler_kind)
    fillers = articles - len(topic_of)
    languages = list(ARTICLES)
    now = timezone.now()
    batch = 1000
    counts: Counter[tuple[str, str, str]] = Counter()
    log(f"{fillers:,} filler articles")
    for start in range(0, fillers, batch):
        rows = []
        for i in range(start, min(fillers, start + batch)):
            language = languages[i % len(languages)]
            title = writer.text(language, rng.randint(3, 7), FILLER_REAL_SHARE)[:190]
            body = writer.text(language, rng.randint(60, 160), FILLER_REAL_SHARE)
            rows.append((language, f"filler-{i}", title, body))
        with transaction.atomic():
            created = Article.objects.bulk_create(
                [
                    Article(
                        language=language,
                        slug=slug,
                        title=title,
                        body=body,
                        version=1,
                        status=ArticleStatus.PUBLISHED,
                        created_by=author,
                        created_at=now,
                        updated_at=now,
                    )
                    for language, slug, title, body in rows
                ]
            )
            versions = ArticleVersion.objects.bulk_create(
                [
                    ArticleVersion(article=a, number=1, title=a.title, body=a.body, author=author)
                    for a in created
                ]
            )
            for article, version in zip(created, versions, strict=True):
                article.published_version = version
            Article.objects.bulk_update(created, ["published_version"])
            entries = [
                entry_for(ARTICLE, a.pk, a.language, v.title, v.body)
                for a, v in zip(created, versions, strict=True)
            ]
            SearchEntry.objects.bulk_create(entries)
            _count(counts, entries)
    log(f"{posts:,} community posts")
    for start in range(0, posts, batch):
        entries = []
        for i in range(start, min(posts, start + batch)):
            language = languages[i % len(languages)]
            title = writer.text(language, rng.randint(4, 12), POST_REAL_SHARE)
            body = writer.text(language, rng.randint(10, 120), POST_REAL_SHARE)
            entries.append(entry_for(QUESTION, i + 1, language, title, body))
        with transaction.atomic():
            SearchEntry.objects.bulk_create(entries)
        _count(counts, entries)
    # The term counts index_document keeps, for the bulk-inserted documents.
    log("term counts")
    with transaction.atomic():
        known = set(SearchTerm.objects.values_list("kind", "language", "term"))
        SearchTerm.objects.bulk_create(
            [
                SearchTerm(kind=kind, language=language, term=term, documents=n)
                for (kind, language, term), n in counts.items()
                if (kind, language, term) not in known
            ],
            batch_size=5000,
        )
        for kind, language, term in known & set(counts):
            SearchTerm.objects.filter(kind=kind, language=language, term=term).update(
                documents=F("documents") + counts[kind, language, term]
            )
    if connection.vendor == "postgresql":
        log("vacuum analyze")
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    return topic_of


def answers() -> dict[int, str]:
    """The quality set's articles in a database built before (--reuse): id → topic."""
    from tests.knowledge.search_set import ARTICLES

    from teamline.knowledge.models import Article

    topic = {title: t for topics in ARTICLES.values() for t, (title, _body) in topics.items()}
    articles = Article.objects.exclude(slug__startswith="filler-").values_list("pk", "title")
    return {pk: topic[title] for pk, title in articles if title in topic}


# --- The server (--transport http) ---------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve(workdir: Path) -> Iterator[str]:
    """`teamline serve` (uvicorn) on a free port, with this process's database; stopped after."""
    import httpx
    from django.db import connections

    connections.close_all()  # SQLite: the server opens the file itself
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["DJANGO_SETTINGS_MODULE"] = "teamline.settings.defaults"
    log_path = workdir / "server.log"
    command = [str(Path(sys.executable).parent / "teamline"), "serve", "--no-worker"]
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port)],
            env=env,
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
                httpx.get(base + "/help/", timeout=2.0)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


# --- Measuring ------------------------------------------------------------------------------


def _stats(timings: list[float]) -> dict[str, float]:
    timings = sorted(timings)

    def pct(p: float) -> float:
        return round(timings[min(len(timings) - 1, int(p * len(timings)))], 2)

    return {
        "requests": len(timings),
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "max_ms": round(timings[-1], 2),
        "mean_ms": round(statistics.fmean(timings), 2),
    }


def measure(
    topic_of: dict[int, str], rounds: int, get: Callable[[dict[str, str]], list[int]]
) -> dict[str, Any]:
    from tests.knowledge.search_set import QUERIES

    for query, language, _topic in QUERIES[:5]:  # warm up
        get({"q": query, "lang": language})
    timings: list[float] = []
    slowest: list[tuple[float, str, str]] = []
    ranks: dict[str, list[int | None]] = {}
    for round_ in range(rounds):
        for query, language, topic in QUERIES:
            started = time.perf_counter()
            ids = get({"q": query, "lang": language})
            elapsed = (time.perf_counter() - started) * 1000
            timings.append(elapsed)
            slowest.append((round(elapsed, 1), language, query))
            if round_ == 0:
                found = [i for i, pk in enumerate(ids, 1) if topic_of.get(pk) == topic]
                ranks.setdefault(language, []).append(found[0] if found else None)
    # The same requests with a query no document holds: the HTTP stack, the token check and
    # the term lookup, without the full-text search (what the search itself adds is the rest).
    floor = []
    for _ in range(rounds):
        for _query, language, _topic in QUERIES:
            started = time.perf_counter()
            get({"q": "qxzqxzqxz", "lang": language})
            floor.append((time.perf_counter() - started) * 1000)
    quality = {
        language: {
            "queries": len(found),
            "recall_at_3": round(sum(1 for r in found if r is not None and r <= 3) / len(found), 3),
            "mrr": round(sum(1 / r for r in found if r is not None) / len(found), 3),
        }
        for language, found in sorted(ranks.items())
    }
    return {
        **_stats(timings),
        "slowest": sorted(slowest)[-5:],
        "floor": _stats(floor),
        "quality": quality,
    }


def measure_posts(rounds: int) -> dict[str, float]:
    """The same queries searching the community posts (what the community app will call)."""
    from tests.knowledge.search_set import QUERIES

    from teamline.knowledge.search import QUESTION, search

    timings = []
    for _ in range(rounds):
        for query, language, _topic in QUERIES:
            started = time.perf_counter()
            search(query, languages=[language], kinds=[QUESTION], limit=10)
            timings.append((time.perf_counter() - started) * 1000)
    return _stats(timings)


def api_client(transport: str, base: str) -> Callable[[dict[str, str]], list[int]]:
    from teamline.accounts.actions import do_create_api_token
    from teamline.accounts.models import User

    user = User.objects.filter(role="admin").first()
    assert user is not None
    _, secret = do_create_api_token(user, name="bench", actor=user)
    headers = {"Authorization": f"Bearer {secret}"}
    if transport == "client":
        from django.test import Client

        client = Client(headers=headers)

        def get_in_process(params: dict[str, str]) -> list[int]:
            response = client.get("/api/v1/kb/search", params)
            assert response.status_code == 200, response.content
            return [r["id"] for r in response.json()["results"]]

        return get_in_process
    import httpx

    http = httpx.Client(base_url=base, headers=headers, timeout=30)

    def get_over_http(params: dict[str, str]) -> list[int]:
        response = http.get("/api/v1/kb/search", params=params)
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["results"]]

    return get_over_http


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{cpu}, {os.cpu_count()} CPUs, load average {load}"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--db-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--transport", choices=["http", "client"], default="http")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--fillers",
        choices=["mixed", "salad"],
        default="mixed",
        help="mixed: 30 %% the answers' words, 70 %% invented words (other topics); salad: "
        "only the answers' words (adversarial: every filler shares every query word)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument("--reuse", default="", help="measure a kept database (name or file)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="teamline-kbsearch-") as workdir:
        name = configure(args.db, args.db_url, Path(workdir), label="kbsearch", reuse=args.reuse)
        try:
            started = time.perf_counter()
            if args.reuse:
                from django.core.management import call_command

                call_command("migrate", verbosity=0)  # the code may have moved on since
                topic_of = answers()
            else:
                topic_of = build(args.articles, args.posts, random.Random(args.seed), args.fillers)
            built = time.perf_counter() - started
            log(f"built in {built:.0f} s; searching through {args.transport}")
            with (
                serve(Path(workdir)) if args.transport == "http" else contextlib.nullcontext("")
            ) as base:
                api = measure(topic_of, args.rounds, api_client(args.transport, base))
            result = {
                "db": args.db,
                "articles": args.articles,
                "posts": args.posts,
                "fillers": args.fillers,
                "transport": args.transport,
                "machine": machine(),
                "build_seconds": round(built, 1),
                **api,
                "posts_search": measure_posts(args.rounds) if args.posts else None,
            }
        finally:
            if args.reuse:
                pass
            elif args.keep and not name:
                kept = Path(tempfile.gettempdir()) / f"teamline_kbsearch_{os.getpid()}.sqlite3"
                from django.db import connections

                connections.close_all()  # the last connection checkpoints the WAL
                shutil.copyfile(Path(workdir) / "teamline.sqlite3", kept)
                log(f"kept database {kept}")
            elif args.keep:
                log(f"kept database {name}")
            else:
                drop(args.db_url, name)
    print(
        f"## Knowledge-base search: {args.articles:,} articles ({args.fillers}) + "
        f"{args.posts:,} posts on {args.db}, API through {args.transport}"
    )
    print(f"{result['machine']}; built in {result['build_seconds']} s")
    print(
        f"API: {result['requests']} searches, p50 {result['p50_ms']} ms · p95 "
        f"{result['p95_ms']} ms · p99 {result['p99_ms']} ms · max {result['max_ms']} ms"
    )
    floor = result["floor"]
    print(f"floor (a query nothing holds): p50 {floor['p50_ms']} ms · p95 {floor['p95_ms']} ms")
    print(f"slowest: {result['slowest']}")
    if result["posts_search"]:
        posts = result["posts_search"]
        print(f"posts (in-process search()): p50 {posts['p50_ms']} ms · p95 {posts['p95_ms']} ms")
    print("| language | queries | recall@3 | MRR |\n|---|---|---|---|")
    for language, q in result["quality"].items():
        print(f"| {language} | {q['queries']} | {q['recall_at_3']:.2f} | {q['mrr']:.2f} |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
