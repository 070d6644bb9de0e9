"""Transfers: to an agent, a team or a skill queue, with a note and the history kept; the
customer keeps their place in line; supervisors reassign; capacity and races as in routing."""

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from teamline.accounts.actions import do_set_presence
from teamline.conversations.models import Conversation, Message, TimelineEvent
from teamline.core.errors import Forbidden, InvalidInput, NotFound
from teamline.core.events import team_group, user_group
from teamline.core.testing import (
    capture_events,
    create_agent,
    create_customer,
    create_inbox,
    create_team,
    create_user,
    customer_says,
)
from teamline.routing.actions import do_assign_conversation
from teamline.routing.models import WorkState
from teamline.routing.queries import queue_rows, waiting_explanation
from teamline.routing.tick import reevaluate_due
from teamline.routing.transfers import (
    access_transfer_agent,
    do_reassign_conversation,
    do_transfer_conversation,
)

from .support import speaks_and_knows, timeline, work_item


@pytest.fixture
def world(db):
    oslo = create_team("Oslo")
    bergen = create_team("Bergen")
    create_inbox(oslo)
    create_inbox(bergen)
    kari = create_agent("kari", team=oslo, display_name="Kari")
    ola = create_agent("ola", team=oslo, display_name="Ola")
    bjorn = create_agent("bjorn", team=bergen, display_name="Bjørn")
    siv = create_user("siv", role="supervisor", supervises=oslo, display_name="Siv")
    return type("World", (), locals())


def conversation_with(agent, team, text="My bill is wrong"):
    """A conversation of `team`'s customer that routing gave to `agent`."""
    do_set_presence(agent, "available", actor=agent)
    conversation = customer_says(create_customer(team=team), text)[0].conversation
    do_set_presence(agent, "busy", actor=agent)
    conversation.refresh_from_db()
    assert conversation.assignee_id == agent.pk
    return conversation


def test_transfer_to_a_team_keeps_the_history_and_the_customers_place_in_line(
    world, django_capture_on_commit_callbacks
):
    astrid = conversation_with(world.kari, world.oslo)
    arrived = work_item(astrid).enqueued_at
    # Bergen is busy; somebody else started waiting there after Astrid arrived.
    do_set_presence(world.bjorn, "busy", actor=world.bjorn)
    later = customer_says(create_customer(team=world.bergen), "Hei")[0].conversation
    assert work_item(later).enqueued_at > arrived

    with capture_events() as events, django_capture_on_commit_callbacks(execute=True):
        do_transfer_conversation(
            astrid, actor=world.kari, to_team=world.bergen, note="Billing for Bergen numbers"
        )

    astrid.refresh_from_db()
    assert astrid.team == world.bergen and astrid.assignee is None
    item = work_item(astrid)
    assert item.state == WorkState.QUEUED and item.enqueued_at == arrived
    assert astrid.waiting_since == arrived
    [transfer] = timeline(astrid, "transferred")
    assert transfer["from"] == {
        "agent_id": world.kari.pk,
        "agent": "Kari",
        "team_id": world.oslo.pk,
        "team": "Oslo",
    }
    assert transfer["to"]["kind"] == "team" and transfer["to"]["team_id"] == world.bergen.pk
    assert transfer["reason"] == "Billing for Bergen numbers"
    note = Message.objects.get(pk=transfer["note_id"])
    assert note.is_internal and note.sender_user == world.kari
    assert note.text == "Transfer to team Bergen: Billing for Bergen numbers"
    # First in Bergen's line, ahead of the later arrival.
    rows = queue_rows([world.bergen.pk], timezone.now())
    assert [(r["conversation"].pk, r["position"]) for r in rows] == [(astrid.pk, 1), (later.pk, 2)]
    assert "waiting for team Bergen" in waiting_explanation(astrid, timezone.now())
    # Kari (who lost it) and both teams hear about it.
    changed = [r for e, r in events if e.type == "assignment.changed"]
    assert changed and {
        user_group(world.kari.pk),
        team_group(world.oslo.pk),
        team_group(world.bergen.pk),
    } <= set(changed[0].staff)


