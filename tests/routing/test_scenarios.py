"""Routing scenarios from the issue, through the real actions with an injected clock:
your last agent first, then your team, then overflow; skills, language, hours, holidays,
service modes, customer choices, wrap-up and agents who go offline."""

from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone

from teamline.accounts.actions import do_set_presence
from teamline.conversations.actions import do_change_status
from teamline.conversations.models import Message, Status
from teamline.core.testing import create_agent, create_customer, create_inbox, create_team
from teamline.routing.actions import (
    do_set_routing_preference,
    offer_waiting_work,
)
from teamline.routing.models import QueueEntry, WorkItem, WorkState
from teamline.routing.queries import bots_allowed, explain
from teamline.routing.tick import sweep_queues
from teamline.teams.actions import do_set_business_hours, do_set_service_mode

from .support import arrives, policy, queued, speaks_and_knows, timeline, work_item

pytestmark = pytest.mark.django_db

MONDAY_10 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)  # 10:00 in Oslo


def seconds(n):
    return timedelta(seconds=n)


# --- Your last agent, then your team, then overflow -------------------------------------------


def test_sticky_agent_is_honoured_when_available():
    oslo = create_team("Oslo")
    kari = create_agent("kari", team=oslo, presence="available")
    nora = create_customer(team=oslo)
    first = arrives(nora, at=MONDAY_10)
    assert first.assignee == kari
    do_change_status(first, Status.RESOLVED, actor=kari)
    create_agent("ola", team=oslo, presence="available")  # idle longer than Kari now

    again = arrives(nora, at=MONDAY_10 + seconds(600))
    assert again.assignee == kari
    assert timeline(again, "assigned")[-1]["reason"] == "last agent"


def test_sticky_agent_busy_but_online_is_waited_for_then_released_after_the_timeout():
    oslo = create_team("Oslo")
    kari = create_agent("kari", team=oslo, presence="available", capacity={"chat": 1})
    ola = create_agent("ola", team=oslo, capacity={"chat": 1})
    nora = create_customer(team=oslo)
    earlier = arrives(nora, at=MONDAY_10)
    do_change_status(earlier, Status.RESOLVED, actor=kari)
    arrives(create_customer(team=oslo), at=MONDAY_10)  # Kari is busy with someone else now
    do_set_presence(ola, "available", actor=ola)

    conversation = arrives(nora, at=MONDAY_10 + seconds(100))
    assert conversation.assignee is None, "Ola is free, but Nora's own agent is online"
    assert explain(work_item(conversation), MONDAY_10 + seconds(130)) == (
        "waiting for Kari, step 1 of 4, team Oslo in 30 s"
    )
    sweep_queues(now=MONDAY_10 + seconds(159))
    conversation.refresh_from_db()
    assert conversation.assignee is None

    sweep_queues(now=MONDAY_10 + seconds(161))
    conversation.refresh_from_db()
    assert conversation.assignee == ola
    assert timeline(conversation, "assigned")[-1]["reason"] == "home team, longest idle"


def test_sticky_agent_who_frees_up_in_time_gets_their_customer_back():
    oslo = create_team("Oslo")
    kari = create_agent("kari", team=oslo, presence="available", capacity={"chat": 1})
    ola = create_agent("ola", team=oslo, capacity={"chat": 1})
    nora = create_customer(team=oslo)
    do_change_status(arrives(nora, at=MONDAY_10), Status.RESOLVED, actor=kari)
    other = arrives(create_customer(team=oslo), at=MONDAY_10)
    do_set_presence(ola, "available", actor=ola)
    conversation = arrives(nora, at=MONDAY_10 + seconds(100))

    do_change_status(other, Status.RESOLVED, actor=kari)  # Kari frees capacity

    conversation.refresh_from_db()
    assert conversation.assignee == kari


def test_overflow_to_other_teams_after_the_home_team_timeout():
    oslo, bergen = create_team("Oslo"), create_team("Bergen")
    create_agent("kari", team=oslo, presence="available", capacity={"chat": 1})
    bjorn = create_agent("bjorn", team=bergen, presence="available")
    arrives(create_customer(team=oslo), at=MONDAY_10)  # Kari is now full
    conversation = arrives(create_customer(team=oslo), at=MONDAY_10)
    assert conversation.assignee is None
    assert explain(work_item(conversation), MONDAY_10 + seconds(133)) == (
        "waiting for team Oslo, step 2 of 4, overflow in 47 s"
    )

    sweep_queues(now=MONDAY_10 + seconds(179))
    conversation.refresh_from_db()
    assert conversation.assignee is None
    sweep_queues(now=MONDAY_10 + seconds(180))
    conversation.refresh_from_db()
    assert conversation.assignee == bjorn
    assert timeline(conversation, "assigned")[-1]["reason"] == "overflow (Bergen), longest idle"


