"""Labels and priority through the JSON API: labels listed for all staff and defined by admins,
put on and taken off a conversation, the conversation list filtered by one, and the priority
set — with the desk's access rules (404 outside your teams)."""

from __future__ import annotations

import pytest

from teamline.conversations.labels import do_add_label, do_create_label

pytestmark = pytest.mark.django_db

URL = "/api/v1/conversations"


@pytest.fixture
def billing(world):
    return do_create_label(name="Billing", colour="#1a7f37", actor=world.admin)


def test_every_staff_member_lists_the_labels(world, api_client_for, billing):
    response = api_client_for(world.kari).get("/api/v1/labels")
    assert response.status_code == 200
    assert response.json()["items"] == [
        {"id": billing.pk, "name": "Billing", "colour": "#1a7f37", "description": ""}
    ]


def test_an_admin_defines_a_label_and_an_agent_may_not(world, api_client_for):
    body = {"name": "Fibre", "colour": "#0055aa"}
    refused = api_client_for(world.kari).post(
        "/api/v1/labels", body, content_type="application/json"
    )
    assert refused.status_code == 403

    admin = api_client_for(world.admin)
    created = admin.post("/api/v1/labels", body, content_type="application/json")
    assert created.status_code == 201, created.content
    again = admin.post(
        "/api/v1/labels", {"name": "FIBRE", "colour": "#000000"}, content_type="application/json"
    )
    assert again.status_code == 409
    bad = admin.post(
        "/api/v1/labels", {"name": "Red", "colour": "red"}, content_type="application/json"
    )
    assert bad.status_code == 422


def test_an_agent_labels_a_conversation_by_name_and_takes_it_off(world, api_client_for, billing):
    kari = api_client_for(world.kari)
    url = f"{URL}/{world.oslo_waiting.pk}/labels"

    response = kari.post(url, {"label": "billing"}, content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json()["labels"] == [{"id": billing.pk, "name": "Billing", "colour": "#1a7f37"}]

    response = kari.delete(f"{url}/{billing.pk}")
    assert response.status_code == 200
    assert response.json()["labels"] == []


def test_labels_outside_your_teams_and_unknown_labels_are_not_found(world, api_client_for, billing):
    kari = api_client_for(world.kari)
    outside = kari.post(
        f"{URL}/{world.bergen_waiting.pk}/labels",
        {"label": "Billing"},
        content_type="application/json",
    )
    assert outside.status_code == 404
    unknown = kari.post(
        f"{URL}/{world.oslo_waiting.pk}/labels", {"label": "Nope"}, content_type="application/json"
    )
    assert unknown.status_code == 404
    nul = kari.post(
        f"{URL}/{world.oslo_waiting.pk}/labels",
        {"label": "a\u0000"},
        content_type="application/json",
    )
    assert nul.status_code == 422


def test_the_conversation_list_filters_by_label_id_or_name(world, api_client_for, billing):
    do_add_label(world.oslo_mine, billing, actor=world.kari)
    kari = api_client_for(world.kari)

    for ref in (billing.pk, "Billing", "BILLING"):
        response = kari.get(URL, {"label": ref})
        assert response.status_code == 200
        items = response.json()["items"]
        assert [i["id"] for i in items] == [world.oslo_mine.pk]
        assert items[0]["labels"] == [{"id": billing.pk, "name": "Billing", "colour": "#1a7f37"}]
    assert kari.get(URL, {"label": "Nope"}).status_code == 404
    assert kari.get(URL, {"label": "x" * 51}).status_code == 422


def test_the_list_reads_the_labels_of_a_page_in_one_query(world, api_client_for, billing):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from teamline.core.testing import create_customer, customer_says

    kari = api_client_for(world.kari)
    kari.get(URL)  # warm caches (token lookup paths)
    with CaptureQueriesContext(connection) as few:
        kari.get(URL, {"view": "team"})
    for n in range(5):
        conv = customer_says(create_customer(team=world.oslo, name=f"C{n}"), "Hi")[0].conversation
        do_add_label(conv, billing, actor=world.kari)
    with CaptureQueriesContext(connection) as many:
        kari.get(URL, {"view": "team"})
    assert len(many.captured_queries) == len(few.captured_queries)


def test_agents_and_supervisors_set_the_priority(world, api_client_for):
    url = f"{URL}/{world.oslo_waiting.pk}/priority"
    response = api_client_for(world.kari).post(
        url, {"priority": "urgent"}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["priority"] == 2

    response = api_client_for(world.siv).post(
        url, {"priority": "low"}, content_type="application/json"
    )
    assert response.json()["priority"] == -1

    bad = api_client_for(world.kari).post(
        url, {"priority": "critical"}, content_type="application/json"
    )
    assert bad.status_code == 422
    outside = api_client_for(world.bjorn).post(
        url, {"priority": "urgent"}, content_type="application/json"
    )
    assert outside.status_code == 404
