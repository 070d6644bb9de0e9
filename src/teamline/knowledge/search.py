"""Searching the knowledge base's index (docs/adr/0006-knowledge-search.md).

The index is content-agnostic: a document is a kind ("article", "question"), an id, a
language, a public flag, a title and a body. Knowledge indexes its published articles
(`index_article`); a higher app indexes its own texts through `index_document` /
`remove_document` and reads hits naming kind and id — knowledge never imports it.

Documents and queries go through the same folding and tokenising (knowledge/text.py); the
database ranks: SQLite with FTS5's BM25 over the columns of `knowledge_fts`, PostgreSQL with
ts_rank over a stored weighted tsvector served by a GIN index (migrations/0004). Every
document also carries one `scope` token (kind, language, public) so a search of the articles
in one language asks the full-text index for exactly those.

A query is planned against the term counts (`SearchTerm`, per kind and language) before it is
sent: each word the searched documents know is searched as a word; its grams are searched too
(an inflection or a typo still shares most of them with the right document), except grams in
many documents, which say nothing and only make the OR slow; a word nobody wrote is searched
by its grams only; a term in most documents is left out. The database then evaluates a short,
selective OR.

Only published article versions are indexed (`index_article` runs in the transaction that
publishes or unpublishes), so a search never shows a draft."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import F, Sum

from .models import Article, ArticleVersion, KbLanguage, SearchEntry, SearchTerm
from .text import fold, terms, units

# The kinds of documents the help center has; any short lowercase name is accepted.
ARTICLE = "article"
QUESTION = "question"
_KIND = re.compile(r"^[a-z]{1,16}$")
# What a query may be: longer text is cut (a pasted message still finds its articles).
MAX_QUERY_CHARS = 300
MAX_QUERY_TERMS = 60
# What a document may be: the body is cut (the index of a long text gains nothing past it).
MAX_INDEXED_TITLE = 1_000
MAX_INDEXED_BODY = 100_000
# A word in more than this share of documents says nothing about any of them.
COMMON_WORD_SHARE = 0.3
# A gram in more than this share of documents (and more than GRAM_FLOOR) is left out.
COMMON_GRAM_SHARE = 0.03
GRAM_FLOOR = 30
MAX_LIMIT = 50
# Column weights, title words first (SQLite's bm25 takes one per column in order; the scope
# column only filters).
WEIGHTS = {
    "title_words": 8.0,
    "title_grams": 3.0,
    "body_words": 2.0,
    "body_grams": 1.0,
    "scope": 0.0,
}
# About how many documents the database ranks at most (`selective`); when even the rarest
# term is in more, documents holding two of the PAIRED_TERMS rarest are ranked.
CANDIDATE_DOCUMENTS = 600
PAIRED_TERMS = 4
_TERM = re.compile(r"^\w+$")
SNIPPET_CHARS = 160


@dataclass(frozen=True)
class Hit:
    """One document a search found: which kind, its id (the article's, the question's)."""

    kind: str
    id: int
    score: float

    @property
    def article_id(self) -> int:
        """The id, as callers that search articles only (the default kinds) read it."""
        return self.id


def scope_token(kind: str, language: str, public: bool) -> str:
    """The one token (letters and digits only, so both full-text engines keep it whole) that
    says which documents a search may return; no folded text ever produces it (text has no
    digit-separated kind/language pairs of this shape that planning would keep)."""
    return f"{kind}0{language.replace('-', '')}0{int(public)}"


def _scopes(kinds: Sequence[str], languages: Sequence[str] | None, public_only: bool) -> list[str]:
    return [
        scope_token(kind, language, public)
        for kind in kinds
        for language in (languages or KbLanguage.values)
        for public in ((True,) if public_only else (True, False))
    ]


def _entry_terms(entry: SearchEntry | None) -> set[str]:
    if entry is None:
        return set()
    return {
        term
        for column in (entry.title_words, entry.title_grams, entry.body_words, entry.body_grams)
        for term in column.split()
    } | {""}  # the empty term counts the documents


def count_terms(kind: str, language: str, added: set[str], removed: set[str]) -> None:
    """Keep SearchTerm in step: `added` terms are now in one more document of this kind and
    language, `removed` in one less. Race-free under concurrent publishing (conditional
    updates, rows created first)."""
    scope = SearchTerm.objects.filter(kind=kind, language=language)
    if added:
        SearchTerm.objects.bulk_create(
            [SearchTerm(kind=kind, language=language, term=term, documents=0) for term in added],
            ignore_conflicts=True,
        )
        scope.filter(term__in=added).update(documents=F("documents") + 1)
    if removed:
        scope.filter(term__in=removed, documents__gt=0).update(documents=F("documents") - 1)


def entry_for(
    kind: str, object_id: int, language: str, title: str, body: str, *, public: bool = True
) -> SearchEntry:
    """The search entry of one document (not saved)."""
    title_words, title_grams = terms(title[:MAX_INDEXED_TITLE]).as_text()
    body_words, body_grams = terms(body[:MAX_INDEXED_BODY]).as_text()
    return SearchEntry(
        kind=kind,
        object_id=object_id,
        language=language,
        public=public,
        scope=scope_token(kind, language, public),
        title_words=title_words,
        title_grams=title_grams,
        body_words=body_words,
        body_grams=body_grams,
    )


def _check_document(kind: str, object_id: int, language: str | None = None) -> None:
    if not _KIND.match(kind):
        raise ValueError(f"A search document's kind is 1-16 lowercase letters, not {kind!r}.")
    if not isinstance(object_id, int) or isinstance(object_id, bool) or object_id < 1:
        raise ValueError(f"A search document's id is a positive integer, not {object_id!r}.")
    if language is not None and language not in KbLanguage.values:
        raise ValueError(f"A search document's language is one of {KbLanguage.values}.")


def index_document(
    kind: str, id: int, language: str, title: str, body: str, *, public: bool = True
) -> None:
    """Make search see this text as document (`kind`, `id`), replacing what it saw before.
    Call it inside the transaction that changes the text, so the index never lags it.
    `public=False` keeps the document out of searches that ask for public documents only
    (a hidden question). Locks the document's entry row."""
    _check_document(kind, id, language)
    with transaction.atomic():
        old = SearchEntry.objects.select_for_update().filter(kind=kind, object_id=id).first()
        new = entry_for(kind, id, language, title, body, public=public)
        if old is not None:
            new.pk = old.pk
        new.save()
        before, after = _entry_terms(old), _entry_terms(new)
        if old is not None and old.language != language:
            count_terms(old.kind, old.language, set(), before)
            count_terms(kind, language, after, set())
        else:
            count_terms(kind, language, after - before, before - after)


