"""Transfers, reassignment and experts through the API, with the desk's access rules."""

import json

import pytest

from teamline.accounts.actions import do_set_presence
from teamline.accounts.models import AgentProfile
from teamline.conversations.models import TimelineEvent
from teamline.core.testing import create_agent, create_team

pytestmark = pytest.mark.django_db


def post(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def url(conversation, tail):
    return f"/api/v1/conversations/{conversation.pk}/{tail}"


@pytest.fixture
def erik():
    """Erik works in the back office: no customer team of his own, available for experts."""
    back_office = create_team("Back office")
    erik = create_agent("erik", team=back_office, display_name="Erik Ekspert")
    AgentProfile.objects.filter(user=erik).update(expert_available=True, skills={"porting": 5})
    do_set_presence(erik, "busy", actor=erik)
    return erik


def test_an_agent_transfers_their_conversation_to_another_team(world, api_client_for):
    response = post(
        api_client_for(world.kari),
        url(world.oslo_mine, "transfer"),
        {"to_team_id": world.bergen.pk, "note": "Bergen number"},
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["team"] == {"id": world.bergen.pk, "name": "Bergen"}
    assert body["assignee"] is None and body["waiting_since"]
    event = TimelineEvent.objects.get(conversation=world.oslo_mine, kind="transferred")
    assert event.data["reason"] == "Bergen number" and event.actor == world.kari


def test_transfer_needs_exactly_one_target_and_known_ids(world, api_client_for):
    kari = api_client_for(world.kari)
    both = {"to_team_id": world.bergen.pk, "to_skill": "billing", "note": "x"}
    assert post(kari, url(world.oslo_mine, "transfer"), both).status_code == 422
    nobody = {"to_agent_id": 999999, "note": "x"}
    assert post(kari, url(world.oslo_mine, "transfer"), nobody).status_code == 404
    no_note = {"to_team_id": world.bergen.pk, "note": " "}
    response = post(kari, url(world.oslo_mine, "transfer"), no_note)
    assert response.status_code == 422
    assert "note: must not be blank or contain NUL characters" in response.json()["detail"]


def test_another_teams_agent_gets_404_for_transfer_invite_and_assign(world, api_client_for, erik):
    bjorn = api_client_for(world.bjorn)
    transfer = {"to_team_id": world.bergen.pk, "note": "mine"}
    assert post(bjorn, url(world.oslo_mine, "transfer"), transfer).status_code == 404
    assert post(bjorn, url(world.oslo_mine, "experts"), {"user_id": erik.pk}).status_code == 404
    assert (
        post(bjorn, url(world.oslo_mine, "assign"), {"agent_id": world.ola.pk}).status_code == 404
    )
    assert bjorn.delete(url(world.oslo_mine, f"experts/{erik.pk}")).status_code == 404


def test_supervisors_reassign_agents_are_told_they_may_not(world, api_client_for):
    response = post(
        api_client_for(world.kari), url(world.oslo_mine, "assign"), {"agent_id": world.ola.pk}
    )
    assert response.status_code == 403
    assert response.json() == {
        "code": "forbidden",
        "detail": "Only supervisors and admins can reassign conversations.",
    }
    siv = api_client_for(world.siv)
    response = post(siv, url(world.oslo_mine, "assign"), {"agent_id": world.ola.pk})
    assert response.status_code == 200
    assert response.json()["assignee"]["id"] == world.ola.pk
    # Only members of the conversation's team.
    assert (
        post(siv, url(world.oslo_mine, "assign"), {"agent_id": world.bjorn.pk}).status_code == 404
    )
    admin = api_client_for(world.admin)
    response = post(admin, url(world.bergen_waiting, "assign"), {"agent_id": world.bjorn.pk})
    assert response.status_code == 200


def test_an_expert_joins_writes_leaves_and_loses_access(world, api_client_for, erik):
    kari = api_client_for(world.kari)
    response = post(kari, url(world.oslo_mine, "experts"), {"user_id": erik.pk})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["user"] == {"id": erik.pk, "name": "Erik Ekspert"}
    assert body["role"] == "expert" and body["invited_by"]["id"] == world.kari.pk

    expert = api_client_for(erik)
    detail = expert.get(f"/api/v1/conversations/{world.oslo_mine.pk}")
    assert detail.status_code == 200
    assert detail.json()["assignee"]["id"] == world.kari.pk  # not taken over
    note = post(expert, url(world.oslo_mine, "notes"), {"text": "Porting takes 3 days"})
    assert note.status_code == 201 and note.json()["sender"]["id"] == erik.pk

    left = expert.delete(url(world.oslo_mine, f"experts/{erik.pk}"))
    assert left.status_code == 200 and left.json()["left_at"]
    assert expert.get(f"/api/v1/conversations/{world.oslo_mine.pk}").status_code == 404


def test_an_expert_is_invited_by_skill(world, api_client_for, erik):
    kari = api_client_for(world.kari)
    response = post(kari, url(world.oslo_mine, "experts"), {"skill": "porting"})
    assert response.status_code == 201
    assert response.json()["user"]["id"] == erik.pk
    again = post(kari, url(world.oslo_mine, "experts"), {"skill": "porting"})
    assert again.status_code == 409  # Erik is already in; nobody else knows porting
    assert post(kari, url(world.oslo_mine, "experts"), {}).status_code == 422


def test_only_staff_available_for_expert_requests_can_be_invited(world, api_client_for):
    response = post(
        api_client_for(world.kari), url(world.oslo_mine, "experts"), {"user_id": world.ola.pk}
    )
    assert response.status_code == 404
