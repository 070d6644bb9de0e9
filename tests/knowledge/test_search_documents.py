"""The search index holds more than articles: a community question is indexed by kind and id
beside the articles, found when questions are asked for, hidden when it is not public, and
never shows up where the help center searches its articles."""

from __future__ import annotations

import pytest
from django.test import Client

from teamline.accounts.actions import do_create_api_token
from teamline.core.testing import create_agent
from teamline.knowledge.actions import do_create_article
from teamline.knowledge.models import SearchEntry, SearchTerm
from teamline.knowledge.search import (
    ARTICLE,
    QUESTION,
    index_document,
    remove_document,
    search,
)

pytestmark = pytest.mark.django_db


def found(query, **kwargs):
    return [(hit.kind, hit.id) for hit in search(query, **kwargs)]


def documents(term, kind=QUESTION, language="nb"):
    row = SearchTerm.objects.filter(kind=kind, language=language, term=term).first()
    return row.documents if row else 0


@pytest.fixture
def roaming_article():
    return do_create_article(
        actor=create_agent(),
        title="Bruke mobilen i utlandet",
        body="Roaming i EU koster det samme som hjemme.",
        language="nb",
        publish=True,
    )


def test_a_question_is_found_beside_the_articles_when_questions_are_asked_for(roaming_article):
    index_document(QUESTION, 41, "nb", "Roaming i Thailand?", "Hva koster mobildata i Thailand?")
    assert found("thailand", kinds=[QUESTION], languages=["nb"]) == [(QUESTION, 41)]
    assert set(found("roaming", kinds=[QUESTION, ARTICLE])) == {
        (QUESTION, 41),
        (ARTICLE, roaming_article.pk),
    }
    assert found("roaming") == [(ARTICLE, roaming_article.pk)]  # articles, as before
    assert found("thailand", kinds=[QUESTION], languages=["en"]) == []


def test_the_kb_search_api_shows_articles_only(roaming_article):
    index_document(QUESTION, 7, "nb", "Roaming i utlandet", "Roaming i utlandet, hvordan?")
    agent = create_agent()
    _, secret = do_create_api_token(agent, name="tests", actor=agent)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    results = api.get("/api/v1/kb/search", {"q": "roaming utlandet", "lang": "nb"}).json()
    assert [r["id"] for r in results["results"]] == [roaming_article.pk]
    page = Client().get("/help/api/search", {"q": "roaming utlandet", "lang": "nb"}).json()
    assert [r["id"] for r in page["results"]] == [roaming_article.pk]


def test_indexing_again_replaces_the_text_and_the_term_counts_follow():
    index_document(QUESTION, 5, "nb", "Mistet telefonen", "Telefonen ble stjålet på bussen.")
    assert documents("bussen") == 1 and documents("") == 1
    index_document(QUESTION, 5, "nb", "Mistet telefonen", "Telefonen ble stjålet på toget.")
    assert SearchEntry.objects.filter(kind=QUESTION, object_id=5).count() == 1
    assert documents("bussen") == 0 and documents("toget") == 1 and documents("") == 1
    assert found("toget", kinds=[QUESTION]) == [(QUESTION, 5)]
    assert found("bussen", kinds=[QUESTION]) == []
    index_document(QUESTION, 5, "en", "Lost my phone", "It was stolen on the train.")
    assert documents("toget") == 0 and documents("", language="nb") == 0
    assert documents("train", language="en") == 1
    remove_document(QUESTION, 5)
    assert documents("train", language="en") == 0 and documents("", language="en") == 0
    assert found("train", kinds=[QUESTION]) == []
    remove_document(QUESTION, 5)  # forgetting twice is harmless


def test_a_hidden_question_is_found_only_when_hidden_ones_are_asked_for():
    index_document(QUESTION, 9, "pt", "Fatura duplicada", "Recebi duas faturas.", public=False)
    assert found("fatura", kinds=[QUESTION]) == []
    assert found("fatura", kinds=[QUESTION], public_only=False) == [(QUESTION, 9)]
    index_document(QUESTION, 9, "pt", "Fatura duplicada", "Recebi duas faturas.")
    assert found("fatura", kinds=[QUESTION]) == [(QUESTION, 9)]


def test_an_article_and_a_question_with_the_same_id_are_two_documents(roaming_article):
    index_document(QUESTION, roaming_article.pk, "nb", "Telefonkatalog", "Hvor er katalogen?")
    assert found("roaming") == [(ARTICLE, roaming_article.pk)]
    assert found("katalogen", kinds=[QUESTION]) == [(QUESTION, roaming_article.pk)]
    remove_document(QUESTION, roaming_article.pk)
    assert found("roaming") == [(ARTICLE, roaming_article.pk)]


@pytest.mark.parametrize(
    ("kind", "object_id", "language"),
    [("Question!", 1, "nb"), ("", 1, "nb"), ("question", 0, "nb"), ("question", 1, "tlh")],
)
def test_a_malformed_document_is_refused(kind, object_id, language):
    with pytest.raises(ValueError):
        index_document(kind, object_id, language, "Title", "Body")
    assert not SearchEntry.objects.exists()


@pytest.mark.integration
def test_questions_and_articles_share_the_index_on_the_integration_database(roaming_article):
    test_a_question_is_found_beside_the_articles_when_questions_are_asked_for(roaming_article)
    test_a_hidden_question_is_found_only_when_hidden_ones_are_asked_for()
