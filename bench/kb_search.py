"""Knowledge-base search on a large help center: latency of the API search and how well the
quality set's answers hold among many other articles (not a test).

    .venv/bin/python bench/kb_search.py [--articles 10000 --rounds 3 --db sqlite|postgresql
        --db-url postgres://postgres@127.0.0.1:5432/postgres --json out.json]

Builds a fresh database (a temporary SQLite file, or a scratch PostgreSQL database
teamline_bench_kb_<pid> that is dropped afterwards), migrates it and publishes:
- the quality set's help center (tests/knowledge/search_set.py: 12 topics × 6 languages), and
- `--articles` − 72 filler articles in the same six languages, titles of 3-7 and bodies of
  60-160 words. `--fillers mixed` (default): 30 % of the words drawn from the quality set's
  articles of that language (so fillers share the words real queries use), 70 % invented words
  with a Zipf distribution (standing for a large help center's other topics). `--fillers salad`:
  every word drawn from the answers' vocabulary — adversarial: each filler is a random mix of
  exactly the words the queries use.
Articles are stored by knowledge.actions.do_create_article (the real write path, indexing
included) except the fillers, which are bulk-inserted with the same `index_article` terms (the
FTS triggers / GIN index do the same work either way).

Then every query of the quality set is sent `--rounds` times through the JSON API
(`GET /api/v1/kb/search?q=&lang=`, with a staff token, through Django's test client: the whole
request path in-process, without a network hop) and timed per request; reported: p50, p95,
p99, max, and recall@3 / MRR of the quality set on this large corpus per language.

The community posts the issue also names (100,000) do not exist yet; this benchmark covers
articles only.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))


def configure(db: str, db_url: str, workdir: Path) -> str:
    os.environ["DJANGO_SETTINGS_MODULE"] = "teamline.settings.defaults"
    os.environ["TEAMLINE_VAR_DIR"] = str(workdir)
    os.environ["TEAMLINE_SECRET_KEY"] = "bench-" + uuid.uuid4().hex * 2
    os.environ["TEAMLINE_LOG_LEVEL"] = "WARNING"
    os.environ["TEAMLINE_ALLOWED_HOSTS"] = "testserver"
    os.environ.pop("TEAMLINE_REDIS_URL", None)
    name = ""
    if db == "postgresql":
        import psycopg

        name = f"teamline_bench_kb_{os.getpid()}"
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        base = db_url.rsplit("/", 1)[0]
        os.environ["TEAMLINE_DATABASE_URL"] = f"{base}/{name}"
    else:
        os.environ.pop("TEAMLINE_DATABASE_URL", None)
    import django

    django.setup()
    return name


def drop(db_url: str, name: str) -> None:
    if not name:
        return
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


INVENTED = 5000
REAL_SHARE = 0.3
LETTERS = {
    "en": ("bcdfghklmnprstvw", "aeiou"),
    "nb": ("bdfghjklmnprstv", "aeiouyæøå"),
    "et": ("dghjklmnprstv", "aeiouõäöü"),
    "pt": ("bcdfglmnprstv", "aeiouãéçõ"),
}


def _invented_words(language: str, rng: random.Random) -> list[str]:
    """INVENTED words of the language's letters that appear in no real article (the other
    topics of a large help center), or, for Chinese, pairs of common characters."""
    if language in ("zh-hans", "zh-hant"):
        return [
            "".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(2)) for _ in range(INVENTED)
        ]
    consonants, vowels = LETTERS[language]
    return [
        "".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(rng.randint(2, 4)))
        for _ in range(INVENTED)
    ]


def build(articles: int, rng: random.Random, filler_kind: str) -> dict[int, str]:
    from django.core.management import call_command
    from django.db import transaction
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
    from teamline.knowledge.search import ARTICLE, entry_for

    call_command("migrate", verbosity=0)
    author = create_user(role="admin", username=f"bench{uuid.uuid4().hex[:6]}")
    topic_of: dict[int, str] = {}
    for language, topics in ARTICLES.items():
        for topic, (title, body) in topics.items():
            article = do_create_article(
                actor=author, title=title, body=body, language=language, publish=True
            )
            topic_of[article.pk] = topic
    chinese = {"zh-hans", "zh-hant"}
    vocab = {
        language: [
            token
            for title, body in topics.values()
            for token in (list(title + body) if language in chinese else f"{title} {body}".split())
        ]
        for language, topics in ARTICLES.items()
    }
    invented = {language: _invented_words(language, rng) for language in ARTICLES}
    zipf = [1 / rank for rank in range(1, INVENTED + 1)]
    fillers = articles - len(topic_of)
    languages = list(ARTICLES)
    now = timezone.now()
    batch = 500
    counts: Counter[tuple[str, str]] = Counter()
    for start in range(0, fillers, batch):
        rows = []
        for i in range(start, min(fillers, start + batch)):
            language = languages[i % len(languages)]
            joiner = "" if language in chinese else " "

            def text(n: int, language: str = language, joiner: str = joiner) -> str:
                if filler_kind == "salad":
                    return joiner.join(rng.choices(vocab[language], k=n))
                real = rng.choices(vocab[language], k=round(n * REAL_SHARE))
                other = rng.choices(invented[language], weights=zipf, k=n - len(real))
                mixed = real + other
                rng.shuffle(mixed)
                return joiner.join(mixed)

            title = text(rng.randint(3, 7))[:190]
            body = text(rng.randint(60, 160))
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
            for entry in entries:
                counts.update(
                    (entry.language, term)
                    for term in {
                        "",
                        *entry.title_words.split(),
                        *entry.title_grams.split(),
                        *entry.body_words.split(),
                        *entry.body_grams.split(),
                    }
                )
    # The term counts index_article keeps, for the bulk-inserted fillers.
    with transaction.atomic():
        known = set(SearchTerm.objects.values_list("language", "term"))
        SearchTerm.objects.bulk_create(
            [
                SearchTerm(kind=ARTICLE, language=language, term=term, documents=n)
                for (language, term), n in counts.items()
                if (language, term) not in known
            ],
            batch_size=2000,
        )
        for language, term in known & set(counts):
            SearchTerm.objects.filter(kind=ARTICLE, language=language, term=term).update(
                documents=F("documents") + counts[language, term]
            )
    return topic_of


def measure(topic_of: dict[int, str], rounds: int) -> dict:
    from django.db import connection
    from django.test import Client
    from tests.knowledge.search_set import QUERIES

    from teamline.accounts.actions import do_create_api_token
    from teamline.accounts.models import User

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    user = User.objects.filter(role="admin").first()
    assert user is not None
    _, secret = do_create_api_token(user, name="bench", actor=user)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    for query, language, _topic in QUERIES[:5]:  # warm up
        client.get("/api/v1/kb/search", {"q": query, "lang": language})
    timings: list[float] = []
    ranks: dict[str, list[int | None]] = {}
    for round_ in range(rounds):
        for query, language, topic in QUERIES:
            started = time.perf_counter()
            response = client.get("/api/v1/kb/search", {"q": query, "lang": language})
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.content
            if round_ == 0:
                ids = [r["id"] for r in response.json()["results"]]
                found = [i for i, pk in enumerate(ids, 1) if topic_of.get(pk) == topic]
                ranks.setdefault(language, []).append(found[0] if found else None)
    timings.sort()

    def pct(p: float) -> float:
        return round(timings[min(len(timings) - 1, int(p * len(timings)))], 2)

    quality = {
        language: {
            "queries": len(found),
            "recall_at_3": round(sum(1 for r in found if r is not None and r <= 3) / len(found), 3),
            "mrr": round(sum(1 / r for r in found if r is not None) / len(found), 3),
        }
        for language, found in sorted(ranks.items())
    }
    return {
        "requests": len(timings),
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "max_ms": round(timings[-1], 2),
        "mean_ms": round(statistics.fmean(timings), 2),
        "quality": quality,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--db-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--fillers",
        choices=["mixed", "salad"],
        default="mixed",
        help="mixed: 30 %% the answers' words, 70 %% invented words (other topics); salad: "
        "only the answers' words (adversarial: every filler shares every query word)",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="teamline-bench-kb-") as workdir:
        name = configure(args.db, args.db_url, Path(workdir))
        try:
            started = time.perf_counter()
            topic_of = build(args.articles, random.Random(args.seed), args.fillers)
            built = time.perf_counter() - started
            result = {
                "db": args.db,
                "articles": args.articles,
                "fillers": args.fillers,
                "build_seconds": round(built, 1),
                **measure(topic_of, args.rounds),
            }
        finally:
            drop(args.db_url, name)
    print(f"## Knowledge-base search: {args.articles:,} articles ({args.fillers}) on {args.db}")
    print(f"built in {result['build_seconds']} s; {result['requests']} API searches:")
    print(
        f"p50 {result['p50_ms']} ms · p95 {result['p95_ms']} ms · p99 {result['p99_ms']} ms · "
        f"max {result['max_ms']} ms"
    )
    print("| language | queries | recall@3 | MRR |\n|---|---|---|---|")
    for language, q in result["quality"].items():
        print(f"| {language} | {q['queries']} | {q['recall_at_3']:.2f} | {q['mrr']:.2f} |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
