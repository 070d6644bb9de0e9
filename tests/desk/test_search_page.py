"""The desk's search page (issue 14, item 3) without a browser: the form is labelled, hits
come as lists under headings, a bad query says why with 400, and another team's
conversation is never on it. The browser story is tests/e2e/test_desk_search.py."""

from __future__ import annotations

import pytest
from django.test import Client

from teamline.core.testing import create_agent, create_customer, create_team, customer_says
from teamline.search.actions import do_index_pending

pytestmark = pytest.mark.django_db


@pytest.fixture
def kari_client():
    oslo, bergen = create_team("Oslo"), create_team("Bergen")
    kari = create_agent("kari", team=oslo)
    mine, _ = customer_says(create_customer(team=oslo, name="Åse"), "Fiberen min er nede")
    customer_says(create_customer(team=bergen, name="Bodil"), "Fiberen i Bergen er nede")
    do_index_pending()
    client = Client()
    client.force_login(kari)
    return client, mine


def test_the_desk_links_to_search_and_the_empty_page_is_a_labelled_form(kari_client):
    client, _ = kari_client
    inbox = client.get("/desk/").content.decode()
    assert 'href="/desk/search/"' in inbox

    page = client.get("/desk/search/")

    assert page.status_code == 200
    html = page.content.decode()
    assert '<form role="search"' in html and '<label for="search-q">' in html
    assert "<h2" not in html, "no result sections before a search"


def test_hits_are_listed_under_headings_and_only_the_agents_own(kari_client):
    client, mine = kari_client

    html = client.get("/desk/search/", {"q": "fiberen"}).content.decode()

    assert '<h2 id="search-message">Messages and notes</h2>' in html
    assert '<h2 id="search-conversation">Conversations</h2>' in html
    assert html.count('<li class="search-hit">') == 2  # the message and its conversation
    assert f'href="/desk/conversations/{mine.conversation_id}/#message-{mine.pk}"' in html
    assert "Bergen er nede" not in html


def test_one_kind_pages_on_and_a_bad_query_says_why(kari_client):
    client, _ = kari_client
    assert client.get("/desk/search/", {"q": "fiberen", "kind": "message"}).status_code == 200

    bad = client.get("/desk/search/", {"q": "?!"})
    assert bad.status_code == 400
    assert 'role="alert"' in bad.content.decode()
    assert client.get("/desk/search/", {"q": "x", "kind": "invoices"}).status_code == 400
    assert client.get("/desk/search/", {"q": "x", "cursor": "nope"}).status_code == 404
