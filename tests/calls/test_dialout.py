"""Callbacks and booked calls dial out: the caller presses 9 and keeps their place in line; when
an agent gets the callback they press "Call now" in the desk; the provider rings the agent's
phone, then — when the agent answers — the customer's; answered, talked, hung up: the callback
is done and the agent wraps up. Nobody answers, or the line is busy: the call ends with that
reason and the callback waits for its retry. Driven through the desk, a loopback REST provider
that records what Teamline asks of it (tests/calls/dialout_provider.py) and signed webhooks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from teamline.accounts.actions import do_set_presence
from teamline.accounts.models import AgentProfile
from teamline.calls.models import Call, CallDirection, CallState
from teamline.connectors.models import WebhookEvent
from teamline.conversations.models import (
    Conversation,
    Inbox,
    Message,
    SenderKind,
    Status,
    TimelineEvent,
)
from teamline.core.testing import create_agent, create_customer, create_team, customer_says
from teamline.customers.actions import do_add_identity
from teamline.routing.appointments import available_slots, do_book_appointment, process_appointments
from teamline.routing.callbacks import CALLBACK_RETRY_MINUTES, do_request_callback
from teamline.routing.models import (
    Appointment,
    Callback,
    CallbackState,
    WorkItem,
    WorkKind,
    WorkState,
)
from teamline.selfservice.models import VoiceCall
from teamline.teams.models import BusinessHours
from tests.connectors.fake_twiml import FakeTwimlProvider
from tests.routing.test_appointments import MONDAY_8_OSLO

from .dialout_provider import LoopbackVoiceProvider, conference_of, said

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("_public_url")]

AUTH_TOKEN = "voice-auth-token-0123456789"
NORA = "+4791234567"
KARI_PHONE = "+4790000009"
BRAND_NUMBER = "+4721000000"
HTMX = {"HX-Request": "true", "HX-Target": "conversation-status"}
# Teamline's outbound calls (the IVR's own inbound call ends when the caller asks for a callback)
dialled = Call.objects.filter(direction=CallDirection.OUTBOUND)


@pytest.fixture
def _public_url():
    # The URLs Teamline gives the provider are the ones the fake posts back to.
    with override_settings(PUBLIC_URL="http://testserver"):
        yield


@pytest.fixture
def oslo():
    return create_team("Nordlys Oslo", region="Oslo")


@pytest.fixture
def provider(client, oslo):
    inbox = Inbox(name="Nordlys phone", kind="voice", default_team=oslo)
    inbox.credentials = {"account_sid": "AC" + "0" * 32, "auth_token": AUTH_TOKEN}
    inbox.save()
    with LoopbackVoiceProvider(client, inbox, AUTH_TOKEN) as fake:
        inbox.config = {"language": "en", "from_number": BRAND_NUMBER, "api_base": fake.api_base}
        inbox.save()
        yield fake


@pytest.fixture
def kari(oslo):
    kari = create_agent("kari", team=oslo, capacity={"voice": 1, "chat": 1})
    AgentProfile.objects.filter(user=kari).update(
        wrap_up_seconds=60, languages=["en", "nb"], phone_number=KARI_PHONE
    )
    return kari


def nine_in_the_ivr(client, provider, oslo) -> Callback:
    """Nora calls, presses 9 and hangs up: her callback waits in line."""
    customer = create_customer(team=oslo, name="Nora Berg", preferred_language="en")
    do_add_identity(customer, "phone", NORA, verified=True)
    ivr = FakeTwimlProvider(client, provider.inbox, AUTH_TOKEN)
    call = ivr.call(NORA, inputs=["9"])
    assert call.heard[-2] == "We will call you back on this number when it is your turn."
    call.hang_up()
    return Callback.objects.get(customer=customer)


@pytest.fixture
def assigned(client, provider, oslo, kari):
    """Nora's callback kept its place while Kari was away; Kari comes back and gets it."""
    callback = nine_in_the_ivr(client, provider, oslo)
    queued = VoiceCall.objects.get(customer=callback.customer)
    assert callback.state == CallbackState.QUEUED
    assert callback.work_item_id == queued.work_item_id  # the call's own place in line

    do_set_presence(kari, "available", actor=kari)

    callback.refresh_from_db()
    assert (callback.state, callback.agent) == (CallbackState.ASSIGNED, kari)
    client.force_login(kari)
    return callback


