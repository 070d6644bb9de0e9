"""A customer's profile through the API: identities, attributes, home team, and only the
conversations the caller may see."""

from __future__ import annotations

import pytest

from teamline.conversations.models import Conversation
from teamline.core.testing import customer_says

pytestmark = pytest.mark.django_db


def test_an_agent_sees_their_teams_customer_with_identities_and_conversations(
    world, api_client_for
):
    customer = world.oslo_customer

    response = api_client_for(world.kari).get(f"/api/v1/customers/{customer.pk}")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == customer.pk
    assert body["name"] == "Astrid"
    assert body["home_team"] == {"id": world.oslo.pk, "name": "Oslo"}
    identities = [{k: v for k, v in row.items() if k != "id"} for row in body["identities"]]
    assert identities == [
        {"kind": "email", "value": "astrid@example.com", "verified": False, "masked": False},
        {"kind": "phone", "value": "+4791234567", "verified": True, "masked": False},
    ]
    assert body["attributes"] == {"plan": "Fri 20 GB"}
    assert [c["id"] for c in body["conversations"]] == [world.oslo_waiting.pk]
    assert body["conversations"][0]["team"]["name"] == "Oslo"


def test_conversations_of_other_teams_stay_hidden(world, api_client_for):
    customer = world.oslo_customer
    # The customer also talked to Bergen once (moved there by hand: transfers are not built yet).
    older = customer_says(world.bergen_customer, "Hei")[0].conversation
    Conversation.objects.filter(pk=older.pk).update(customer=customer)

    kari = api_client_for(world.kari).get(f"/api/v1/customers/{customer.pk}").json()
    admin = api_client_for(world.admin).get(f"/api/v1/customers/{customer.pk}").json()
    bjorn = api_client_for(world.bjorn).get(f"/api/v1/customers/{customer.pk}")

    assert [c["id"] for c in kari["conversations"]] == [world.oslo_waiting.pk]
    assert {c["id"] for c in admin["conversations"]} == {world.oslo_waiting.pk, older.pk}
    # Bergen handled one of their conversations, so Bergen may see them — and only that one.
    assert bjorn.status_code == 200
    assert [c["id"] for c in bjorn.json()["conversations"]] == [older.pk]


def test_a_supervisor_sees_the_customers_of_the_team_they_supervise(world, api_client_for):
    siv = api_client_for(world.siv)

    assert siv.get(f"/api/v1/customers/{world.oslo_customer.pk}").status_code == 200
    assert siv.get(f"/api/v1/customers/{world.bergen_customer.pk}").status_code == 404
