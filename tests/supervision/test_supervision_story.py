"""Siv supervises team Oslo. She sees its open conversations, watches Kari's chat with Nora,
whispers to Kari (only Kari and the supervisors hear it), writes to Nora herself, and takes the
chat over. Everything is on the conversation's timeline; agents and other teams are kept out."""

from __future__ import annotations

import pytest
from django.test import TestCase

from teamline.conversations.models import (
    ConversationWatch,
    Direction,
    Message,
    SenderKind,
    TimelineEvent,
    TimelineKind,
    Whisper,
)
from teamline.conversations.queries import customer_thread, messages_of
from teamline.conversations.supervision import (
    access_supervised_conversation,
    do_barge_in,
    do_start_watching,
    do_stop_watching,
    do_whisper,
    live_conversations,
    watchers_of,
    whispers_for,
)
from teamline.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from teamline.core.events import admins_group, customer_group, team_group, user_group
from teamline.core.testing import capture_events, create_customer, customer_says
from teamline.routing.supervision import do_take_over_conversation

pytestmark = pytest.mark.django_db


def supervision_rows(conversation):
    return list(
        TimelineEvent.objects.filter(conversation=conversation, kind=TimelineKind.SUPERVISION)
        .order_by("pk")
        .values_list("data__action", flat=True)
    )


# --- Who may ---------------------------------------------------------------------------------


def test_an_agent_may_not_supervise_even_their_own_teams_chat(floor):
    with pytest.raises(Forbidden):
        access_supervised_conversation(floor.ola, floor.chat.pk)
    with pytest.raises(Forbidden):
        live_conversations(floor.ola)
    with pytest.raises(Forbidden):
        do_whisper(floor.chat, "Psst", actor=floor.ola)


def test_another_teams_supervisor_does_not_find_the_chat(floor):
    with pytest.raises(NotFound):
        access_supervised_conversation(floor.berit, floor.chat.pk)
    with pytest.raises(NotFound):
        access_supervised_conversation(floor.bjorn, floor.chat.pk)


# --- The live list ---------------------------------------------------------------------------


def test_the_live_list_shows_the_supervisors_teams_open_conversations_waiting_first(floor):
    waiting, _ = customer_says(create_customer(team=floor.oslo, name="Ivar"), "Hello?")
    customer_says(create_customer(team=floor.bergen, name="Bergen customer"), "Hei")

    live = live_conversations(floor.siv)

    assert [c.pk for c in live.rows] == [waiting.conversation_id, floor.chat.pk]
    assert live.total == 2
    assert live_conversations(floor.berit).total == 1


# --- Watching --------------------------------------------------------------------------------


def test_watching_tells_only_the_agent_and_is_on_the_timeline(floor):
    with capture_events(["supervision.updated"]) as sent:
        assert do_start_watching(floor.chat, actor=floor.siv) is True
    event, recipients = sent[0]
    assert event.customer is None
    assert event.staff["action"] == "watch"
    assert event.staff["watchers"] == [{"id": floor.siv.pk, "name": "Siv Supervisor"}]
    assert user_group(floor.kari.pk) in recipients.staff
    assert team_group(floor.oslo.pk) not in recipients.staff
    assert not recipients.customer
    assert [u.pk for u in watchers_of([floor.chat.pk])[floor.chat.pk]] == [floor.siv.pk]
    # Not a participant, and nothing the customer or the agent's unread count sees.
    assert not floor.chat.participants.exists()
    assert supervision_rows(floor.chat) == ["watch"]


def test_a_second_tab_and_a_reconnect_only_count_and_the_last_one_ends_the_watch(floor):
    do_start_watching(floor.chat, actor=floor.siv)
    with capture_events([]):
        assert do_start_watching(floor.chat, actor=floor.siv) is False
    assert do_stop_watching(floor.chat.pk, actor=floor.siv) is False
    assert watchers_of([floor.chat.pk])

    with capture_events(["supervision.updated"]) as sent:
        assert do_stop_watching(floor.chat.pk, actor=floor.siv) is True

    assert sent[0][0].staff["watchers"] == []
    assert watchers_of([floor.chat.pk]) == {}
    assert ConversationWatch.objects.get().ended_at is not None
    assert supervision_rows(floor.chat) == ["watch", "unwatch"]


# --- Whispering ------------------------------------------------------------------------------


def test_a_whisper_reaches_only_kari_and_the_supervisors(floor):
    with capture_events(["whisper.created"]) as sent:
        whisper = do_whisper(floor.chat, "Offer her the roaming pack", actor=floor.siv)

    event, recipients = sent[0]
    assert event.customer is None
    assert event.staff["text"] == "Offer her the roaming pack"
    assert event.staff["agent"] == {"id": floor.kari.pk, "name": "Kari Nordmann"}
    assert recipients.staff == {
        user_group(floor.kari.pk),
        user_group(floor.siv.pk),
        admins_group(),
    }
    assert customer_group(floor.chat.customer_id) not in recipients.customer
    # Kari and Siv read it; Ola, on the same team, does not.
    assert whispers_for(floor.kari, floor.chat) == [whisper]
    assert whispers_for(floor.siv, floor.chat) == [whisper]
    assert whispers_for(floor.ola, floor.chat) == []
    # Not a message: nothing that reads messages — the customer's thread, the outbox, the
    # desk's history for the team — comes across it.
    assert not Message.objects.filter(text__contains="roaming pack").exists()
    assert not customer_thread(floor.chat.customer_id).filter(text__contains="roaming").exists()
    assert supervision_rows(floor.chat) == ["whisper"]
    row = TimelineEvent.objects.get(kind=TimelineKind.SUPERVISION)
    assert "roaming" not in str(row.data)