def call_now(client, callback, **headers):
    return client.post(reverse("desk:callback_dial", args=[callback.pk]), headers=headers)


def ring_both(client, provider, callback):
    """Kari presses Call now and picks up her phone: the customer's phone rings."""
    response = call_now(client, callback)
    assert response.status_code == 302, response.content
    agent_leg = provider.placed[-1]
    agent_twiml = provider.answer(agent_leg)
    return agent_leg, agent_twiml, provider.placed[-1]


def calls_timeline(conversation):
    return [
        e.data
        for e in TimelineEvent.objects.filter(conversation=conversation, kind="call").order_by("pk")
    ]


def system_texts(conversation):
    return list(
        Message.objects.filter(conversation=conversation, sender_kind=SenderKind.SYSTEM)
        .order_by("pk")
        .values_list("text", flat=True)
    )


# --- The desk button --------------------------------------------------------------------------


def test_the_agent_the_callback_is_with_sees_call_now_with_the_customers_name(client, assigned):
    page = client.get(reverse("desk:conversation", args=[assigned.conversation_id]))

    html = page.content.decode()
    assert "Call back" in html
    assert 'Call<span class="visually-hidden"> <bdi>Nora Berg</bdi></span> now</button>' in html


def test_a_colleague_sees_the_callback_but_no_call_now(client, assigned, oslo):
    colleague = create_agent("ola", team=oslo)
    client.force_login(colleague)

    page = client.get(reverse("desk:conversation", args=[assigned.conversation_id]))

    assert "Call back" in page.content.decode()
    assert 'visually-hidden"> <bdi>Nora Berg</bdi></span> now' not in page.content.decode()
    response = call_now(client, assigned)
    assert response.status_code == 403
    assert not dialled.exists()


def test_another_teams_agent_cannot_dial_the_callback(client, provider, assigned):
    stranger = create_agent("sven", team=create_team("Bergen"))
    client.force_login(stranger)

    response = call_now(client, assigned)

    assert response.status_code == 404
    assert provider.requests == [] and not dialled.exists()
    assigned.refresh_from_db()
    assert assigned.state == CallbackState.ASSIGNED


# --- A whole callback ---------------------------------------------------------------------------


def test_nine_keeps_the_place_then_the_callback_is_dialled_out_and_done(
    client, provider, assigned, kari
):
    conversation = assigned.conversation

    response = call_now(client, assigned)

    assert response.status_code == 302
    call = dialled.get(conversation=conversation)
    assert (call.direction, call.medium, call.state, call.agent) == (
        CallDirection.OUTBOUND, "phone", CallState.CONNECTING, kari,
    )  # fmt: skip
    # First the agent's own phone.
    assert len(provider.placed) == 1
    agent_leg = provider.placed[0]
    prefix = f"http://testserver/webhooks/twilio/{provider.inbox.public_id}/"
    assert (agent_leg.to, agent_leg.from_) == (KARI_PHONE, BRAND_NUMBER)
    assert agent_leg.url == f"{prefix}dial/{call.pk}/agent"
    assert agent_leg.status_callback == f"{prefix}dial/{call.pk}/agent/status"
    assert call.agent_call_sid == agent_leg.sid
    # The desk says what happens; no second "Call now", no outcome by hand meanwhile.
    page = client.get(reverse("desk:conversation", args=[conversation.pk])).content.decode()
    assert "Dialling: your phone rings first, then the customer's." in page
    assert "<bdi>Nora Berg</bdi></span> now" not in page and "No answer" not in page

    # Kari answers: now the customer's phone rings, and Kari waits in the call's room.
    agent_twiml = provider.answer(agent_leg)

    assert said(agent_twiml) == ["Calling Nora Berg. Please hold."]
    assert conference_of(agent_twiml) == f"teamline-call-{call.pk}"
    assert len(provider.placed) == 2
    customer_leg = provider.placed[1]
    assert (customer_leg.to, customer_leg.from_) == (NORA, BRAND_NUMBER)
    assert customer_leg.url == f"{prefix}dial/{call.pk}/customer"
    assert customer_leg.status_callback == f"{prefix}dial/{call.pk}/customer/status"
    call.refresh_from_db()
    assert call.provider_call_sid == customer_leg.sid

    # Nora answers: she joins the same room; the call is active (its timer starts).
    customer_twiml = provider.answer(customer_leg)
    provider.status(customer_leg, "in-progress")

    assert conference_of(customer_twiml) == f"teamline-call-{call.pk}"
    room = customer_twiml.find("./Dial/Conference")
    assert room.get("endConferenceOnExit") == "true"
    # The room's events go where every call's do (hold and mute find the room by them).
    assert room.get("statusCallback") == f"{prefix}ivr/conference"
    call.refresh_from_db()
    assert call.state == CallState.ACTIVE and call.answered_at is not None

    # They talk; Nora hangs up.
    provider.status(customer_leg, "completed")

    call.refresh_from_db()
    assert (call.state, call.end_reason) == (CallState.ENDED, "completed")
    assigned.refresh_from_db()
    assert assigned.state == CallbackState.DONE
    conversation.refresh_from_db()
    assert conversation.status == Status.RESOLVED
    assert WorkItem.objects.get(pk=assigned.work_item_id).state == WorkState.DONE
    profile = AgentProfile.objects.get(user=kari)
    assert profile.wrap_up_until is not None and profile.wrap_up_until > timezone.now()
    assert [e["event"] for e in calls_timeline(conversation) if e["call_id"] == call.pk] == [
        "waiting", "dialling", "dialling_customer", "connected", "ended",
    ]  # fmt: skip
    # Nothing hung up by Teamline: leaving the room ended the agent's leg.
    assert provider.hang_ups() == []


