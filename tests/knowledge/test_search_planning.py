"""How a query is planned: words the help center knows, their grams unless every article has
them, a typo searched by its grams, term counts that follow publishing (per kind of document,
so community posts do not change what tells among articles), and which documents the
database ranks at all."""

import pytest

from teamline.core.testing import create_agent
from teamline.knowledge import search as search_module
from teamline.knowledge.actions import do_create_article, do_edit_article, do_unpublish_article
from teamline.knowledge.models import SearchTerm
from teamline.knowledge.search import (
    ARTICLE,
    QUESTION,
    _plan,
    index_document,
    query_terms,
    search,
    selective,
)

pytestmark = pytest.mark.django_db


def documents(term, kind="article", language="en"):
    row = SearchTerm.objects.filter(kind=kind, language=language, term=term).first()
    return row.documents if row else 0


def test_term_counts_follow_publishing_editing_and_unpublishing():
    agent = create_agent()
    article = do_create_article(
        actor=agent, title="Roaming", body="Roam at home prices.", language="en", publish=True
    )
    assert documents("roaming") == 1 and documents("roa") == 1
    draft = do_create_article(actor=agent, title="Roaming draft", body="Not yet.", language="en")
    assert documents("roaming") == 1  # drafts are not indexed
    article = do_edit_article(article, actor=agent, title="Travel", body="Abroad.", publish=True)
    assert documents("roaming") == 0 and documents("travel") == 1
    do_unpublish_article(article, actor=agent)
    assert documents("travel") == 0
    assert draft.pk


def test_a_typo_is_searched_by_its_grams_and_a_known_word_as_itself():
    agent = create_agent()
    for n in range(4):
        do_create_article(
            actor=agent,
            title=f"Article {n} about your phone",
            body="Your phone and your SIM.",
            language="en",
            publish=True,
        )
    do_create_article(
        actor=agent,
        title="Roaming abroad",
        body="Roam at home prices.",
        language="en",
        publish=True,
    )
    planned = query_terms("roamnig your")
    assert "roamnig" not in planned  # nobody wrote it
    assert {"roa", "oam"} <= set(planned)  # its grams that some article has
    assert "your" not in planned  # in every article: says nothing


def test_many_community_posts_do_not_decide_which_words_tell_among_articles():
    agent = create_agent()
    for n in range(3):
        do_create_article(
            actor=agent, title=f"Invoice {n}", body="Your invoice.", language="en", publish=True
        )
    roaming = do_create_article(
        actor=agent,
        title="Roaming abroad",
        body="Roam at home prices.",
        language="en",
        publish=True,
    )
    for n in range(1, 41):  # every post asks about roaming
        index_document(QUESTION, n, "en", "Roaming?", f"Does roaming work in country {n}?")
    assert "roaming" in query_terms("roaming")  # among articles it still tells
    assert "roaming" not in query_terms("roaming", kinds=[QUESTION])  # among posts it does not
    assert [hit.id for hit in search("roaming")] == [roaming.pk]


def test_the_database_ranks_only_the_documents_holding_the_rarest_term_of_each_word():
    agent = create_agent()
    for n in range(30):
        do_create_article(
            actor=agent,
            title=f"Your phone and plan {n}",
            body="Your phone, your plan and your bill." + (" Stolen?" if n < 2 else ""),
            language="en",
            publish=True,
        )
    planned = _plan("my stolen phone bill", ["en"], [ARTICLE])
    assert planned is not None
    groups = selective(planned)
    assert ["stolen"] in groups  # the rarest word's documents are ranked
    assert all(len(group) == 1 for group in groups)


def test_a_query_of_common_words_over_many_posts_ranks_documents_holding_two_of_them(
    monkeypatch,
):
    for n in range(1, 31):
        index_document(QUESTION, n, "en", "Data left", f"How much data is left, post {n}?")
    for n in range(31, 131):
        index_document(QUESTION, n, "en", "Something else", f"Entirely unrelated, post {n}.")
    index_document(QUESTION, 999, "en", "Speed", "The speed of data.")
    monkeypatch.setattr(search_module, "CANDIDATE_DOCUMENTS", 10)
    planned = _plan("data left", ["en"], [QUESTION])
    assert planned is not None
    assert all(len(group) == 2 for group in selective(planned))
    found = [hit.id for hit in search("data left", kinds=[QUESTION], limit=10)]
    assert len(found) == 10 and set(found) <= set(range(1, 31))  # both words, not speed's
