"""Searching published articles (docs/adr/0006-knowledge-search.md).

Articles and queries go through the same folding and tokenising (knowledge/text.py); the
database ranks: SQLite with FTS5's BM25 over the four columns of `knowledge_fts`, PostgreSQL
with ts_rank over a weighted tsvector served by a GIN index (migrations/0002). A query is the
OR of its words and grams, so a typo, an inflection or the other Chinese script still shares
most terms with the right article, and the ranking does the rest.

Only published versions are indexed (`index_article` runs in the transaction that publishes
or unpublishes), so a search never shows a draft."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.db import connection

from .models import Article, ArticleVersion, SearchEntry
from .text import fold, terms

# What a query may be: longer text is cut (a pasted message still finds its articles).
MAX_QUERY_CHARS = 300
MAX_QUERY_TERMS = 80
MAX_LIMIT = 50
# Column weights, title words first (SQLite's bm25 takes one per column in order).
WEIGHTS = {"title_words": 8.0, "title_grams": 3.0, "body_words": 2.0, "body_grams": 1.0}
# Keep in step with migrations/0002_search_index.py POSTGRES_UP.
PG_VECTOR = (
    "setweight(to_tsvector('simple'::regconfig, title_words), 'A')"
    " || setweight(to_tsvector('simple'::regconfig, title_grams), 'B')"
    " || setweight(to_tsvector('simple'::regconfig, body_words), 'C')"
    " || setweight(to_tsvector('simple'::regconfig, body_grams), 'D')"
)
_TERM = re.compile(r"^\w+$")
SNIPPET_CHARS = 160


@dataclass(frozen=True)
class Hit:
    article_id: int
    score: float


def index_article(article: Article) -> None:
    """Make search see the article's published version (or nothing, when unpublished)."""
    version: ArticleVersion | None = article.published_version
    if version is None:
        SearchEntry.objects.filter(article=article).delete()
        return
    title_words, title_grams = terms(version.title).as_text()
    body_words, body_grams = terms(version.body).as_text()
    SearchEntry.objects.update_or_create(
        article=article,
        defaults={
            "language": article.language,
            "title_words": title_words,
            "title_grams": title_grams,
            "body_words": body_words,
            "body_grams": body_grams,
        },
    )


def query_terms(query: str) -> list[str]:
    """The distinct terms of a query, words first, bounded."""
    found = terms(query[:MAX_QUERY_CHARS])
    seen: dict[str, None] = {}
    for term in [*found.words, *found.grams]:
        if _TERM.match(term):
            seen.setdefault(term, None)
    return list(seen)[:MAX_QUERY_TERMS]


def search(query: str, *, languages: list[str] | None = None, limit: int = 10) -> list[Hit]:
    """Published articles matching `query`, best first (in `languages` when given)."""
    wanted = query_terms(query)
    if not wanted:
        return []
    limit = max(1, min(limit, MAX_LIMIT))
    if connection.vendor == "postgresql":
        return _search_postgresql(wanted, languages, limit)
    return _search_sqlite(wanted, languages, limit)


def _search_sqlite(wanted: list[str], languages: list[str] | None, limit: int) -> list[Hit]:
    match = " OR ".join(f'"{term}"' for term in wanted)
    weights = ", ".join(str(w) for w in WEIGHTS.values())
    sql = (
        f"SELECT f.rowid, bm25(knowledge_fts, {weights}) AS rank FROM knowledge_fts f"  # noqa: S608 - constants
        " JOIN knowledge_searchentry e ON e.article_id = f.rowid"
        " WHERE knowledge_fts MATCH %s"
    )
    params: list[Any] = [match]
    if languages:
        sql += f" AND e.language IN ({', '.join(['%s'] * len(languages))})"
        params.extend(languages)
    sql += " ORDER BY rank LIMIT %s"
    params.append(limit)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [Hit(int(pk), -float(rank)) for pk, rank in cursor.fetchall()]


def _search_postgresql(wanted: list[str], languages: list[str] | None, limit: int) -> list[Hit]:
    tsquery = " | ".join(f"'{term}'" for term in wanted)
    sql = (
        f"SELECT article_id, ts_rank('{{0.1, 0.25, 0.4, 1.0}}', {PG_VECTOR}, q, 1) AS rank"  # noqa: S608 - constants
        " FROM knowledge_searchentry, to_tsquery('simple'::regconfig, %s) q"
        f" WHERE ({PG_VECTOR}) @@ q"
    )
    params: list[Any] = [tsquery]
    if languages:
        sql += " AND language = ANY(%s)"
        params.append(list(languages))
    sql += " ORDER BY rank DESC, article_id LIMIT %s"
    params.append(limit)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [Hit(int(pk), float(rank)) for pk, rank in cursor.fetchall()]


def snippet(text: str, query: str) -> str:
    """A piece of `text` around the first word of the query it contains (plain text)."""
    plain = re.sub(r"[#*_`>\[\]()!]+", " ", text)
    plain = re.sub(r"\s+", " ", plain).strip()
    folded = fold(plain)
    words = [w for w in terms(query).words if len(w) >= 2]
    start = 0
    if len(folded) == len(plain):  # positions agree (folding kept the length)
        positions = [folded.find(w) for w in words]
        found = [p for p in positions if p >= 0]
        if found:
            start = max(0, min(found) - SNIPPET_CHARS // 4)
    piece = plain[start : start + SNIPPET_CHARS]
    prefix = "…" if start > 0 else ""
    suffix = "…" if start + SNIPPET_CHARS < len(plain) else ""
    return f"{prefix}{piece}{suffix}"