def test_overflow_at_once_when_the_home_team_is_closed():
    oslo, bergen = create_team("Oslo"), create_team("Bergen")
    create_agent("kari", team=oslo, presence="available")
    bjorn = create_agent("bjorn", team=bergen, presence="available")
    do_set_service_mode(oslo, "closed")

    conversation = arrives(create_customer(team=oslo), at=MONDAY_10)
    assert conversation.assignee == bjorn


def test_overflow_only_to_the_teams_the_policy_names():
    oslo, bergen, tromso = create_team("Oslo"), create_team("Bergen"), create_team("Tromsø")
    inbox = create_inbox(oslo)
    policy(
        inbox,
        {"kind": "home_team", "timeout_seconds": 30},
        {"kind": "overflow_teams", "target_teams": [tromso]},
    )
    create_agent("bjorn", team=bergen, presence="available")
    tove = create_agent("tove", team=tromso, presence="available")
    conversation = arrives(create_customer(team=oslo), inbox=inbox, at=MONDAY_10)
    assert conversation.assignee == tove  # Oslo has nobody online: saturated, overflow at once


def test_skills_and_language_are_respected():
    oslo = create_team("Oslo")
    inbox = create_inbox(oslo)
    policy(inbox, {"kind": "home_team"}, required_skills={"billing": 3})
    speaks_and_knows(
        create_agent("ola", team=oslo, presence="available"),
        languages=["nb"],
        skills={"billing": 2},
    )
    speaks_and_knows(
        create_agent("kari", team=oslo, presence="available"),
        languages=["en"],
        skills={"billing": 5},
    )
    ingrid = speaks_and_knows(
        create_agent("ingrid", team=oslo, presence="available"),
        languages=["nb-NO", "en"],
        skills={"billing": 3},
    )
    nora = create_customer(team=oslo, preferred_language="nb")

    conversation = arrives(nora, inbox=inbox, at=MONDAY_10)
    assert conversation.assignee == ingrid


def test_nobody_with_the_language_waits_then_any_language_will_do():
    oslo = create_team("Oslo")
    inbox = create_inbox(oslo)
    policy(inbox, {"kind": "home_team"}, language_relax_seconds=300)
    kari = speaks_and_knows(create_agent("kari", team=oslo, presence="available"), languages=["nb"])
    conversation = arrives(
        create_customer(team=oslo, preferred_language="ar"), inbox=inbox, at=MONDAY_10
    )
    assert conversation.assignee is None
    sweep_queues(now=MONDAY_10 + seconds(301))
    conversation.refresh_from_db()
    assert conversation.assignee == kari


# --- Hours, holidays, service modes -----------------------------------------------------------


def test_limited_mode_lets_only_urgent_items_reach_humans():
    oslo = create_team("Oslo")
    kari = create_agent("kari", team=oslo, presence="available")
    do_set_service_mode(oslo, "limited", until=MONDAY_10 + timedelta(hours=2))

    ordinary = arrives(create_customer(team=oslo), at=MONDAY_10)
    urgent = arrives(create_customer(team=oslo), at=MONDAY_10, priority=2)

    assert urgent.assignee == kari
    assert ordinary.assignee is None
    promise = Message.objects.get(conversation=ordinary, sender_kind="system")
    assert promise.text == (
        "Team Oslo is handling urgent matters only right now. "
        "A person will answer your message from 12:00."
    )
    assert timeline(ordinary, "queued")[0]["promise"] == promise.text
    # When normal service resumes, Kari (still free for chat) gets the ordinary one.
    sweep_queues(now=MONDAY_10 + timedelta(hours=2))
    ordinary.refresh_from_db()
    assert ordinary.assignee == kari


def test_after_hours_the_customer_is_told_when_their_team_answers():
    oslo = create_team("Oslo")
    do_set_business_hours(oslo, [(day, time(9), time(17)) for day in range(5)])
    create_agent("kari", team=oslo, presence="available")
    friday_night = datetime(2025, 1, 10, 21, 0, tzinfo=UTC)

    conversation = arrives(create_customer(team=oslo), at=friday_night)
    assert conversation.assignee is None
    promise = Message.objects.get(conversation=conversation, sender_kind="system")
    assert promise.text == (
        "Team Oslo is closed right now. "
        "A person will answer your message from 09:00 on Monday 13 January."
    )
    assert "after hours" in work_item(conversation).reason
    # The promise is made once, not at every tick.
    sweep_queues(now=friday_night + timedelta(hours=1))
    assert Message.objects.filter(conversation=conversation, sender_kind="system").count() == 1