def remove_document(kind: str, id: int) -> None:
    """Make search forget document (`kind`, `id`) (nothing happens when it was not indexed)."""
    _check_document(kind, id)
    with transaction.atomic():
        old = SearchEntry.objects.select_for_update().filter(kind=kind, object_id=id).first()
        if old is not None:
            old.delete()
            count_terms(old.kind, old.language, set(), _entry_terms(old))


def index_article(article: Article) -> None:
    """Make search see the article's published version (or nothing, when unpublished)."""
    version: ArticleVersion | None = article.published_version
    if version is None:
        remove_document(ARTICLE, article.pk)
    else:
        index_document(ARTICLE, article.pk, article.language, version.title, version.body)


@dataclass(frozen=True)
class Plan:
    """A query planned against the term counts: the terms it is searched with (rarest first),
    how many of the searched documents hold each, and how many documents are searched."""

    terms: list[str]
    documents: dict[str, int]
    total: int
    known: dict[str, int]  # every query term some searched document holds, common ones too
    parts: list[list[str]]  # the planned terms of each of the query's words, rarest first


def _plan(query: str, languages: Sequence[str] | None, kinds: Sequence[str]) -> Plan | None:
    found = [unit for unit in units(query[:MAX_QUERY_CHARS]) if unit.words]
    candidates = {t for unit in found for t in (*unit.words, *unit.grams) if _TERM.match(t)}
    if not candidates:
        return None
    rows = SearchTerm.objects.filter(kind__in=kinds, term__in=candidates | {""})
    if languages:
        rows = rows.filter(language__in=languages)
    documents = {
        term: n
        for term, n in rows.values("term").annotate(n=Sum("documents")).values_list("term", "n")
        if n
    }
    total = max(1, documents.pop("", 0))
    if not documents:
        return None
    common_word = max(3, total * COMMON_WORD_SHARE)
    common_gram = max(GRAM_FLOOR, total * COMMON_GRAM_SHARE)
    chosen: dict[str, int] = {}
    for unit in found:
        known = [w for w in unit.words if w in documents]
        for word in known:
            if documents[word] <= common_word:
                chosen[word] = documents[word]
        if known and all(documents[w] > common_word for w in known):
            continue  # a common word's grams are as common, or rare only by accident
        # A word somebody wrote brings its rarer grams (inflected forms of it); a word nobody
        # wrote (a typo, an unseen inflection) is searched by every gram that still tells.
        cap = common_gram if len(known) == len(unit.words) else common_word
        for gram in unit.grams:
            if 0 < documents.get(gram, 0) <= cap:
                chosen[gram] = documents[gram]
    if not chosen:  # every term is common: the rarest few still rank something
        chosen = dict(sorted(documents.items(), key=lambda kv: kv[1])[:3])
    ordered = sorted(chosen, key=lambda term: (chosen[term], term))[:MAX_QUERY_TERMS]
    parts = [
        sorted({t for t in (*unit.words, *unit.grams) if t in ordered}, key=ordered.index)
        for unit in found
    ]
    parts = sorted((part for part in parts if part), key=lambda part: chosen[part[0]])
    return Plan(ordered, {term: chosen[term] for term in ordered}, total, documents, parts)