def test_the_customer_not_answering_ends_the_call_and_the_callback_waits_for_its_retry(
    client, provider, assigned, kari
):
    conversation = assigned.conversation
    agent_leg, _twiml, customer_leg = ring_both(client, provider, assigned)

    provider.status(customer_leg, "no-answer")

    call = dialled.get(conversation=conversation)
    assert (call.state, call.end_reason) == (CallState.ENDED, "no-answer")
    # Kari's phone, waiting in the room, is hung up.
    assert provider.hang_ups() == [agent_leg.sid]
    assigned.refresh_from_db()
    assert (assigned.state, assigned.attempts, assigned.agent) == (CallbackState.QUEUED, 1, None)
    retry = assigned.next_attempt_at - timezone.now()
    assert timedelta(minutes=CALLBACK_RETRY_MINUTES - 1) < retry
    assert retry <= timedelta(minutes=CALLBACK_RETRY_MINUTES)
    item = WorkItem.objects.get(pk=assigned.work_item_id)
    assert (item.state, item.kind) == (WorkState.QUEUED, WorkKind.CALLBACK)
    conversation.refresh_from_db()
    assert conversation.assignee is None and conversation.status == Status.OPEN
    assert calls_timeline(conversation)[-1]["reason"] == "no-answer"
    assert system_texts(conversation)[-1].startswith(
        f"We tried to call you on {NORA} but could not reach you."
    )

    # Kari's own leg ends after; it changes nothing more.
    provider.status(agent_leg, "completed")
    assigned.refresh_from_db()
    assert (assigned.state, assigned.attempts) == (CallbackState.QUEUED, 1)


def test_a_busy_line_is_recorded_as_busy_and_retried(client, provider, assigned):
    _agent_leg, _twiml, customer_leg = ring_both(client, provider, assigned)

    provider.status(customer_leg, "ringing")
    provider.status(customer_leg, "busy")

    call = dialled.get(conversation=assigned.conversation)
    assert (call.state, call.end_reason) == (CallState.ENDED, "busy")
    assigned.refresh_from_db()
    assert (assigned.state, assigned.attempts) == (CallbackState.QUEUED, 1)


def test_retried_status_callbacks_change_nothing(client, provider, assigned):
    _agent_leg, _twiml, customer_leg = ring_both(client, provider, assigned)

    first = provider.status(customer_leg, "no-answer")
    again = provider.status(customer_leg, "no-answer")
    provider.answer(provider.placed[0])  # the agent leg's TwiML fetched again

    assert first.status_code == again.status_code == 200
    assigned.refresh_from_db()
    assert assigned.attempts == 1
    assert len(provider.placed) == 2  # the customer was dialled once
    events = WebhookEvent.objects.filter(external_id__contains=":dial/")
    assert events.filter(external_id__endswith="/customer/status:no-answer").count() == 1