def test_after_hours_a_fallback_team_serves():
    oslo, national = create_team("Oslo"), create_team("National 24/7")
    oslo.fallback_team = national
    oslo.save()
    inbox = create_inbox(oslo)
    policy(inbox, {"kind": "home_team"}, {"kind": "after_hours"})
    create_agent("nils", team=national, presence="available")
    do_set_service_mode(oslo, "closed")

    conversation = arrives(create_customer(team=oslo), inbox=inbox, at=MONDAY_10)
    assert conversation.assignee.username == "nils"


def test_a_holiday_is_kept_in_the_team_own_time_zone():
    """The same instant is Chinese New Year's Eve in Shenzhen and an ordinary Monday evening
    in Oslo: Shenzhen's customer overflows to Oslo; Oslo's customer stays home."""
    oslo = create_team("Oslo", timezone="Europe/Oslo")
    shenzhen = create_team("Shenzhen", timezone="Asia/Shanghai")
    oslo.country, shenzhen.country = "NO", "CN"
    oslo.save()
    shenzhen.save()
    kari = create_agent("kari", team=oslo, presence="available")
    li = create_agent("li", team=shenzhen, presence="available")
    instant = datetime(2025, 1, 27, 16, 30, tzinfo=UTC)

    wang = arrives(create_customer(team=shenzhen), at=instant)
    nora = arrives(create_customer(team=oslo), at=instant)
    assert wang.assignee == kari
    assert nora.assignee == kari
    assert not li.assigned_conversations.exists()  # Li's team is on holiday: it takes nothing
    before = arrives(create_customer(team=shenzhen), at=instant - timedelta(hours=1))
    assert before.assignee == li


# --- Priority and aging -----------------------------------------------------------------------


def test_urgent_and_vip_first_but_waiting_long_beats_newcomers():
    oslo = create_team("Oslo")
    kari = create_agent("kari", team=oslo, capacity={"chat": 1})
    old = arrives(create_customer(team=oslo), at=MONDAY_10)
    vip_customer = create_customer(team=oslo, attributes={"vip": True})
    vip = arrives(vip_customer, at=MONDAY_10 + seconds(10))
    urgent = arrives(create_customer(team=oslo), at=MONDAY_10 + seconds(20), priority=2)
    do_set_presence(kari, "available", actor=kari)
    assert {c.pk for c in kari.assigned_conversations.all()} == {urgent.pk}

    do_change_status(urgent, Status.RESOLVED, actor=kari)
    assert {c.pk for c in kari.assigned_conversations.filter(status="open")} == {vip.pk}
    do_change_status(vip, Status.RESOLVED, actor=kari)
    assert {c.pk for c in kari.assigned_conversations.filter(status="open")} == {old.pk}


def test_aging_prevents_starvation():
    oslo = create_team("Oslo")
    kari = create_agent("kari", team=oslo, capacity={"chat": 1})
    patient = arrives(create_customer(team=oslo), at=MONDAY_10)
    # A steady stream of urgent contacts, each arriving well after the patient one.
    late_urgent = arrives(create_customer(team=oslo), at=MONDAY_10 + seconds(600), priority=2)
    do_set_presence(kari, "available", actor=kari)
    patient.refresh_from_db()
    late_urgent.refresh_from_db()
    assert patient.assignee == kari
    assert late_urgent.assignee is None


# --- Customer choice --------------------------------------------------------------------------


def test_opting_out_of_the_team_goes_to_the_general_pool():
    oslo, bergen = create_team("Oslo"), create_team("Bergen")
    create_agent("kari", team=oslo, presence="available")
    bjorn = create_agent("bjorn", team=bergen, presence="available")
    nora = create_customer(team=oslo)
    do_set_routing_preference(nora, opt_out_of_team=True)

    conversation = arrives(nora, at=MONDAY_10)
    assert conversation.assignee == bjorn


