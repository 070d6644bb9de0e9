"""Search finds the right article in every language the brand serves: the quality set
(tests/knowledge/search_set.py: typos, inflections, compounds, missing accents, the other
Chinese script) must put the answering article in the top 3 for at least 90 % of the queries
of each language. Runs on SQLite here and on PostgreSQL in the integration run."""

from __future__ import annotations

from collections import defaultdict

import pytest

from teamline.core.testing import create_user
from teamline.knowledge.actions import do_create_article
from teamline.knowledge.search import search

from .search_set import ARTICLES, QUERIES

TARGET_RECALL_AT_3 = 0.9


def _build_help_center() -> dict[int, str]:
    author = create_user(role="admin")
    topic_of: dict[int, str] = {}
    for language, topics in ARTICLES.items():
        for topic, (title, body) in topics.items():
            article = do_create_article(
                actor=author, title=title, body=body, language=language, publish=True
            )
            topic_of[article.pk] = topic
    return topic_of


def measure() -> dict[str, dict[str, float]]:
    """recall@3 and MRR per language over the quality set (the help center must exist)."""
    from teamline.knowledge.models import Article

    topic_of = {a.pk: _topic(a.title) for a in Article.objects.all()}
    ranks: dict[str, list[int | None]] = defaultdict(list)
    for query, language, topic in QUERIES:
        hits = search(query, languages=[language], limit=10)
        found = [i for i, hit in enumerate(hits, 1) if topic_of[hit.id] == topic]
        ranks[language].append(found[0] if found else None)
    return {
        language: {
            "queries": len(found),
            "recall_at_3": sum(1 for r in found if r is not None and r <= 3) / len(found),
            "mrr": sum(1 / r for r in found if r is not None) / len(found),
        }
        for language, found in ranks.items()
    }


_TITLES = {title: topic for topics in ARTICLES.values() for topic, (title, _body) in topics.items()}


def _topic(title: str) -> str:
    return _TITLES[title]


def _check(figures: dict[str, dict[str, float]]) -> None:
    report = "\n".join(
        f"{lang:8} n={f['queries']:.0f} recall@3={f['recall_at_3']:.2f} mrr={f['mrr']:.2f}"
        for lang, f in sorted(figures.items())
    )
    print(report)
    assert set(figures) == set(ARTICLES), report
    for language, f in figures.items():
        assert f["queries"] >= 10, report
        assert f["recall_at_3"] >= TARGET_RECALL_AT_3, f"{language} below target:\n{report}"


@pytest.mark.django_db
def test_every_language_finds_its_answer_in_the_top_three():
    _build_help_center()
    _check(measure())


@pytest.mark.integration
@pytest.mark.django_db
def test_every_language_finds_its_answer_in_the_top_three_on_the_integration_database():
    _build_help_center()
    _check(measure())
