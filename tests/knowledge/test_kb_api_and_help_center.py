"""The knowledge base from the outside: staff write through the API with a token, the public
reads and searches the help center at /help/ in their language, and nothing unpublished or
unsafe ever reaches them."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from teamline.accounts.actions import do_create_api_token
from teamline.core.testing import create_agent, create_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def api_for(user):
    _, secret = do_create_api_token(user, name="tests", actor=user)
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


@pytest.fixture
def agent_api():
    return api_for(create_agent())


def create(api, **fields):
    body = {"title": "Roaming in the EU", "body": "Roam **like at home**.", "language": "en"}
    body.update(fields)
    response = api.post("/api/v1/kb/articles", body, content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


def test_an_agent_writes_publishes_and_finds_an_article_through_the_api(agent_api):
    article = create(agent_api, status="published", category="travel")
    assert article["version"] == 1 and article["published_version"] == 1
    assert article["url"] == "/help/en/roaming-in-the-eu/"
    found = agent_api.get("/api/v1/kb/search", {"q": "roamnig", "lang": "en"}).json()
    assert [r["id"] for r in found["results"]] == [article["id"]]
    assert found["results"][0]["url"] == article["url"]
    assert "like at home" in found["results"][0]["snippet"]


def test_an_edit_is_a_new_version_and_the_history_is_listed(agent_api):
    article = create(agent_api, status="published")
    response = agent_api.put(
        f"/api/v1/kb/articles/{article['id']}",
        {"title": "Roaming", "body": "New text.", "note": "shorter"},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["version"] == 2 and response.json()["published_version"] == 1
    versions = agent_api.get(f"/api/v1/kb/articles/{article['id']}/versions").json()
    assert [(v["number"], v["note"]) for v in versions] == [(2, "shorter"), (1, "created")]


def test_a_translation_in_zh_hans_is_linked_and_marked_outdated(agent_api):
    source = create(agent_api, status="published")
    translation = create(
        agent_api,
        title="漫游",
        body="像在家一样。",
        language="zh-Hans",
        translation_of=source["id"],
    )
    assert translation["language"] == "zh-hans" and translation["translation_of"] == source["id"]
    agent_api.put(
        f"/api/v1/kb/articles/{source['id']}",
        {"title": "Roaming in the EU", "body": "Changed."},
        content_type="application/json",
    )
    assert agent_api.get(f"/api/v1/kb/articles/{translation['id']}").json()["outdated"] is True


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"title": "T", "body": "B", "language": "tlh"}, 422),
        ({"title": "T\u0000", "body": "B", "language": "en"}, 422),
        ({"title": "", "body": "B", "language": "en"}, 422),
        ({"title": "T", "body": "B", "language": "en", "translation_of": 999999}, 404),
    ],
)
def test_bad_articles_are_refused_with_a_clear_error(agent_api, body, status):
    response = agent_api.post("/api/v1/kb/articles", body, content_type="application/json")
    assert response.status_code == status
    assert response.json()["detail"]


def test_the_api_needs_a_staff_token():
    assert Client().get("/api/v1/kb/search", {"q": "x"}).status_code == 401


def test_unknown_articles_are_404(agent_api):
    assert agent_api.get("/api/v1/kb/articles/424242").status_code == 404


def test_the_help_center_greets_visitors_in_their_language(agent_api):
    create(
        agent_api,
        title="Bruke mobilen i utlandet",
        body="Som hjemme.",
        language="nb",
        status="published",
    )
    response = Client().get("/help/", HTTP_ACCEPT_LANGUAGE="nb-NO,nb;q=0.9,en;q=0.5")
    assert response.status_code == 302 and response["Location"] == "/help/nb/"
    page = Client().get("/help/nb/").content.decode()
    assert '<html lang="nb">' in page and "Bruke mobilen i utlandet" in page
    assert Client().get("/help/", HTTP_ACCEPT_LANGUAGE="zh-TW").headers["Location"] == (
        "/help/zh-hant/"
    )


def test_an_article_page_shows_sanitised_markdown_at_its_stable_url(agent_api):
    article = create(
        agent_api,
        status="published",
        body="# Steps\n\n1. Open the **app**\n\n<script>alert(1)</script>\n\n"
        "[evil](javascript:alert(1)) [good](https://example.com)",
    )
    page = Client().get(article["url"]).content.decode()
    assert "<h1>Roaming in the EU</h1>" in page and "<h2>Steps</h2>" in page
    assert "<strong>app</strong>" in page
    assert "<script>alert" not in page and "&lt;script&gt;" in page  # shown, never run
    assert 'href="javascript:' not in page
    assert 'href="https://example.com"' in page


def test_drafts_are_not_on_the_help_center(agent_api):
    draft = create(agent_api)
    assert Client().get("/help/en/roaming-in-the-eu/").status_code == 404
    found = Client().get("/help/api/search", {"q": "roaming"}).json()
    assert found == {"results": []}
    assert draft["url"] is None


def test_the_public_search_finds_either_chinese_script(agent_api):
    create(
        agent_api, title="查询余额", body="发送余额到2200。", language="zh-hans", status="published"
    )
    page = Client().get("/help/search", {"q": "查詢餘額", "lang": "zh-hans"})
    assert page.status_code == 200 and "查询余额" in page.content.decode()
    data = Client().get("/help/api/search", {"q": "查詢餘額", "lang": "zh-Hans"}).json()
    assert [r["title"] for r in data["results"]] == ["查询余额"]


def test_the_public_search_is_rate_limited_per_address():
    client = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(60):
        assert client.get("/help/api/search", {"q": "x"}).status_code == 200
    limited = client.get("/help/api/search", {"q": "x"})
    assert limited.status_code == 429 and limited["Retry-After"] == "60"
    assert Client(REMOTE_ADDR="203.0.113.10").get("/help/api/search", {"q": "x"}).status_code == 200


def test_bad_search_text_is_a_clear_400():
    response = Client().get("/help/api/search", {"q": "nul\x00"})
    assert response.status_code == 400 and response.json()["code"] == "invalid"
    assert Client().get("/help/search", {"q": "nul\x00"}).status_code == 400


def test_a_reviewer_publishes_what_an_agent_submitted():
    agent = create_agent()
    supervisor = create_user(role="supervisor")
    article = create(api_for(agent), requires_review=True)
    refused = api_for(agent).post(f"/api/v1/kb/articles/{article['id']}/publish")
    assert refused.status_code == 403 and "reviewer" in refused.json()["detail"]
    published = api_for(supervisor).post(f"/api/v1/kb/articles/{article['id']}/publish")
    assert published.status_code == 200 and published.json()["status"] == "published"
