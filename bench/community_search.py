"""The help center's search with the community in it: 10,000 articles and 100,000 community
posts (questions and answers), latency of the help center's search page — which searches the
articles and the community questions — and of the articles-only API search beside it, in the
same run (not a test).

    .venv/bin/python bench/community_search.py [--articles 10000 --posts 100000 --rounds 2
        --db sqlite|postgresql --db-url postgres://postgres@127.0.0.1:5432/postgres]

The articles are bench/kb_search.py's (the quality set's help center plus "mixed" fillers).
The posts are real community rows, one question to three answers (25,000 questions for
100,000 posts), in the six languages, their text written like kb_search.py's posts (40 % the
quality set's words of that language, 60 % invented ones); bulk-inserted, each question indexed
as one "question" document holding its answers (community/search.py's text), with the term
counts `index_document` keeps. Then every query of the quality set is sent `--rounds` times to
`GET /help/search?q=&lang=` (HTML: the articles and the community questions, two searches and
the page), through Django's test client in-process, each request from its own address (the
help center's per-address limit is not what is measured). bench/kb_search.py measures the
articles-only API on the same kind of corpus.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench import kb_search  # noqa: E402 - after the path is set
from bench.scratch_db import configure, drop  # noqa: E402


def add_posts(posts: int, rng: random.Random) -> int:
    """Bulk-insert `posts` community posts (a question and three answers per four) and index
    each question with its answers as community/search.py does; returns how many questions."""
    from django.db import connection, transaction
    from django.db.models import F
    from tests.knowledge.search_set import ARTICLES

    from teamline.community.models import Post, PostKind
    from teamline.community.search import document_text
    from teamline.knowledge.models import SearchEntry, SearchTerm
    from teamline.knowledge.search import QUESTION, entry_for

    writer = kb_search.Writer(rng, "mixed")
    share = kb_search.POST_REAL_SHARE
    languages = list(ARTICLES)
    questions = posts // 4
    batch = 500
    counts: Counter[tuple[str, str, str]] = Counter()
    for start in range(0, questions, batch):
        with transaction.atomic():
            asked = Post.objects.bulk_create(
                [
                    Post(
                        kind=PostKind.QUESTION,
                        language=(language := languages[i % len(languages)]),
                        title=writer.text(language, rng.randint(4, 12), share)[:190],
                        body=writer.text(language, rng.randint(10, 80), share),
                        author_name="Bench",
                    )
                    for i in range(start, min(questions, start + batch))
                ]
            )
            Post.objects.bulk_create(
                [
                    Post(
                        kind=PostKind.ANSWER,
                        question=q,
                        language=q.language,
                        body=writer.text(q.language, rng.randint(10, 80), share),
                        author_name="Bench",
                    )
                    for q in asked
                    for _ in range(3)
                ]
            )
            entries = [
                entry_for(QUESTION, q.pk, q.language, q.title, document_text(q)) for q in asked
            ]
            SearchEntry.objects.bulk_create(entries)
            kb_search._count(counts, entries)
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
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    return questions


def measure_help_center(rounds: int) -> dict:
    from django.db import connection
    from django.test import Client
    from tests.knowledge.search_set import QUERIES

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    client = Client()
    n = 0
    for query, language, _topic in QUERIES[:5]:  # warm up
        n += 1
        client.get("/help/search", {"q": query, "lang": language}, REMOTE_ADDR=f"10.1.{n}.1")
    timings: list[float] = []
    with_community = 0
    for _round in range(rounds):
        for query, language, _topic in QUERIES:
            n += 1
            address = f"10.{2 + n // 60000}.{(n // 250) % 250}.{n % 250}"
            started = time.perf_counter()
            response = client.get(
                "/help/search", {"q": query, "lang": language}, REMOTE_ADDR=address
            )
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.status_code
            with_community += b'id="community-results"' in response.content
    timings.sort()

    def pct(p: float) -> float:
        return round(timings[min(len(timings) - 1, int(p * len(timings)))], 2)

    return {
        "requests": len(timings),
        "with_community_hits": with_community,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "max_ms": round(timings[-1], 2),
        "mean_ms": round(statistics.fmean(timings), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--db-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="teamline-bench-community-") as workdir:
        name = configure(args.db, args.db_url, Path(workdir), label="community")
        try:
            rng = random.Random(args.seed)
            started = time.perf_counter()
            kb_search.build(args.articles, 0, rng, "mixed")
            questions = add_posts(args.posts, rng)
            built = round(time.perf_counter() - started, 1)
            help_center = measure_help_center(args.rounds)
        finally:
            drop(args.db_url, name)
    print(
        f"## Help center search: {args.articles:,} articles, {args.posts:,} community posts "
        f"({questions:,} questions) on {args.db}; built in {built} s"
    )
    r = help_center
    print(
        f"help center page (articles + community): {r['requests']} searches · "
        f"p50 {r['p50_ms']} ms · p95 {r['p95_ms']} ms · p99 {r['p99_ms']} ms · max {r['max_ms']} ms"
    )
    print(f"pages with community hits: {help_center['with_community_hits']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