def test_an_unsigned_leg_step_is_refused_and_changes_nothing(client, provider, assigned):
    _agent_leg, _twiml, customer_leg = ring_both(client, provider, assigned)

    forged = provider.status(customer_leg, "no-answer", signature="bm90IGEgc2lnbmF0dXJl")
    unsigned = provider.status(customer_leg, "no-answer", signature="")

    assert (forged.status_code, unsigned.status_code) == (403, 403)
    assigned.refresh_from_db()
    assert assigned.state == CallbackState.ASSIGNED
    assert dialled.get(conversation=assigned.conversation).state == CallState.CONNECTING
    assert not WebhookEvent.objects.filter(external_id__contains="customer/status").exists()


def test_the_agent_not_picking_up_ends_the_call_but_is_not_the_customers_no_answer(
    client, provider, assigned
):
    call_now(client, assigned)
    agent_leg = provider.placed[0]

    provider.status(agent_leg, "no-answer")

    call = dialled.get(conversation=assigned.conversation)
    assert (call.state, call.end_reason) == (CallState.ENDED, "the agent's phone: no-answer")
    assert len(provider.placed) == 1  # the customer was never dialled
    assigned.refresh_from_db()
    assert (assigned.state, assigned.attempts) == (CallbackState.ASSIGNED, 0)
    # Kari can try again.
    assert call_now(client, assigned).status_code == 302
    assert dialled.filter(conversation=assigned.conversation).count() == 2


def test_the_agent_giving_up_while_the_customer_rings_cancels_the_customers_leg(
    client, provider, assigned
):
    agent_leg, _twiml, customer_leg = ring_both(client, provider, assigned)

    provider.status(agent_leg, "completed")
    provider.status(customer_leg, "canceled")

    call = dialled.get(conversation=assigned.conversation)
    assert call.end_reason == "the agent hung up before the customer answered"
    assert provider.hang_ups() == [customer_leg.sid]
    assigned.refresh_from_db()
    assert (assigned.state, assigned.attempts) == (CallbackState.ASSIGNED, 0)


def test_no_second_call_while_one_is_under_way(client, provider, assigned):
    call_now(client, assigned)

    again = call_now(client, assigned, **HTMX)

    assert again.status_code == 409
    assert "A call with this customer is already under way." in again.content.decode()
    assert len(provider.placed) == 1


# --- The provider down ------------------------------------------------------------------------


