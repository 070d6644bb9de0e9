"""Experts: a second participant who helps without taking the conversation over, chosen by
name or as the best available expert in a skill; they may write while they take part and lose
access when they leave."""

import pytest

from teamline.accounts.actions import do_set_expert_available, do_set_presence
from teamline.accounts.models import AgentProfile
from teamline.conversations.events import conversation_recipients
from teamline.conversations.models import ConversationParticipant
from teamline.conversations.queries import access_conversation, inbox_conversations
from teamline.conversations.replies import do_add_note, do_send_reply
from teamline.core.errors import Forbidden, InvalidInput, NotFound
from teamline.core.events import user_group
from teamline.core.testing import (
    capture_events,
    create_agent,
    create_customer,
    create_team,
    customer_says,
)
from teamline.routing.actions import do_assign_conversation
from teamline.routing.transfers import (
    access_expert,
    best_expert,
    do_invite_expert,
    do_leave_conversation,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    oslo = create_team("Oslo")
    back_office = create_team("Back office")
    kari = create_agent("kari", team=oslo, display_name="Kari")
    ola = create_agent("ola", team=oslo, display_name="Ola")
    conversation = customer_says(create_customer(team=oslo), "Porting my number?")[0].conversation
    do_assign_conversation(conversation, kari, actor=None, reason="test")
    return type("World", (), locals())


def expert(name, team, skills, *, presence="busy", available=True):
    user = create_agent(name, team=team, display_name=name.capitalize())
    AgentProfile.objects.filter(user=user).update(skills=skills)
    do_set_expert_available(user, available, actor=user)
    do_set_presence(user, presence, actor=user)
    return user


def test_an_expert_joins_without_taking_over_writes_and_loses_access_on_leaving(
    world, django_capture_on_commit_callbacks
):
    erik = expert("erik", world.back_office, {"porting": 5})
    with pytest.raises(NotFound):
        access_conversation(erik, world.conversation.pk)

    with capture_events() as events, django_capture_on_commit_callbacks(execute=True):
        participant = do_invite_expert(world.conversation, actor=world.kari, expert=erik)
    world.conversation.refresh_from_db()
    assert world.conversation.assignee == world.kari
    assert participant.invited_by == world.kari and participant.reason == "by name"
    assert [r.staff for e, r in events if e.type == "expert.invited"] == [
        frozenset({user_group(erik.pk)})
    ]
    # They see it, hear its events, and what they write is theirs.
    seen = access_conversation(erik, world.conversation.pk)
    assert list(inbox_conversations(erik, view="team")) == [seen]
    assert user_group(erik.pk) in conversation_recipients(seen).staff
    assert do_add_note(seen, "Porting takes 3 days", actor=erik).sender_user == erik
    reply, _ = do_send_reply(seen, "Hello, I handle porting.", actor=erik)
    assert reply.sender_user == erik
    world.conversation.refresh_from_db()
    assert world.conversation.assignee == world.kari

    do_leave_conversation(seen, actor=erik)
    with pytest.raises(NotFound):
        access_conversation(erik, world.conversation.pk)
    assert user_group(erik.pk) not in conversation_recipients(seen).staff
    row = ConversationParticipant.objects.get(pk=participant.pk)
    assert row.left_at is not None  # the history stays
    notes = list(
        world.conversation.messages.filter(is_internal=True).values_list("text", flat=True)
    )
    assert (
        notes[0] == "Invited Erik to join as an expert." and notes[-1] == "Left the conversation."
    )


def test_by_skill_the_best_available_expert_is_chosen(world):
    good = expert("good", world.back_office, {"porting": 3})
    best = expert("best", world.back_office, {"porting": 5})
    expert("asleep", world.back_office, {"porting": 5}, presence="offline")
    expert("unwilling", world.back_office, {"porting": 5}, available=False)
    assert best_expert(world.conversation, "porting") == best

    participant = do_invite_expert(world.conversation, actor=world.kari, skill="porting")
    assert participant.user == best and participant.reason == "skill porting"
    # Next time: best is already in, so the next one.
    assert do_invite_expert(world.conversation, actor=world.kari, skill="porting").user == good
    with pytest.raises(InvalidInput, match="No expert in porting is available"):
        do_invite_expert(world.conversation, actor=world.kari, skill="porting")


def test_only_available_signed_in_staff_can_be_invited_by_name(world):
    asleep = expert("asleep", world.back_office, {}, presence="offline")
    unwilling = expert("unwilling", world.back_office, {}, available=False)
    for user in (asleep, unwilling, world.kari):  # Kari has it: not an expert in it
        with pytest.raises(NotFound):
            access_expert(world.ola, world.conversation, user.pk)


def test_one_participation_at_a_time_and_only_the_right_people_remove_an_expert(world):
    erik = expert("erik", world.back_office, {})
    do_invite_expert(world.conversation, actor=world.ola, expert=erik)
    with pytest.raises(InvalidInput, match="already in this conversation"):
        do_invite_expert(world.conversation, actor=world.kari, expert=erik)
    outsider = create_agent("outsider", team=world.oslo)
    with pytest.raises(Forbidden):
        do_leave_conversation(world.conversation, actor=outsider, expert=erik)
    do_leave_conversation(world.conversation, actor=world.kari, expert=erik)  # the assignee
    with pytest.raises(NotFound):
        do_leave_conversation(world.conversation, actor=erik)
    # They can be asked again later.
    do_invite_expert(world.conversation, actor=world.kari, expert=erik)
    assert ConversationParticipant.objects.filter(user=erik).count() == 2


def test_expert_availability_is_the_staff_members_own_choice(world):
    do_set_expert_available(world.kari, True, actor=world.kari)
    assert AgentProfile.objects.get(user=world.kari).expert_available
    with pytest.raises(NotFound):
        do_set_expert_available(world.kari, False, actor=world.ola)


def test_an_invited_expert_hears_the_customers_messages_and_the_agents_replies(
    world, django_capture_on_commit_callbacks
):
    # A conversation nobody was ever invited to reads no participants on its hot paths; from
    # the invitation on, its messages and replies go to the expert too, until they leave.
    erik = expert("erik", world.back_office, {"porting": 5})
    customer = world.conversation.customer
    assert world.conversation.experts_invited_at is None

    def staff_hearing(action):
        with capture_events() as events, django_capture_on_commit_callbacks(execute=True):
            action()
        return [r.staff for e, r in events if e.type == "message.created"]

    before = staff_hearing(lambda: customer_says(customer, "Is it done?"))
    assert before and all(user_group(erik.pk) not in staff for staff in before)

    do_invite_expert(world.conversation, actor=world.kari, expert=erik)
    world.conversation.refresh_from_db()
    assert world.conversation.experts_invited_at is not None
    for action in (
        lambda: customer_says(customer, "Hello again"),
        lambda: do_send_reply(world.conversation, "Erik is looking at it.", actor=world.kari),
    ):
        heard = staff_hearing(action)
        assert heard and all(user_group(erik.pk) in staff for staff in heard)

    do_leave_conversation(world.conversation, actor=erik)
    after = staff_hearing(lambda: customer_says(customer, "Thanks"))
    assert after and all(user_group(erik.pk) not in staff for staff in after)


def test_conversations_with_experts_from_before_the_stamp_are_stamped_by_the_migration(world):
    from importlib import import_module
    from types import SimpleNamespace

    from django.apps import apps
    from django.db import connection

    from teamline.conversations.models import Conversation

    erik = expert("erik", world.back_office, {"porting": 5})
    participant = do_invite_expert(world.conversation, actor=world.kari, expert=erik)
    alone = customer_says(create_customer(team=world.oslo), "Roaming?")[0].conversation
    Conversation.objects.update(experts_invited_at=None)  # as before the field existed

    migration = import_module("teamline.conversations.migrations.0017_experts_invited_at")
    migration.stamp_invited(apps, SimpleNamespace(connection=connection))

    world.conversation.refresh_from_db()
    alone.refresh_from_db()
    assert world.conversation.experts_invited_at == participant.joined_at
    assert alone.experts_invited_at is None
