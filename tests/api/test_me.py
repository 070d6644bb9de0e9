"""/me: who the token belongs to, and setting one's presence."""

from __future__ import annotations

import pytest

from teamline.accounts.queries import profile_of
from teamline.core.testing import create_user

pytestmark = pytest.mark.django_db


def test_me_is_the_tokens_owner_with_role_presence_and_teams(world, api_client_for):
    response = api_client_for(world.kari).get("/api/v1/me")

    assert response.status_code == 200
    assert response.json() == {
        "id": world.kari.pk,
        "username": "kari",
        "name": "Kari Nordmann",
        "role": "agent",
        "remote": False,
        "presence": "offline",
        "language": "",
        "teams": [{"id": world.oslo.pk, "name": "Oslo", "supervisor": False}],
    }


def test_a_supervisor_sees_which_teams_they_supervise(world, api_client_for):
    body = api_client_for(world.siv).get("/api/v1/me").json()

    assert body["role"] == "supervisor"
    assert body["teams"] == [{"id": world.oslo.pk, "name": "Oslo", "supervisor": True}]


def test_setting_presence_to_available_offers_waiting_work(world, api_client_for):
    ola = api_client_for(world.ola)

    response = ola.put("/api/v1/me/presence", {"presence": "available"}, "application/json")

    assert response.status_code == 200
    assert response.json()["presence"] == "available"
    assert profile_of(world.ola).presence == "available"
    world.oslo_waiting.refresh_from_db()
    assert world.oslo_waiting.assignee == world.ola


def test_an_unknown_presence_is_422(world, api_client_for):
    response = api_client_for(world.kari).put(
        "/api/v1/me/presence", {"presence": "sleeping"}, "application/json"
    )

    assert response.status_code == 422
    assert response.json()["detail"].startswith("presence: Input should be 'offline'")
    assert profile_of(world.kari).presence == "offline"


def test_a_user_without_an_agent_profile_still_has_a_presence(api_client_for):
    from teamline.accounts.models import AgentProfile

    boss = create_user("boss", role="admin")
    AgentProfile.objects.filter(user=boss).delete()  # as if made by `createsuperuser`
    client = api_client_for(boss)

    assert client.get("/api/v1/me").json()["presence"] == "offline"
    response = client.put("/api/v1/me/presence", {"presence": "busy"}, "application/json")
    assert response.status_code == 200
    assert response.json()["presence"] == "busy"


def test_an_agent_sets_where_their_phone_calls_ring(world, api_client_for):
    kari = api_client_for(world.kari)

    response = kari.put(
        "/api/v1/me/call-endpoint",
        {"phone_number": "+47 900 00 009", "call_via": "phone"},
        "application/json",
    )

    assert response.status_code == 200
    assert response.json() == {
        "phone_number": "+4790000009",
        "call_via": "phone",
        "endpoint": "+4790000009",
    }
    assert profile_of(world.kari).phone_number == "+4790000009"


def test_a_number_that_cannot_be_dialled_is_400_with_the_reason(world, api_client_for):
    kari = api_client_for(world.kari)

    not_in_plan = kari.put(
        "/api/v1/me/call-endpoint",
        {"phone_number": "+47 12", "call_via": "phone"},
        "application/json",
    )
    no_country = kari.put(
        "/api/v1/me/call-endpoint",
        {"phone_number": "900 00 009", "call_via": "phone"},
        "application/json",
    )

    assert not_in_plan.status_code == 400
    assert "not a valid phone number" in not_in_plan.json()["detail"]
    assert no_country.status_code == 422  # the schema wants E.164
    assert profile_of(world.kari).phone_number == ""


def test_kari_picks_traditional_chinese_for_her_desk_through_the_api(world, api_client_for, client):
    kari = api_client_for(world.kari)

    response = kari.put("/api/v1/me/language", {"language": "zh-Hant"}, "application/json")

    assert response.status_code == 200
    assert response.json()["language"] == "zh-hant"
    assert kari.get("/api/v1/me").json()["language"] == "zh-hant"
    world.kari.refresh_from_db()
    assert world.kari.language == "zh-hant"
    # The desk reads the same choice.
    client.force_login(world.kari)
    assert client.get("/desk/", HTTP_ACCEPT_LANGUAGE="en")["Content-Language"] == "zh-hant"


def test_an_empty_language_gives_the_desk_back_to_the_browser(world, api_client_for):
    kari = api_client_for(world.kari)
    kari.put("/api/v1/me/language", {"language": "nb"}, "application/json")

    response = kari.put("/api/v1/me/language", {"language": ""}, "application/json")

    assert response.status_code == 200
    assert response.json()["language"] == ""
    world.kari.refresh_from_db()
    assert world.kari.language == ""


@pytest.mark.parametrize("language", ["de", "zh-TW", "x" * 17, "nb\x00", 7])
def test_a_language_outside_the_six_is_422_and_changes_nothing(world, api_client_for, language):
    kari = api_client_for(world.kari)

    response = kari.put("/api/v1/me/language", {"language": language}, "application/json")

    assert response.status_code == 422
    assert response.json()["detail"].startswith("language:")
    world.kari.refresh_from_db()
    assert world.kari.language == ""