@pytest.mark.parametrize("outage", ["down", "gone"])
def test_provider_down_at_call_now_says_so_and_the_callback_stays_with_the_agent(
    client, provider, assigned, outage
):
    getattr(provider, outage)()

    response = call_now(
        client, assigned, **{"HX-Request": "true", "HX-Target": "conversation-status"}
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert "The phone provider cannot be reached right now, so nothing was dialled." in html
    assert 'role="alert"' in html
    assert not dialled.exists()
    assigned.refresh_from_db()
    assert assigned.state == CallbackState.ASSIGNED
    assert Conversation.objects.get(pk=assigned.conversation_id).assignee_id == assigned.agent_id


def test_provider_down_when_the_customer_is_dialled_ends_the_call_and_tells_the_agent(
    client, provider, assigned
):
    call_now(client, assigned)
    provider.down()

    twiml = provider.answer(provider.placed[0])

    assert said(twiml) == ["Sorry, the customer could not be called. Try again from the desk."]
    assert twiml.find("Hangup") is not None
    call = dialled.get(conversation=assigned.conversation)
    assert call.state == CallState.ENDED
    assert call.end_reason == "failed: the phone provider could not be reached"
    assigned.refresh_from_db()
    assert (assigned.state, assigned.attempts) == (CallbackState.ASSIGNED, 0)


def test_an_agent_without_a_phone_number_is_told_to_add_one(client, provider, oslo, kari):
    callback = nine_in_the_ivr(client, provider, oslo)
    ola = create_agent("ola", team=oslo, capacity={"voice": 1})
    AgentProfile.objects.filter(user=ola).update(languages=["en"])
    do_set_presence(ola, "available", actor=ola)
    callback.refresh_from_db()
    assert callback.agent == ola
    client.force_login(ola)

    response = call_now(client, callback)

    assert response.status_code == 400
    assert "Add your phone number in your profile to take calls." in response.content.decode()
    assert provider.requests == []


# --- Which inbox dials --------------------------------------------------------------------------


def test_a_chat_callback_dials_from_the_teams_voice_inbox(client, provider, oslo, kari):
    customer = create_customer(team=oslo, name="Petter")
    conversation = customer_says(customer, "Please call me")[0].conversation
    callback = do_request_callback(conversation, "+4791111111")
    do_set_presence(kari, "available", actor=kari)
    client.force_login(kari)

    assert call_now(client, callback).status_code == 302

    call = dialled.get(conversation=conversation)
    assert call.inbox == provider.inbox
    assert provider.placed[0].from_ == BRAND_NUMBER


def test_a_team_without_a_voice_inbox_is_told_so(client, provider):
    bergen = create_team("Bergen")
    berit = create_agent("berit", team=bergen, capacity={"voice": 1})
    AgentProfile.objects.filter(user=berit).update(phone_number="+4790000010")
    customer = create_customer(team=bergen, name="Petter")
    conversation = customer_says(customer, "Please call me")[0].conversation
    callback = do_request_callback(conversation, "+4791111111")
    do_set_presence(berit, "available", actor=berit)
    client.force_login(berit)

    response = call_now(client, callback)

    assert response.status_code == 400
    assert "No voice inbox can place this call" in response.content.decode()
    assert provider.requests == [] and not dialled.exists()


# --- Booked calls --------------------------------------------------------------------------------


@pytest.fixture
def started_appointment(client, provider, oslo, kari):
    """Nora booked a call with Kari for 09:00; the slot starts and routing gives it to Kari."""
    for weekday in range(5):
        BusinessHours.objects.create(team=oslo, weekday=weekday, opens="09:00", closes="11:00")
    for n in range(3):
        create_agent(f"member{n}", team=oslo)  # four members: one seat per slot
    customer = create_customer(team=oslo, name="Nora Berg")
    conversation = customer_says(customer, "Can we talk on Monday?")[0].conversation
    slot = available_slots(oslo, now=MONDAY_8_OSLO)[0]
    appointment = do_book_appointment(
        customer, team=oslo, slot_start=slot.start, kind="call", phone=NORA,
        conversation=conversation, agent=kari, now=MONDAY_8_OSLO,
    )  # fmt: skip
    do_set_presence(kari, "available", actor=kari)
    assert process_appointments(now=slot.start)["started"] == 1
    appointment.refresh_from_db()
    conversation.refresh_from_db()
    assert conversation.assignee == kari
    client.force_login(kari)
    return appointment


def test_a_booked_call_is_dialled_out_and_done(client, provider, started_appointment, kari):
    appointment = started_appointment
    page = client.get(reverse("desk:conversation", args=[appointment.conversation_id]))
    assert "Booked call to" in page.content.decode()
    assert "<bdi>Nora Berg</bdi></span> now</button>" in page.content.decode()

    response = client.post(reverse("desk:appointment_dial", args=[appointment.pk]))

    assert response.status_code == 302
    assert provider.placed[0].to == KARI_PHONE
    provider.answer(provider.placed[0])
    customer_leg = provider.placed[1]
    assert customer_leg.to == NORA
    provider.answer(customer_leg)
    provider.status(customer_leg, "completed")

    appointment.refresh_from_db()
    assert appointment.state == "done"
    routed = TimelineEvent.objects.filter(
        conversation_id=appointment.conversation_id, kind="routed"
    )
    assert any(e.data.get("appointment") == "done" for e in routed)


def test_a_booked_call_nobody_answers_is_tried_again_within_the_grace_period(
    client, provider, started_appointment
):
    appointment = started_appointment
    # The slot started a minute ago (the test's clock is the wall clock from here on).
    Appointment.objects.filter(pk=appointment.pk).update(
        slot_start=timezone.now() - timedelta(minutes=1)
    )
    client.post(reverse("desk:appointment_dial", args=[appointment.pk]))
    provider.answer(provider.placed[0])

    provider.status(provider.placed[1], "no-answer")

    appointment.refresh_from_db()
    assert (appointment.state, appointment.attempts) == ("started", 1)
    assert dialled.get(conversation_id=appointment.conversation_id).end_reason == "no-answer"
    assert Conversation.objects.get(pk=appointment.conversation_id).assignee is None
