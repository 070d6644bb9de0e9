"""Searching published articles (docs/adr/0006-knowledge-search.md).

Articles and queries go through the same folding and tokenising (knowledge/text.py); the
database ranks: SQLite with FTS5's BM25 over the four columns of `knowledge_fts`, PostgreSQL
with ts_rank over a weighted tsvector served by a GIN index (migrations/0002).

A query is planned against the term counts (`SearchTerm`) before it is sent: each word the
help center knows is searched as a word; its grams are searched too (an inflection or a typo
still shares most of them with the right article), except grams in many articles, which say
nothing and only make the OR slow; a word nobody wrote is searched by its grams only; a term in
most articles is left out. The database then evaluates a short, selective OR.

Only published versions are indexed (`index_article` runs in the transaction that publishes
or unpublishes), so a search never shows a draft."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import F

from .models import Article, ArticleVersion, SearchEntry, SearchTerm
from .text import fold, terms, units

# What a query may be: longer text is cut (a pasted message still finds its articles).
MAX_QUERY_CHARS = 300
MAX_QUERY_TERMS = 60
# A word in more than this share of articles says nothing about any of them.
COMMON_WORD_SHARE = 0.3
# A gram in more than this share of articles (and more than GRAM_FLOOR) is left out.
COMMON_GRAM_SHARE = 0.03
GRAM_FLOOR = 30
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


def _entry_terms(entry: SearchEntry | None) -> set[str]:
    if entry is None:
        return set()
    return {
        term
        for column in (entry.title_words, entry.title_grams, entry.body_words, entry.body_grams)
        for term in column.split()
    }


def count_terms(added: set[str], removed: set[str]) -> None:
    """Keep SearchTerm in step: `added` terms are now in one more article, `removed` in one
    less. Race-free under concurrent publishing (conditional updates, rows created first)."""
    if added:
        SearchTerm.objects.bulk_create(
            [SearchTerm(term=term, documents=0) for term in added], ignore_conflicts=True
        )
        SearchTerm.objects.filter(term__in=added).update(documents=F("documents") + 1)
    if removed:
        SearchTerm.objects.filter(term__in=removed, documents__gt=0).update(
            documents=F("documents") - 1
        )


def entry_for(article: Article, version: ArticleVersion) -> SearchEntry:
    title_words, title_grams = terms(version.title).as_text()
    body_words, body_grams = terms(version.body).as_text()
    return SearchEntry(
        article=article,
        language=article.language,
        title_words=title_words,
        title_grams=title_grams,
        body_words=body_words,
        body_grams=body_grams,
    )


def index_article(article: Article) -> None:
    """Make search see the article's published version (or nothing, when unpublished)."""
    with transaction.atomic():
        old = SearchEntry.objects.select_for_update().filter(article=article).first()
        version: ArticleVersion | None = article.published_version
        new = entry_for(article, version) if version is not None else None
        if new is None:
            if old is not None:
                old.delete()
        else:
            new.save()
        before, after = _entry_terms(old), _entry_terms(new)
        count_terms(after - before, before - after)


def plan(query: str, languages: list[str] | None = None) -> list[str]:
    """The terms a query is searched with, rarest first (module docstring). Shares are taken
    among the articles of `languages` (all when None)."""
    found = [unit for unit in units(query[:MAX_QUERY_CHARS]) if unit.words]
    candidates = {t for unit in found for t in (*unit.words, *unit.grams) if _TERM.match(t)}
    if not candidates:
        return []
    documents = dict(
        SearchTerm.objects.filter(term__in=candidates, documents__gt=0).values_list(
            "term", "documents"
        )
    )
    if not documents:
        return []
    entries = SearchEntry.objects.all()
    if languages:
        entries = entries.filter(language__in=languages)
    total = max(1, entries.count())
    common_word = max(3, total * COMMON_WORD_SHARE)
    common_gram = max(GRAM_FLOOR, total * COMMON_GRAM_SHARE)
    chosen: dict[str, int] = {}
    for unit in found:
        known = [w for w in unit.words if w in documents]
        for word in known:
            if documents[word] <= common_word:
                chosen[word] = documents[word]
        # A word somebody wrote brings its rarer grams (inflected forms of it); a word nobody
        # wrote (a typo, an unseen inflection) is searched by every gram that still tells.
        cap = common_gram if len(known) == len(unit.words) else common_word
        for gram in unit.grams:
            if 0 < documents.get(gram, 0) <= cap:
                chosen[gram] = documents[gram]
    if not chosen:  # every term is common: the rarest few still rank something
        chosen = dict(sorted(documents.items(), key=lambda kv: kv[1])[:3])
    return sorted(chosen, key=lambda term: chosen[term])[:MAX_QUERY_TERMS]


def query_terms(query: str, languages: list[str] | None = None) -> list[str]:
    """The terms a query is searched with, rarest first."""
    return plan(query, languages)


def search(query: str, *, languages: list[str] | None = None, limit: int = 10) -> list[Hit]:
    """Published articles matching `query`, best first (in `languages` when given)."""
    planned = plan(query, languages)
    if not planned:
        return []
    limit = max(1, min(limit, MAX_LIMIT))
    if connection.vendor == "postgresql":
        return _search_postgresql(planned, languages, limit)
    return _search_sqlite(planned, languages, limit)


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