def plan(
    query: str,
    languages: Sequence[str] | None = None,
    kinds: Sequence[str] = (ARTICLE,),
) -> list[str]:
    """The terms a query is searched with, rarest first (module docstring). Shares are taken
    among the documents of `kinds` in `languages` (all languages when None)."""
    planned = _plan(query, languages, kinds)
    return planned.terms if planned else []


def query_terms(
    query: str, languages: Sequence[str] | None = None, kinds: Sequence[str] = (ARTICLE,)
) -> list[str]:
    """The terms a query is searched with, rarest first."""
    return plan(query, languages, kinds)


def selective(planned: Plan) -> list[list[str]]:
    """Which documents the database ranks at all, as an OR of ANDs of terms. Normally those
    holding the rarest term of one of the query's words, taking the words from the rarest
    until about CANDIDATE_DOCUMENTS documents (twice that for a second word), then any other
    term that still fits: every part of the question can bring its documents, and a
    document holding none of these terms cannot outrank one that does. When even the rarest
    term is in more documents than that (common words over many posts), those holding the
    rarest terms of two of the PAIRED_TERMS rarest words. This bounds the ranking work and
    keeps it flat from 1,000 documents to 100,000."""
    terms_, documents = planned.terms, planned.documents
    if documents[terms_[0]] > CANDIDATE_DOCUMENTS:
        rare = list(dict.fromkeys(part[0] for part in planned.parts))[:PAIRED_TERMS]
        if len(rare) > 1:  # two different words of the question, not a word and its gram
            return [[a, b] for i, a in enumerate(rare) for b in rare[i + 1 :]]
    chosen: list[str] = []
    budget = 0
    for part in planned.parts:
        if part[0] in chosen:
            continue
        allowed = CANDIDATE_DOCUMENTS * (2 if len(chosen) < 2 else 1)
        if chosen and budget + documents[part[0]] > allowed:
            break
        chosen.append(part[0])
        budget += documents[part[0]]
    for term in terms_:
        if term not in chosen and budget + documents[term] <= CANDIDATE_DOCUMENTS:
            chosen.append(term)
            budget += documents[term]
    return [[term] for term in chosen]


