"""Community questions are searchable beside the articles: the help center's search shows them,
marked as community, found by their own words and by their visible answers' — and a hidden
post, or a question moved to a private conversation, is gone from search at once."""

from __future__ import annotations

import pytest
from django.test import Client

from teamline.core.testing import create_agent
from teamline.knowledge.actions import do_create_article

from .conftest import answer, ask

pytestmark = pytest.mark.django_db


def help_search(query: str, lang: str = "en") -> str:
    response = Client().get("/help/search", {"q": query, "lang": lang})
    assert response.status_code == 200
    return response.content.decode()


def test_a_question_is_found_in_the_help_center_search_marked_as_community(
    ingrid_client, ola_client
):
    do_create_article(
        actor=create_agent(),
        title="Roaming in the EU",
        body="Roaming in the EU costs the same as at home.",
        language="en",
        publish=True,
    )
    question = ask(ingrid_client, "Roaming in Thailand?", "What does mobile data cost there?")
    page = help_search("roaming thailand")
    assert "Roaming in the EU" in page  # the articles, as before
    assert "From the community" in page
    assert f'Community:</span> <a href="/help/community/questions/{question}/">' in page
    # An answer's words find the question too.
    answer(ola_client, question, "Buy the Asia pack in the app before you travel.")
    assert "Roaming in Thailand?" in help_search("asia pack")
    # Another language's search does not show it; the JSON search stays articles only.
    assert "Roaming in Thailand?" not in help_search("thailand", lang="nb")
    results = Client().get("/help/api/search", {"q": "thailand", "lang": "en"}).json()
    assert results == {"results": []}


def test_hidden_posts_are_gone_from_search(ingrid_client, ola_client, kari_client):
    question = ask(ingrid_client, "Roaming in Thailand?", "What does it cost?")
    spam = answer(ola_client, question, "Cheap watches at watchbazaar")
    assert "Roaming in Thailand?" in help_search("watchbazaar")
    kari_client.post(f"/help/community/posts/{spam}/hide")
    assert "Roaming in Thailand?" not in help_search("watchbazaar")
    assert "Roaming in Thailand?" in help_search("thailand")

    kari_client.post(f"/help/community/posts/{question}/hide")
    assert "Roaming in Thailand?" not in help_search("thailand")
    kari_client.post(f"/help/community/posts/{question}/unhide")
    assert "Roaming in Thailand?" in help_search("thailand")


def test_a_question_moved_to_a_conversation_leaves_search(ingrid_client):
    question = ask(ingrid_client, "Why was I charged twice?", "My bill shows 299 kr twice.")
    assert "Why was I charged twice?" in help_search("charged twice")
    ingrid_client.post(f"/help/community/questions/{question}/to-conversation")
    assert "Why was I charged twice?" not in help_search("charged twice")
