"""Who may open a conversation: its team (members and supervisors), admins, and whoever it is
assigned to — overflow hands work to agents of other teams, who must be able to answer it."""

import pytest

from teamline.conversations.queries import access_conversation
from teamline.core.errors import NotFound
from teamline.core.testing import create_agent, create_customer, create_team, customer_says
from teamline.customers.queries import access_customer

pytestmark = pytest.mark.django_db


def test_an_agent_given_another_teams_conversation_by_overflow_can_open_it():
    oslo, bergen = create_team("Oslo"), create_team("Bergen")
    ola = create_agent("ola", team=bergen, presence="available")
    # Nobody in Oslo is online: the default policy overflows to Bergen straight away.
    message, _ = customer_says(create_customer(team=oslo), "Anyone there?")
    conversation = message.conversation
    conversation.refresh_from_db()
    assert conversation.team_id == oslo.pk and conversation.assignee_id == ola.pk

    assert access_conversation(ola, conversation.pk).pk == conversation.pk
    assert access_customer(ola, conversation.customer_id).pk == conversation.customer_id


def test_another_teams_agent_without_the_assignment_still_gets_not_found():
    oslo, bergen = create_team("Oslo"), create_team("Bergen")
    create_agent("kari", team=oslo, presence="available")
    outsider = create_agent("per", team=bergen, presence="available")
    message, _ = customer_says(create_customer(team=oslo), "Hei")
    with pytest.raises(NotFound):
        access_conversation(outsider, message.conversation_id)
    with pytest.raises(NotFound):
        access_customer(outsider, message.conversation.customer_id)


@pytest.mark.parametrize("bad_id", ["abc", "0", "-3", str(2**70)])
def test_ids_that_cannot_exist_are_not_found_not_a_server_error(bad_id):
    kari = create_agent("kari", team=create_team("Oslo"))
    with pytest.raises(NotFound):
        access_conversation(kari, bad_id)
    with pytest.raises(NotFound):
        access_customer(kari, bad_id)
