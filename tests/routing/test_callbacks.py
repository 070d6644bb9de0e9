"""Virtual hold: a waiting customer asks to be called back and keeps their place in line."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from teamline.accounts.actions import do_create_api_token, do_set_presence
from teamline.conversations.models import Message, SenderKind
from teamline.core.errors import InvalidInput
from teamline.core.testing import (
    create_agent,
    create_customer,
    create_team,
    create_user,
    customer_says,
)
from teamline.routing.callbacks import (
    do_callback_no_answer,
    do_complete_callback,
    do_request_callback,
)
from teamline.routing.eta import queue_status
from teamline.routing.models import Callback, WorkItem, WorkState
from teamline.routing.tick import sweep_queues

from .support import timeline

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def oslo():
    return create_team("Oslo")


@pytest.fixture
def kari(oslo):
    return create_agent("kari", team=oslo, capacity={"chat": 1, "voice": 1})


def waiting(team, name):
    conversation = customer_says(create_customer(team=team, name=name), "Hello?")[0].conversation
    conversation.refresh_from_db()
    return conversation


def system_texts(conversation):
    return list(
        Message.objects.filter(conversation=conversation, sender_kind=SenderKind.SYSTEM)
        .order_by("pk")
        .values_list("text", flat=True)
    )


def item_of(conversation):
    return WorkItem.objects.filter(conversation=conversation).order_by("-pk").first()


def test_a_callback_keeps_its_place_in_line(oslo, kari):
    astrid, bodil, cato = waiting(oslo, "Astrid"), waiting(oslo, "Bodil"), waiting(oslo, "Cato")
    before = item_of(bodil)

    # Cato arrived before Bodil chose to be called back; she still comes first.
    callback = do_request_callback(bodil, "+47 912 34 567")

    assert callback.phone == "+4791234567"
    after = item_of(bodil)
    assert (after.pk, after.kind, after.channel_kind) == (before.pk, "callback", "voice")
    assert (after.enqueued_at, after.rank_at) == (before.enqueued_at, before.rank_at)
    assert queue_status(bodil, timezone.now()).kind == "callback"
    assert timeline(bodil, "routed")[-1]["callback"] == "requested"
    assert system_texts(bodil) == [
        "We will call you on +4791234567 when it is your turn. You keep your place in line."
    ]

    do_set_presence(kari, "available", actor=kari)  # one chat and one call at a time

    for conversation in (astrid, bodil, cato):
        conversation.refresh_from_db()
    assert astrid.assignee == kari
    assert bodil.assignee == kari  # the call back, before Cato
    assert cato.assignee is None
    callback.refresh_from_db()
    assert (callback.state, callback.agent) == ("assigned", kari)
    assert bodil.channel_kind == "voice"  # counts as Kari's call


def test_the_phone_number_is_checked(oslo, kari):
    conversation = waiting(oslo, "Astrid")
    with pytest.raises(InvalidInput):
        do_request_callback(conversation, "call me maybe")
    assert not Callback.objects.exists()


def test_only_a_waiting_customer_can_ask(oslo, kari):
    do_set_presence(kari, "available", actor=kari)
    conversation = waiting(oslo, "Astrid")
    assert conversation.assignee == kari
    with pytest.raises(InvalidInput):
        do_request_callback(conversation, "+4791234567")


def called_back(oslo, kari):
    conversation = waiting(oslo, "Bodil")
    callback = do_request_callback(conversation, "+4791234567")
    do_set_presence(kari, "available", actor=kari)
    callback.refresh_from_db()
    assert callback.state == "assigned"
    return conversation, callback


def test_call_done_resolves_the_conversation(oslo, kari):
    conversation, callback = called_back(oslo, kari)

    callback = do_complete_callback(callback, actor=kari)

    conversation.refresh_from_db()
    assert callback.state == "done"
    assert (conversation.status, conversation.channel_kind) == ("resolved", "chat")
    assert item_of(conversation).state == WorkState.DONE


def test_no_answer_is_retried_twice_ten_minutes_apart_then_closed(oslo, kari):
    conversation, callback = called_back(oslo, kari)
    now = timezone.now()

    callback = do_callback_no_answer(callback, actor=kari, now=now)

    conversation.refresh_from_db()
    assert (callback.state, callback.attempts) == ("queued", 1)
    assert callback.next_attempt_at == now + timedelta(minutes=10)
    assert conversation.assignee is None
    assert item_of(conversation).state == WorkState.QUEUED
    assert "We will try again at" in system_texts(conversation)[-1]
    assert timeline(conversation, "unassigned")[-1]["callback"] == "no_answer"

    sweep_queues(now=now + timedelta(minutes=5))
    callback.refresh_from_db()
    assert callback.state == "queued"  # not before its time

    for attempt in (2, 3):
        now += timedelta(minutes=11)
        sweep_queues(now=now)
        callback.refresh_from_db()
        assert callback.state == "assigned", attempt
        callback = do_callback_no_answer(callback, actor=kari, now=now)

    conversation.refresh_from_db()
    assert (callback.state, callback.attempts) == ("failed", 3)
    assert (conversation.status, conversation.channel_kind) == ("resolved", "chat")
    assert system_texts(conversation)[-1].startswith(
        "We could not reach you on +4791234567 after 3 tries"
    )
    assert timeline(conversation, "routed")[-1]["callback"] == "failed"


def api(user):
    _, secret = do_create_api_token(user, name="tests", actor=user)
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def test_api_access_rules(oslo, kari):
    bergen = create_team("Bergen")
    bjorn = create_agent("bjorn", team=bergen)
    ola = create_agent("ola", team=oslo)
    siv = create_user("siv", role="supervisor", supervises=oslo)
    conversation = waiting(oslo, "Astrid")

    answer = api(bjorn).post(
        "/api/v1/callbacks",
        {"conversation_id": conversation.pk, "phone": "+4791234567"},
        content_type="application/json",
    )
    assert answer.status_code == 404

    answer = api(ola).post(
        "/api/v1/callbacks",
        {"conversation_id": conversation.pk, "phone": "+4791234567"},
        content_type="application/json",
    )
    assert answer.status_code == 201, answer.json()
    callback_id = answer.json()["id"]
    assert answer.json()["state"] == "queued"

    do_set_presence(kari, "available", actor=kari)
    assert api(bjorn).post(f"/api/v1/callbacks/{callback_id}/done").status_code == 404
    assert api(ola).post(f"/api/v1/callbacks/{callback_id}/done").status_code == 403
    answer = api(siv).post(f"/api/v1/callbacks/{callback_id}/no-answer")
    assert answer.status_code == 200
    assert answer.json()["attempts"] == 1
