"""How a query is planned: words the help center knows, their grams unless every article has
them, a typo searched by its grams, and term counts that follow publishing."""

import pytest

from teamline.core.testing import create_agent
from teamline.knowledge.actions import do_create_article, do_edit_article, do_unpublish_article
from teamline.knowledge.models import SearchTerm
from teamline.knowledge.search import query_terms

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