def search(
    query: str,
    *,
    languages: Sequence[str] | None = None,
    kinds: Iterable[str] = (ARTICLE,),
    public_only: bool = True,
    limit: int = 10,
) -> list[Hit]:
    """Documents of `kinds` (articles by default) matching `query`, best first, in
    `languages` when given; only public ones unless `public_only` is False.

    The database's full-text index finds the documents holding the query's rare terms
    (`selective`); only those are ranked, by all the query's terms the documents know."""
    wanted_kinds = sorted(set(kinds))
    for kind in wanted_kinds:
        if not _KIND.match(kind):
            raise ValueError(f"A search document's kind is 1-16 lowercase letters, not {kind!r}.")
    if languages is not None:
        languages = [lang for lang in languages if lang in KbLanguage.values]
        if not languages:
            return []
    if not wanted_kinds:
        return []
    planned = _plan(query, languages, wanted_kinds)
    if planned is None:
        return []
    limit = max(1, min(limit, MAX_LIMIT))
    scopes = _scopes(wanted_kinds, languages, public_only)
    find = _search_postgresql if connection.vendor == "postgresql" else _search_sqlite
    # Ranked by every term the documents know, common words too: each adds little, but
    # together they tell which document covers the question.
    ranked = planned.terms + [t for t in planned.known if t not in planned.documents]
    groups = selective(planned)
    hits = find(groups, ranked, scopes, limit)
    if len(hits) < limit and any(len(group) > 1 for group in groups):
        hits = find([[term] for term in planned.terms], ranked, scopes, limit)
    return hits


def _search_sqlite(
    groups: list[list[str]], ranked: list[str], scopes: list[str], limit: int
) -> list[Hit]:
    # scope AND filter AND (every ranked term): the last part matches whatever the filter
    # matched (its terms are among them) and is there so that bm25 counts all of them.
    match = "scope : ({}) AND ({}) AND ({})".format(
        " OR ".join(f'"{scope}"' for scope in scopes),
        " OR ".join("(" + " AND ".join(f'"{t}"' for t in group) + ")" for group in groups),
        " OR ".join(f'"{term}"' for term in ranked),
    )
    weights = ", ".join(str(w) for w in WEIGHTS.values())
    sql = (
        f"SELECT e.kind, e.object_id, bm25(knowledge_fts, {weights}) AS rank"  # noqa: S608 - constants
        " FROM knowledge_fts f JOIN knowledge_searchentry e ON e.id = f.rowid"
        " WHERE knowledge_fts MATCH %s ORDER BY rank LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [match, limit])
        return [Hit(kind, int(pk), -float(rank)) for kind, pk, rank in cursor.fetchall()]


def _search_postgresql(
    groups: list[list[str]], ranked: list[str], scopes: list[str], limit: int
) -> list[Hit]:
    # The GIN index finds the scope's documents holding the filter's terms; ts_rank reads
    # the stored vector of those only (reading it is most of the cost: it is stored out of
    # line), by every ranked term.
    filter_query = "({}) & ({})".format(
        " | ".join(f"'{scope}'" for scope in scopes),
        " | ".join("(" + " & ".join(f"'{t}'" for t in group) + ")" for group in groups),
    )
    sql = (
        # Normalisation 2: the rank divided by the document's length, so a short article
        # that is about the question beats a long text that mentions its words in passing.
        "SELECT kind, object_id, ts_rank('{0.1, 0.25, 0.4, 1.0}', vector, q, 2) AS rank"
        " FROM knowledge_searchentry, to_tsquery('simple'::regconfig, %s) q"
        " WHERE vector @@ to_tsquery('simple'::regconfig, %s)"
        " ORDER BY rank DESC, id LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [" | ".join(f"'{t}'" for t in ranked), filter_query, limit])
        return [Hit(kind, int(pk), float(rank)) for kind, pk, rank in cursor.fetchall()]


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