def test_opting_out_of_bots_is_stored_on_the_work():
    oslo = create_team("Oslo")
    nora = create_customer(team=oslo)
    assert bots_allowed(nora.pk)
    do_set_routing_preference(nora, opt_out_of_bots=True)
    conversation = arrives(nora, at=MONDAY_10)
    assert not bots_allowed(nora.pk)
    assert work_item(conversation).bots_allowed is False


# --- Wrap-up, offline agents, the truth of work items ------------------------------------------


def test_wrap_up_after_voice_keeps_new_work_away_until_it_ends():
    oslo = create_team("Oslo")
    kari = speaks_and_knows(
        create_agent("kari", team=oslo, presence="available"), wrap_up_seconds=30
    )
    call = arrives(create_customer(team=oslo), at=MONDAY_10, channel_kind="voice")
    assert call.assignee == kari
    do_change_status(call, Status.RESOLVED, actor=kari)
    waiting = arrives(create_customer(team=oslo), at=timezone.now(), channel_kind="voice")
    assert waiting.assignee is None

    sweep_queues(now=timezone.now() + seconds(31))
    waiting.refresh_from_db()
    assert waiting.assignee == kari


def test_an_agent_who_goes_offline_gives_back_chats_but_keeps_email_threads():
    oslo = create_team("Oslo")
    kari = create_agent("kari", team=oslo, presence="available")
    chat = arrives(create_customer(team=oslo), at=MONDAY_10)
    email = arrives(create_customer(team=oslo), at=MONDAY_10, channel_kind="email")
    assert chat.assignee == kari and email.assignee == kari
    do_set_presence(kari, "offline", actor=kari)
    ola = create_agent("ola", team=oslo, presence="available")

    sweep_queues(now=timezone.now() + seconds(30))  # within the grace period
    chat.refresh_from_db()
    assert chat.assignee == kari
    sweep_queues(now=timezone.now() + seconds(61))
    chat.refresh_from_db()
    email.refresh_from_db()
    assert chat.assignee == ola
    assert email.assignee == kari
    assert timeline(chat, "unassigned")[0]["reason"].startswith("agent went offline")


def test_every_open_unassigned_conversation_has_a_queued_work_item():
    oslo = create_team("Oslo")
    kari = create_agent("kari", team=oslo)
    conversation = arrives(create_customer(team=oslo), at=MONDAY_10)
    item = work_item(conversation)
    assert item.state == WorkState.QUEUED
    assert QueueEntry.objects.filter(work_item=item).exists()
    do_change_status(conversation, Status.RESOLVED, actor=kari)
    item.refresh_from_db()
    assert item.state == WorkState.DONE
    assert not QueueEntry.objects.filter(work_item=item).exists()


def test_a_router_that_died_mid_decision_loses_nothing():
    oslo = create_team("Oslo")
    kari = create_agent("kari", team=oslo)
    conversation = arrives(create_customer(team=oslo), at=MONDAY_10)
    # The process died after the conversation was stored but before routing wrote anything.
    WorkItem.objects.all().delete()
    from teamline.accounts.models import AgentProfile

    AgentProfile.objects.filter(user=kari).update(presence="available")
    sweep_queues(now=MONDAY_10 + seconds(15))
    conversation.refresh_from_db()
    assert conversation.assignee == kari
    assert work_item(conversation).state == WorkState.ASSIGNED


def test_every_decision_is_on_the_timeline_with_its_reason():
    oslo, bergen = create_team("Oslo"), create_team("Bergen")
    create_agent("kari", team=oslo, presence="available", capacity={"chat": 1})
    create_agent("bjorn", team=bergen, presence="available")
    arrives(create_customer(team=oslo), at=MONDAY_10)
    conversation = arrives(create_customer(team=oslo), at=MONDAY_10)
    assert queued(conversation)
    [queued_row] = timeline(conversation, "queued")
    assert queued_row["step"] == "2 of 4"
    assert "last agent is not online" in queued_row["reason"]
    sweep_queues(now=MONDAY_10 + seconds(181))
    [assigned] = timeline(conversation, "assigned")
    assert assigned["reason"] == "overflow (Bergen), longest idle"
    assert assigned["step"] == "3 of 4"


def test_offer_waiting_work_skips_what_the_agent_may_not_take():
    oslo = create_team("Oslo")
    inbox = create_inbox(oslo)
    policy(inbox, {"kind": "home_team"}, required_skills={"roaming": 2})
    ola = create_agent("ola", team=oslo)
    arrives(create_customer(team=oslo), inbox=inbox, at=MONDAY_10)
    do_set_presence(ola, "available", actor=ola)
    assert offer_waiting_work(ola) == 0