def test_transfer_to_a_team_is_taken_by_an_available_member(world):
    astrid = conversation_with(world.kari, world.oslo)
    do_set_presence(world.bjorn, "available", actor=world.bjorn)
    do_transfer_conversation(astrid, actor=world.kari, to_team=world.bergen, note="Bergen number")
    astrid.refresh_from_db()
    assert astrid.assignee == world.bjorn
    assert work_item(astrid).state == WorkState.ASSIGNED


def test_transfer_to_an_available_agent_gives_it_to_them_now(world):
    astrid = conversation_with(world.kari, world.oslo)
    do_set_presence(world.ola, "available", actor=world.ola)
    do_transfer_conversation(astrid, actor=world.kari, to_agent=world.ola, note="Ola knows")
    astrid.refresh_from_db()
    assert astrid.assignee == world.ola and astrid.team == world.oslo
    assigned = timeline(astrid, "assigned")[-1]
    assert assigned["agent_id"] == world.ola.pk and assigned["reason"] == "transferred by Kari"


def test_transfer_to_a_busy_agent_waits_for_them_then_falls_back_to_their_team(world):
    astrid = conversation_with(world.kari, world.oslo)
    do_set_presence(world.bjorn, "busy", actor=world.bjorn)  # online, not free
    do_transfer_conversation(astrid, actor=world.kari, to_agent=world.bjorn, note="For Bjørn")
    astrid.refresh_from_db()
    assert astrid.assignee is None and astrid.team == world.bergen
    assert waiting_explanation(astrid, timezone.now()).startswith("waiting for Bjørn, step 1")

    # After the policy's sticky timeout (60 s) it waits for Bjørn's team instead.
    reevaluate_due(now=timezone.now() + timedelta(seconds=61))
    later = timezone.now() + timedelta(seconds=62)
    assert waiting_explanation(astrid, later).startswith("waiting for team Bergen")
    # When Bjørn is free it is his.
    do_set_presence(world.bjorn, "available", actor=world.bjorn)
    astrid.refresh_from_db()
    assert astrid.assignee == world.bjorn


def test_transfer_to_an_offline_agent_goes_to_their_team(world):
    colleague = create_agent("berit", team=world.bergen, display_name="Berit")
    do_set_presence(colleague, "busy", actor=colleague)  # Bergen has someone online
    astrid = conversation_with(world.kari, world.oslo)
    do_transfer_conversation(astrid, actor=world.kari, to_agent=world.bjorn, note="For Bjørn")
    assert waiting_explanation(astrid, timezone.now()).startswith("waiting for team Bergen")


def test_transfer_to_a_full_agent_never_exceeds_their_capacity(world):
    full = create_agent("full", team=world.oslo, capacity={"chat": 1}, display_name="Full")
    conversation_with(full, world.oslo)
    do_set_presence(full, "available", actor=full)
    astrid = conversation_with(world.kari, world.oslo)
    do_transfer_conversation(astrid, actor=world.kari, to_agent=full, note="For you")
    astrid.refresh_from_db()
    assert astrid.assignee is None
    assert Conversation.objects.filter(assignee=full, status="open").count() == 1
    assert waiting_explanation(astrid, timezone.now()).startswith("waiting for Full")


def test_transfer_to_a_skill_queue_finds_someone_with_the_skill(world):
    speaks_and_knows(world.bjorn, skills={"roaming": 4})
    astrid = conversation_with(world.kari, world.oslo)
    do_set_presence(world.ola, "available", actor=world.ola)  # Oslo, no roaming skill
    do_set_presence(world.bjorn, "available", actor=world.bjorn)
    do_transfer_conversation(astrid, actor=world.kari, to_skill="roaming", note="Roaming in Spain")
    astrid.refresh_from_db()
    assert astrid.assignee == world.bjorn  # overflow: nobody in Oslo has the skill
    assert work_item(astrid).required_skills == {"roaming": 1}
    [transfer] = timeline(astrid, "transferred")
    assert transfer["to"]["kind"] == "skill" and transfer["to"]["skill"] == "roaming"


def test_a_skill_nobody_has_is_refused(world):
    astrid = conversation_with(world.kari, world.oslo)
    with pytest.raises(NotFound, match="Nobody has the skill"):
        do_transfer_conversation(astrid, actor=world.kari, to_skill="astrology", note="?")