def test_a_whisper_needs_words_and_someone_to_whisper_to(floor):
    for bad in ("", "   ", "a\x00b", "x" * 10_001, "\ud800"):
        with pytest.raises(InvalidInput):
            do_whisper(floor.chat, bad, actor=floor.siv)
    waiting, _ = customer_says(create_customer(team=floor.oslo), "Anyone?")
    with pytest.raises(Conflict):
        do_whisper(waiting.conversation, "Psst", actor=floor.siv)
    assert not Whisper.objects.exists()


def test_card_numbers_are_masked_in_a_whisper_like_in_a_note(floor):
    whisper = do_whisper(floor.chat, "She read 4111 1111 1111 1111 aloud", actor=floor.siv)

    assert "4111 1111 1111 1111" not in whisper.text


# --- Barging in ------------------------------------------------------------------------------


def test_barging_in_writes_to_nora_as_siv_and_kari_keeps_the_chat(floor):
    with capture_events(["message.created", "supervision.updated"]) as sent:
        message, created = do_barge_in(
            floor.chat,
            "I am Siv, Kari's team lead: we will fix this.",
            actor=floor.siv,
            client_id="b1",
        )
    assert created
    reply, told = sent
    assert reply[0].customer["sender_name"] == "Siv Supervisor"
    assert customer_group(floor.chat.customer_id) in reply[1].customer
    assert told[0].staff["action"] == "barge" and told[0].staff["agent_id"] == floor.kari.pk
    assert message.direction == Direction.OUTBOUND
    assert message.sender_kind == SenderKind.AGENT
    assert message.sender_user == floor.siv
    assert not message.is_internal
    floor.chat.refresh_from_db()
    assert floor.chat.assignee == floor.kari
    assert list(customer_thread(floor.chat.customer_id).values_list("text", flat=True))[-1] == (
        "I am Siv, Kari's team lead: we will fix this."
    )
    assert supervision_rows(floor.chat) == ["barge"]
    # A retry with the same client id sends nothing twice.
    again, created = do_barge_in(floor.chat, "I am Siv", actor=floor.siv, client_id="b1")
    assert (again.pk, created) == (message.pk, False)
    assert supervision_rows(floor.chat) == ["barge"]


def test_barging_in_is_for_supervisors_of_the_team(floor):
    with pytest.raises(Forbidden):
        do_barge_in(floor.chat, "Hi", actor=floor.ola)
    assert not messages_of(floor.chat, include_internal=True).filter(sender_user=floor.ola)


# --- Taking over -----------------------------------------------------------------------------


def test_siv_takes_the_chat_over_and_kari_is_told(floor):
    with capture_events() as sent, TestCase.captureOnCommitCallbacks(execute=True):
        do_take_over_conversation(floor.chat, actor=floor.siv)

    floor.chat.refresh_from_db()
    assert floor.chat.assignee == floor.siv
    types = [str(event.type) for event, _ in sent]
    assert "assignment.changed" in types
    told = [
        (event, recipients)
        for event, recipients in sent
        if str(event.type) == "supervision.updated"
    ]
    assert told and told[0][0].staff["action"] == "takeover"
    assert told[0][0].staff["agent_id"] == floor.kari.pk
    assert user_group(floor.kari.pk) in told[0][1].staff
    assert TimelineEvent.objects.filter(
        conversation=floor.chat, kind=TimelineKind.ASSIGNED, data__agent_id=floor.siv.pk
    ).exists()
    assert supervision_rows(floor.chat) == ["takeover"]
    with pytest.raises(Conflict):
        do_take_over_conversation(floor.chat, actor=floor.siv)


def test_an_agent_cannot_take_over(floor):
    with pytest.raises(Forbidden):
        do_take_over_conversation(floor.chat, actor=floor.ola)
    floor.chat.refresh_from_db()
    assert floor.chat.assignee == floor.kari


# --- Privacy ---------------------------------------------------------------------------------


def test_erasing_the_customer_empties_the_whispers_about_them(floor):
    from teamline.accounts.models import Role
    from teamline.core.testing import create_user
    from teamline.privacy.actions import do_erase_customer, do_request_erasure

    whisper = do_whisper(floor.chat, "Nora's ex-husband calls about her bills", actor=floor.siv)
    admin = create_user("dpo", role=Role.ADMIN)

    do_request_erasure(floor.chat.customer, actor=admin)
    erasure = do_erase_customer(floor.chat.customer_id)

    whisper.refresh_from_db()
    assert whisper.text == ""
    assert erasure is not None and erasure.removed["whisper_texts"] == 1


def test_a_conversation_nobody_supervised_reads_no_watches_or_whispers(floor):
    assert floor.chat.supervised_at is None
    do_whisper(floor.chat, "Psst", actor=floor.siv)
    floor.chat.refresh_from_db()
    assert floor.chat.supervised_at is not None


def test_the_live_list_costs_the_same_for_one_or_many_conversations(floor):
    from teamline.core.testing import count_queries

    do_start_watching(floor.chat, actor=floor.siv)
    with count_queries() as one:
        live_conversations(floor.siv)
    for n in range(8):
        customer_says(create_customer(team=floor.oslo, name=f"Waiting {n}"), "Hello?")
    with count_queries() as many:
        live = live_conversations(floor.siv)

    assert live.total == 9
    # The supervisor's teams, the count, the rows (with team, customer, agent), the watches.
    assert len(one) == len(many) == 4, many
