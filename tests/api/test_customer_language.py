"""PUT /api/v1/customers/{id}/language: an integrator records a customer's language."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.django_db


def put(client, path, body):
    return client.put(path, data=json.dumps(body), content_type="application/json")


def test_a_language_tag_is_stored_as_one_of_the_six_and_kept_as_chosen(world, api_client_for):
    client = api_client_for(world.kari)
    path = f"/api/v1/customers/{world.oslo_customer.pk}/language"
    answer = put(client, path, {"language": "no"})
    assert answer.status_code == 200
    body = answer.json()
    assert (body["preferred_language"], body["language_source"]) == ("nb", "chosen")
    assert (
        client.get(f"/api/v1/customers/{world.oslo_customer.pk}").json()["preferred_language"]
        == "nb"
    )
    cleared = put(client, path, {"language": ""}).json()
    assert (cleared["preferred_language"], cleared["language_source"]) == ("", "")


def test_a_language_teamline_does_not_speak_and_other_teams_customers_are_refused(
    world, api_client_for
):
    client = api_client_for(world.kari)
    mine = f"/api/v1/customers/{world.oslo_customer.pk}/language"
    refused = put(client, mine, {"language": "de"})
    assert refused.status_code == 422
    theirs = f"/api/v1/customers/{world.bergen_customer.pk}/language"
    hidden = put(client, theirs, {"language": "nb"})
    assert hidden.status_code == 404
    extra = put(client, mine, {"language": "nb", "source": "x"})
    assert extra.status_code == 422