def test_a_transfer_needs_one_target_a_note_and_an_open_conversation(world):
    astrid = conversation_with(world.kari, world.oslo)
    with pytest.raises(InvalidInput, match="one agent, one team or one skill"):
        do_transfer_conversation(astrid, actor=world.kari, note="x")
    with pytest.raises(InvalidInput, match="transfer note"):
        do_transfer_conversation(astrid, actor=world.kari, to_team=world.bergen, note="  ")
    with pytest.raises(InvalidInput, match="already has"):
        do_transfer_conversation(astrid, actor=world.kari, to_agent=world.kari, note="me")
    Conversation.objects.filter(pk=astrid.pk).update(status="resolved")
    with pytest.raises(InvalidInput, match="Only open"):
        do_transfer_conversation(astrid, actor=world.kari, to_team=world.bergen, note="x")
    assert not TimelineEvent.objects.filter(conversation=astrid, kind="transferred").exists()


def test_only_the_assignee_or_a_supervisor_transfers_an_assigned_conversation(world):
    astrid = conversation_with(world.kari, world.oslo)
    with pytest.raises(Forbidden):
        do_transfer_conversation(astrid, actor=world.ola, to_team=world.bergen, note="mine now")
    do_transfer_conversation(astrid, actor=world.siv, to_team=world.bergen, note="rebalancing")
    astrid.refresh_from_db()
    assert astrid.team == world.bergen


def test_transfer_targets_go_through_an_access_helper(world):
    assert access_transfer_agent(world.kari, world.bjorn.pk) == world.bjorn
    with pytest.raises(NotFound):
        access_transfer_agent(world.kari, world.siv.pk)  # supervises, is not a member
    with pytest.raises(NotFound):
        access_transfer_agent(world.kari, "nobody")


def test_supervisors_reassign_anything_in_their_teams_agents_may_not(
    world, django_capture_on_commit_callbacks
):
    astrid = conversation_with(world.kari, world.oslo)
    with pytest.raises(Forbidden, match="Only supervisors and admins"):
        do_reassign_conversation(astrid, world.ola, actor=world.kari)
    with capture_events() as events, django_capture_on_commit_callbacks(execute=True):
        do_reassign_conversation(astrid, world.ola, actor=world.siv)
    astrid.refresh_from_db()
    assert astrid.assignee == world.ola
    assigned = timeline(astrid, "assigned")[-1]
    assert assigned["previous"] == world.kari.pk and assigned["reason"] == "reassigned by Siv"
    assert any(user_group(world.kari.pk) in r.staff for e, r in events)
    # Bergen is not Siv's team: a member of another team cannot receive an Oslo conversation.
    with pytest.raises(InvalidInput):
        do_reassign_conversation(astrid, world.bjorn, actor=world.siv)


# --- Races ------------------------------------------------------------------------------------


def run_concurrently(functions):
    barrier = threading.Barrier(len(functions))
    errors = []

    def worker(fn):
        try:
            barrier.wait()
            fn()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(fn,)) for fn in functions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_simultaneous_transfers_to_one_agent_never_exceed_their_capacity():
    oslo = create_team("Oslo")
    inbox = create_inbox(oslo)
    target = create_agent("target", team=oslo, capacity={"chat": 2})
    senders = [create_agent(f"sender{i}", team=oslo, capacity={"chat": 1}) for i in range(6)]
    conversations = []
    for sender in senders:
        conversation = customer_says(create_customer(team=oslo), "Help", inbox=inbox)[
            0
        ].conversation
        do_assign_conversation(conversation, sender, actor=None, reason="seed")
        conversations.append(conversation)
    do_set_presence(target, "available", actor=target)

    run_concurrently(
        [
            lambda c=c, s=s: do_transfer_conversation(c, actor=s, to_agent=target, note="yours")
            for c, s in zip(conversations, senders, strict=True)
        ]
    )

    rows = Conversation.objects.filter(pk__in=[c.pk for c in conversations])
    assert rows.filter(assignee=target).count() == 2
    assert rows.filter(assignee__isnull=True).count() == 4  # waiting for the target
    assert not rows.filter(assignee__in=senders).exists()
    assigned = Counter(
        TimelineEvent.objects.filter(
            kind="assigned", conversation__in=conversations, data__agent_id=target.pk
        ).values_list("conversation_id", flat=True)
    )
    assert sum(assigned.values()) == 2 and all(n == 1 for n in assigned.values())
    assert TimelineEvent.objects.filter(kind="transferred").count() == 6
