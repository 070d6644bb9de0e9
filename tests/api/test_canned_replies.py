"""Canned replies through the JSON API: CRUD by scope with the desk's rules, and a reply
rendered for a conversation in its customer's language."""

from __future__ import annotations

import pytest

from teamline.customers.actions import do_set_preferred_language
from teamline.replies.actions import do_create_canned_reply

pytestmark = pytest.mark.django_db

URL = "/api/v1/canned-replies"
JSON = "application/json"
TEXTS = {
    "en": "Hi {{customer.first_name}}, {{agent.name}} here.",
    "nb": "Hei {{customer.first_name}}, {{agent.name}} her.",
}


def test_an_agent_creates_lists_changes_and_removes_a_personal_reply(world, api_client_for):
    kari = api_client_for(world.kari)
    created = kari.post(
        URL,
        {"scope": "personal", "title": "Hello", "shortcut": "hi", "texts": TEXTS},
        content_type=JSON,
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["scope"] == "personal" and body["owner_id"] == world.kari.pk and body["may_change"]

    listed = kari.get(URL, {"q": "hello"})
    assert [i["id"] for i in listed.json()["items"]] == [body["id"]]
    # Nobody else sees it.
    assert api_client_for(world.ola).get(f"{URL}/{body['id']}").status_code == 404

    changed = kari.put(
        f"{URL}/{body['id']}", {"title": "Greeting", "texts": {"en": "Hi"}}, content_type=JSON
    )
    assert changed.status_code == 200 and changed.json()["title"] == "Greeting"
    assert kari.delete(f"{URL}/{body['id']}").status_code == 204
    assert kari.get(f"{URL}/{body['id']}").status_code == 404


def test_scopes_are_refused_by_role(world, api_client_for):
    team = {"scope": "team", "team_id": world.oslo.pk, "title": "Oslo", "texts": TEXTS}
    assert api_client_for(world.kari).post(URL, team, content_type=JSON).status_code == 403
    assert api_client_for(world.siv).post(URL, team, content_type=JSON).status_code == 201
    bergen = {**team, "team_id": world.bergen.pk}
    assert api_client_for(world.siv).post(URL, bergen, content_type=JSON).status_code == 404
    glob = {"scope": "global", "title": "All", "texts": TEXTS}
    assert api_client_for(world.siv).post(URL, glob, content_type=JSON).status_code == 403
    assert api_client_for(world.admin).post(URL, glob, content_type=JSON).status_code == 201


def test_an_unknown_variable_is_a_400_naming_it(world, api_client_for):
    response = api_client_for(world.kari).post(
        URL,
        {"scope": "personal", "title": "Oops", "texts": {"en": "{{customer.phone}}"}},
        content_type=JSON,
    )
    assert response.status_code == 400
    assert "{{customer.phone}}" in response.json()["detail"]
    huge = api_client_for(world.kari).post(
        URL, {"scope": "personal", "title": "Big", "texts": {"en": "x" * 6000}}, content_type=JSON
    )
    assert huge.status_code == 422


def test_a_reply_is_rendered_for_a_conversation_in_the_customers_language(world, api_client_for):
    reply = do_create_canned_reply(scope="personal", title="Hello", texts=TEXTS, actor=world.kari)
    do_set_preferred_language(world.oslo_customer, "nb", actor=world.kari)
    kari = api_client_for(world.kari)

    response = kari.get(f"{URL}/{reply.pk}/render", {"conversation_id": world.oslo_waiting.pk})

    assert response.status_code == 200, response.content
    assert response.json() == {
        "id": reply.pk, "language": "nb", "text": "Hei Astrid, Kari Nordmann her.", "unknown": [],
    }  # fmt: skip
    outside = kari.get(f"{URL}/{reply.pk}/render", {"conversation_id": world.bergen_waiting.pk})
    assert outside.status_code == 404
