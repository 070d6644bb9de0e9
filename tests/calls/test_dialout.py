"""Callbacks and booked calls dial out: the caller presses 9 and keeps their place in line; when
an agent gets the callback they press "Call now" in the desk; the provider rings the agent's
phone, then — when the agent answers — the customer's; both meet in the call's room; the
customer hangs up: the callback is done and the agent wraps up. Nobody answers, or the line is
busy: the call ends with that reason and the callback waits for its retry.

Whole calls run through the fake provider (tests/connectors/fake_twiml.py): signed webhooks
through the test client, and its REST side on loopback, which records the legs Teamline places
(To, From, Url) and answers them as the numbers' owners would."""

from __future__ import annotations

import time
from datetime import timedelta
from html import unescape

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from teamline.accounts.actions import (
    do_create_api_token,
    do_set_call_endpoint,
    do_set_presence,
)
from teamline.accounts.models import AgentProfile
from teamline.calls.actions import do_end_call
from teamline.calls.dialout import do_dial_callback
from teamline.calls.models import Call, CallDirection, CallState
from teamline.connectors import voice_rest
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
from teamline.routing.appointments import (
    available_slots,
    do_book_appointment,
    process_appointments,
)
from teamline.routing.callbacks import CALLBACK_RETRY_MINUTES, do_request_callback
from teamline.routing.models import (
    Appointment,
    Callback,
    CallbackState,
    WorkItem,
    WorkKind,
    WorkState,
)
from teamline.routing.tick import sweep_queues
from teamline.selfservice.models import VoiceCall
from teamline.teams.models import BusinessHours
from tests.calls.phone_world import AUTH_TOKEN, BRAND_NUMBER
from tests.connectors.fake_twiml import FakeTwimlProvider, HttpTransport
from tests.routing.test_appointments import MONDAY_8_OSLO

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("_public_url")]

NORA = "+4791234567"
KARI_PHONE = "+4790000009"
HTMX = {"HX-Request": "true", "HX-Target": "conversation-status"}
# Teamline's outbound calls (the IVR's own inbound call ends when the caller asks for a callback)
dialled = Call.objects.filter(direction=CallDirection.OUTBOUND)


def agent(username, team, number=""):
    user = create_agent(username, team=team, capacity={"voice": 1, "chat": 1})
    AgentProfile.objects.filter(user=user).update(languages=["en", "nb"], wrap_up_seconds=60)
    if number:
        do_set_call_endpoint(user, phone_number=number, call_via="phone", actor=user)
    return user


@pytest.fixture
def kari(oslo):
    return agent("kari", oslo, KARI_PHONE)


def nine_in_the_ivr(phone, oslo) -> Callback:
    """Nora calls, presses 9 and hangs up: her callback waits in line."""
    customer = create_customer(team=oslo, name="Nora Berg", preferred_language="en")
    do_add_identity(customer, "phone", NORA, verified=True)
    call = phone.call(NORA, inputs=["9"])
    assert call.heard[-2] == "We will call you back on this number when it is your turn."
    call.hang_up()
    return Callback.objects.get(customer=customer)


@pytest.fixture
def assigned(client, phone, oslo, kari):
    """Nora's callback kept its place while Kari was away; Kari comes back and gets it."""
    callback = nine_in_the_ivr(phone, oslo)
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


def placed(rest):
    """The legs Teamline asked the provider to place, in order (their forms)."""
    return [r.form for r in rest.made("POST", "/Calls.json")]


def leg_to(phone, number):
    (leg,) = [leg for leg in phone.legs.values() if leg.called == number]
    return leg


def timeline_of(conversation_id, kind):
    events = TimelineEvent.objects.filter(conversation_id=conversation_id, kind=kind)
    return [e.data for e in events.order_by("pk")]


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
    assert "<bdi>Nora Berg</bdi></span> now" not in page.content.decode()
    response = call_now(client, assigned)
    assert response.status_code == 403
    assert not dialled.exists()


def test_another_teams_agent_cannot_dial_the_callback(client, rest, assigned):
    stranger = create_agent("sven", team=create_team("Bergen"))
    client.force_login(stranger)

    response = call_now(client, assigned)

    assert response.status_code == 404
    assert rest.requests == [] and not dialled.exists()
    assigned.refresh_from_db()
    assert assigned.state == CallbackState.ASSIGNED


# --- A whole callback ---------------------------------------------------------------------------


def test_nine_keeps_the_place_then_the_callback_is_dialled_out_and_done(
    client, phone, rest, assigned, kari
):
    conversation = assigned.conversation
    prefix = phone.prefix

    response = call_now(client, assigned)

    assert response.status_code == 302
    call = dialled.get(conversation=conversation)
    assert (call.medium, call.state, call.agent, call.inbox) == (
        "phone", CallState.CONNECTING, kari, phone.inbox,
    )  # fmt: skip
    # First the agent's own phone, nothing else yet.
    (agent_leg,) = placed(rest)
    assert (agent_leg["To"], agent_leg["From"]) == (KARI_PHONE, BRAND_NUMBER)
    steps = f"{prefix}dial/{conversation.pk}/{call.pk}/"
    assert agent_leg["Url"] == f"{steps}agent"
    assert agent_leg["StatusCallback"] == f"{steps}agent/status"
    # The desk says what happens; no second "Call now", no outcome by hand meanwhile.
    page = unescape(
        client.get(reverse("desk:conversation", args=[conversation.pk])).content.decode()
    )
    assert "Dialling: your phone rings first, then the customer's." in page
    # The open conversation's panes (the list beside them offers the inbox's own actions).
    page = page.split('id="desk-panes"', 1)[1]
    assert "<bdi>Nora Berg</bdi></span> now" not in page and "No answer" not in page

    # Kari answers; then Nora's phone rings; Nora answers: both are in the call's room.
    phone.settle()

    _agent, customer_leg = placed(rest)
    assert (customer_leg["To"], customer_leg["From"]) == (NORA, BRAND_NUMBER)
    assert customer_leg["Url"] == f"{steps}customer"
    assert customer_leg["StatusCallback"] == f"{steps}customer/status"
    kari_leg, nora_leg = leg_to(phone, KARI_PHONE), leg_to(phone, NORA)
    assert kari_leg.heard == ["Calling Nora Berg. Please hold."]
    room = f"teamline-call-{call.pk}"
    assert phone.in_room(room) == {kari_leg.sid, nora_leg.sid}
    call.refresh_from_db()
    assert (call.agent_call_sid, call.provider_call_sid) == (kari_leg.sid, nora_leg.sid)
    assert call.state == CallState.ACTIVE and call.answered_at is not None
    assert call.conference_sid.startswith("CF")  # the room's events reached the call

    # They talk; Nora hangs up: the room ends, and Kari's leg with it.
    phone.hang_up_leg(nora_leg.sid)

    call.refresh_from_db()
    # (The room's leave event ends it first; the legs' "completed" statuses agree.)
    assert (call.state, call.end_reason) == (CallState.ENDED, "the caller hung up")
    assert kari_leg.ended
    assigned.refresh_from_db()
    assert assigned.state == CallbackState.DONE
    conversation.refresh_from_db()
    assert conversation.status == Status.RESOLVED
    assert WorkItem.objects.get(pk=assigned.work_item_id).state == WorkState.DONE
    profile = AgentProfile.objects.get(user=kari)
    assert profile.wrap_up_until is not None and profile.wrap_up_until > timezone.now()
    events = [e["event"] for e in timeline_of(conversation.pk, "call") if e["call_id"] == call.pk]
    assert events == ["waiting", "dialling", "dialling_customer", "connected", "ended"]
    assert {"callback": "done", "phone": NORA} in timeline_of(conversation.pk, "routed")


def test_the_customer_not_answering_ends_the_call_and_the_callback_waits_for_its_retry(
    client, phone, rest, assigned
):
    conversation = assigned.conversation
    phone.answers[NORA] = "no-answer"
    call_now(client, assigned)

    phone.settle()

    call = dialled.get(conversation=conversation)
    assert (call.state, call.end_reason) == (CallState.ENDED, "no-answer")
    # Kari, waiting in the room, is hung up.
    kari_leg = leg_to(phone, KARI_PHONE)
    assert rest.made("POST", f"/Calls/{kari_leg.sid}.json")[0].form == {"Status": "completed"}
    assert kari_leg.ended
    assigned.refresh_from_db()
    assert (assigned.state, assigned.attempts, assigned.agent) == (CallbackState.QUEUED, 1, None)
    retry = assigned.next_attempt_at - timezone.now()
    assert timedelta(minutes=CALLBACK_RETRY_MINUTES - 1) < retry
    assert retry <= timedelta(minutes=CALLBACK_RETRY_MINUTES)
    item = WorkItem.objects.get(pk=assigned.work_item_id)
    assert (item.state, item.kind) == (WorkState.QUEUED, WorkKind.CALLBACK)
    conversation.refresh_from_db()
    assert conversation.assignee is None and conversation.status == Status.OPEN
    ended = [e for e in timeline_of(conversation.pk, "call") if e["call_id"] == call.pk][-1]
    assert (ended["event"], ended["reason"]) == ("ended", "no-answer")
    assert system_texts(conversation)[-1].startswith(
        f"We tried to call you on {NORA} but could not reach you."
    )


def test_a_busy_line_is_recorded_as_busy_and_retried(client, phone, assigned):
    phone.answers[NORA] = "busy"
    call_now(client, assigned)

    phone.settle()

    call = dialled.get(conversation=assigned.conversation)
    assert (call.state, call.end_reason) == (CallState.ENDED, "busy")
    assigned.refresh_from_db()
    assert (assigned.state, assigned.attempts) == (CallbackState.QUEUED, 1)


def test_the_retried_callback_is_dialled_again_when_its_turn_comes(client, phone, rest, assigned):
    phone.answers[NORA] = "no-answer"
    call_now(client, assigned)
    phone.settle()
    assigned.refresh_from_db()
    assert assigned.state == CallbackState.QUEUED

    # Its retry time comes (Kari's wrap-up is over by then): routing gives it back to her.
    sweep_queues(now=timezone.now() + timedelta(minutes=CALLBACK_RETRY_MINUTES, seconds=1))
    assigned.refresh_from_db()
    assert assigned.state == CallbackState.ASSIGNED
    del phone.answers[NORA]

    assert call_now(client, assigned).status_code == 302
    phone.settle()

    first, second = dialled.filter(conversation=assigned.conversation).order_by("pk")
    assert (first.end_reason, second.state) == ("no-answer", CallState.ACTIVE)
    assert [form["To"] for form in placed(rest)] == [KARI_PHONE, NORA, KARI_PHONE, NORA]


def test_retried_webhooks_of_the_legs_change_nothing(client, phone, rest, assigned):
    phone.answers[NORA] = "no-answer"
    call_now(client, assigned)
    phone.settle()

    for url, params in phone.posted_callbacks():
        assert phone.post(url, params).status_code == 200
    kari_leg = leg_to(phone, KARI_PHONE)
    again = phone.post(kari_leg.requests[0][0], kari_leg.requests[0][1])  # its TwiML step

    assert again.status_code == 200
    assigned.refresh_from_db()
    assert (assigned.state, assigned.attempts) == (CallbackState.QUEUED, 1)
    assert len(placed(rest)) == 2  # the customer was dialled once
    call = assigned_call(assigned)
    statuses = WebhookEvent.objects.filter(external_id__contains="/customer/status:")
    assert sorted(statuses.values_list("external_id", flat=True)) == sorted(
        f"{leg_to(phone, NORA).sid}:dial/{call.conversation_id}/{call.pk}/customer/status:{s}"
        for s in ("no-answer", "ringing")
    )


def assigned_call(callback):
    return dialled.filter(conversation_id=callback.conversation_id).latest("pk")


def test_forged_or_unsigned_leg_webhooks_are_refused_and_store_nothing(
    client, phone, rest, assigned
):
    call_now(client, assigned)
    call = assigned_call(assigned)
    url = f"{phone.prefix}dial/{call.conversation_id}/{call.pk}/customer/status"
    params = {"AccountSid": phone.account_sid, "CallSid": "CA" + "9" * 32, "CallStatus": "busy"}

    forged = phone.post(url, params, signature="bm90IGEgc2lnbmF0dXJl")
    unsigned = phone.post(url, params, signature="")

    assert (forged.status_code, unsigned.status_code) == (403, 403)
    assert not WebhookEvent.objects.filter(external_id__contains="dial/").exists()
    call.refresh_from_db()
    assert call.state == CallState.CONNECTING


def test_a_signed_status_for_a_leg_that_is_not_the_calls_changes_nothing(
    client, phone, rest, assigned
):
    call_now(client, assigned)
    call = assigned_call(assigned)
    url = f"{phone.prefix}dial/{call.conversation_id}/{call.pk}/customer/status"
    params = {"AccountSid": phone.account_sid, "CallSid": "CA" + "9" * 32, "CallStatus": "busy"}

    assert phone.post(url, params).status_code == 200

    call.refresh_from_db()
    assert call.state == CallState.CONNECTING
    assigned.refresh_from_db()
    assert assigned.attempts == 0


def test_the_agent_not_picking_up_ends_the_call_but_is_not_the_customers_no_answer(
    client, phone, rest, assigned
):
    phone.answers[KARI_PHONE] = "no-answer"
    call_now(client, assigned)

    phone.settle()

    call = assigned_call(assigned)
    assert (call.state, call.end_reason) == (CallState.ENDED, "the agent's phone: no-answer")
    assert len(placed(rest)) == 1  # the customer was never dialled
    assigned.refresh_from_db()
    assert (assigned.state, assigned.attempts) == (CallbackState.ASSIGNED, 0)
    # Kari can try again.
    del phone.answers[KARI_PHONE]
    assert call_now(client, assigned).status_code == 302
    assert dialled.filter(conversation=assigned.conversation).count() == 2


def test_the_agent_giving_up_before_the_customer_answers_is_not_the_customers_no_answer(
    client, phone, rest, assigned
):
    call_now(client, assigned)
    phone.actions.get_nowait()()  # the provider's next step only: Kari answers, Nora's rings
    assert [form["To"] for form in placed(rest)] == [KARI_PHONE, NORA]

    phone.hang_up_leg(leg_to(phone, KARI_PHONE).sid)

    call = assigned_call(assigned)
    assert call.end_reason == "the agent hung up before the customer answered"
    nora_leg = leg_to(phone, NORA)
    assert rest.made("POST", f"/Calls/{nora_leg.sid}.json")  # Teamline hung her leg up
    assert nora_leg.ended
    assigned.refresh_from_db()
    assert (assigned.state, assigned.attempts) == (CallbackState.ASSIGNED, 0)


def test_ending_the_call_while_the_agents_phone_rings_ends_it_and_dials_nobody(
    client, phone, rest, assigned, kari
):
    call_now(client, assigned)
    call = assigned_call(assigned)

    ended = do_end_call(call, reason="ended by the agent", actor=kari, hang_up=True)

    assert ended is not None and ended.state == CallState.ENDED
    assert rest.made("POST", f"/Calls/{call.agent_call_sid}.json")[0].form == {
        "Status": "completed"
    }
    phone.settle()
    assert [form["To"] for form in placed(rest)] == [KARI_PHONE]  # Nora was never called
    assigned.refresh_from_db()
    assert (assigned.state, assigned.attempts) == (CallbackState.ASSIGNED, 0)


def test_no_second_call_while_one_is_under_way(client, rest, assigned):
    call_now(client, assigned)

    again = call_now(client, assigned, **HTMX)

    assert again.status_code == 409
    assert "A call with this customer is already under way." in again.content.decode()
    assert len(placed(rest)) == 1


def api(user):
    secret = do_create_api_token(user, name="integration", actor=user)[1]
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def test_call_now_through_the_api(phone, rest, assigned, kari, oslo):
    url = f"/api/v1/callbacks/{assigned.pk}/dial"

    stranger = api(create_agent("sven", team=create_team("Bergen"))).post(url)
    colleague = api(create_agent("ola", team=oslo)).post(url)
    response = api(kari).post(url)
    again = api(kari).post(url)

    assert (stranger.status_code, colleague.status_code) == (404, 403)
    assert response.status_code == 201
    body = response.json()
    assert (body["direction"], body["state"], body["agent_id"]) == (
        "outbound",
        "connecting",
        kari.pk,
    )
    assert body["id"] == assigned_call(assigned).pk
    assert again.status_code == 409
    assert [form["To"] for form in placed(rest)] == [KARI_PHONE]


# --- The provider down ------------------------------------------------------------------------


@pytest.mark.parametrize("outage", ["answers 503", "does not listen"])
def test_provider_down_at_call_now_says_so_and_the_callback_stays_with_the_agent(
    client, phone, rest, assigned, outage
):
    if outage == "answers 503":
        rest.down = True
    else:
        phone.stop_rest()

    response = call_now(client, assigned, **HTMX)

    assert response.status_code == 400
    html = response.content.decode()
    assert "The phone provider cannot be reached right now, so nothing was dialled." in html
    assert 'role="alert"' in html
    assert not dialled.exists()
    assigned.refresh_from_db()
    assert assigned.state == CallbackState.ASSIGNED
    assert Conversation.objects.get(pk=assigned.conversation_id).assignee_id == assigned.agent_id


def test_provider_down_when_the_customer_is_dialled_ends_the_call_and_tells_the_agent(
    client, phone, rest, assigned
):
    call_now(client, assigned)
    rest.down = True

    phone.settle()

    kari_leg = leg_to(phone, KARI_PHONE)
    assert kari_leg.heard == ["Sorry, the customer could not be called. Try again from the desk."]
    assert kari_leg.ended
    call = assigned_call(assigned)
    assert call.state == CallState.ENDED
    assert call.end_reason == "failed: the phone provider could not be reached"
    assigned.refresh_from_db()
    assert (assigned.state, assigned.attempts) == (CallbackState.ASSIGNED, 0)


def test_an_agent_without_a_phone_number_is_told_to_add_one(client, phone, rest, oslo):
    callback = nine_in_the_ivr(phone, oslo)
    ola = agent("ola", oslo)
    do_set_presence(ola, "available", actor=ola)
    callback.refresh_from_db()
    assert callback.agent == ola
    client.force_login(ola)

    response = call_now(client, callback)

    assert response.status_code == 400
    assert "Add your phone number in your profile to take calls." in response.content.decode()
    assert rest.requests == []


# --- Which inbox dials --------------------------------------------------------------------------


def test_a_chat_callback_dials_from_the_teams_voice_inbox(client, phone, rest, oslo, kari):
    customer = create_customer(team=oslo, name="Petter")
    conversation = customer_says(customer, "Please call me")[0].conversation
    callback = do_request_callback(conversation, "+4791111111")
    do_set_presence(kari, "available", actor=kari)
    client.force_login(kari)

    assert call_now(client, callback).status_code == 302

    assert dialled.get(conversation=conversation).inbox == phone.inbox
    assert placed(rest)[0]["From"] == BRAND_NUMBER


def test_a_team_without_a_voice_inbox_is_told_so(client, phone, rest):
    bergen = create_team("Bergen")
    berit = agent("berit", bergen, "+4790000010")
    customer = create_customer(team=bergen, name="Petter")
    conversation = customer_says(customer, "Please call me")[0].conversation
    callback = do_request_callback(conversation, "+4791111111")
    do_set_presence(berit, "available", actor=berit)
    client.force_login(berit)

    response = call_now(client, callback)

    assert response.status_code == 400
    assert "No voice inbox can place this call" in response.content.decode()
    assert rest.requests == [] and not dialled.exists()


# --- Booked calls --------------------------------------------------------------------------------


@pytest.fixture
def started_appointment(client, phone, oslo, kari):
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


def test_a_booked_call_is_not_dialled_before_its_slot_starts(client, phone, rest, oslo, kari):
    for weekday in range(5):
        BusinessHours.objects.create(team=oslo, weekday=weekday, opens="09:00", closes="11:00")
    for n in range(3):
        create_agent(f"member{n}", team=oslo)
    customer = create_customer(team=oslo, name="Nora Berg")
    conversation = customer_says(customer, "Can we talk on Monday?")[0].conversation
    slot = available_slots(oslo, now=MONDAY_8_OSLO)[0]
    appointment = do_book_appointment(
        customer, team=oslo, slot_start=slot.start, kind="call", phone=NORA,
        conversation=conversation, agent=kari, now=MONDAY_8_OSLO,
    )  # fmt: skip

    response = api(kari).post(f"/api/v1/appointments/{appointment.pk}/dial")

    assert response.status_code == 409
    assert response.json()["detail"] == "This appointment has not started, or is over."
    assert rest.requests == [] and not dialled.exists()


def test_a_booked_call_is_dialled_out_and_done(client, phone, rest, started_appointment):
    appointment = started_appointment
    page = client.get(reverse("desk:conversation", args=[appointment.conversation_id]))
    assert "Booked call to" in page.content.decode()
    assert "<bdi>Nora Berg</bdi></span> now</button>" in page.content.decode()

    response = client.post(reverse("desk:appointment_dial", args=[appointment.pk]))

    assert response.status_code == 302
    phone.settle()
    assert [form["To"] for form in placed(rest)] == [KARI_PHONE, NORA]
    phone.hang_up_leg(leg_to(phone, NORA).sid)

    appointment.refresh_from_db()
    assert appointment.state == "done"
    routed = timeline_of(appointment.conversation_id, "routed")
    assert {"appointment": "done", "appointment_id": appointment.pk} in routed


def test_a_booked_call_nobody_answers_is_tried_again_within_the_grace_period(
    client, phone, started_appointment
):
    appointment = started_appointment
    # The slot started a minute ago (the test's clock is the wall clock from here on).
    Appointment.objects.filter(pk=appointment.pk).update(
        slot_start=timezone.now() - timedelta(minutes=1)
    )
    phone.answers[NORA] = "no-answer"
    client.post(reverse("desk:appointment_dial", args=[appointment.pk]))

    phone.settle()

    appointment.refresh_from_db()
    assert (appointment.state, appointment.attempts) == ("started", 1)
    assert dialled.get(conversation_id=appointment.conversation_id).end_reason == "no-answer"
    assert Conversation.objects.get(pk=appointment.conversation_id).assignee is None


# --- Over HTTP ----------------------------------------------------------------------------------


def wait_for(check, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the provider did not get there in time"
        time.sleep(0.05)


@pytest.mark.integration  # on PostgreSQL only the conversation's row lock makes the step wait
@pytest.mark.django_db(transaction=True)
def test_over_http_a_phone_that_answers_at_once_still_finds_its_call(
    live_server, settings, oslo, monkeypatch
):
    # The provider acts on its own thread as soon as Teamline asks: the agent's leg answers
    # while "Call now" is still committing (held open here a moment after the leg is placed),
    # and its steps wait for it.
    settings.PUBLIC_URL = live_server.url
    place_call = voice_rest.place_call

    def slow_to_commit(*args, **kwargs):
        sid = place_call(*args, **kwargs)
        if kwargs["to"] == KARI_PHONE:
            time.sleep(1.5)  # the provider rings and Kari answers meanwhile
        return sid

    monkeypatch.setattr(voice_rest, "place_call", slow_to_commit)
    kari = agent("kari", oslo, KARI_PHONE)
    inbox = Inbox(name="Nordlys phone", kind="voice", default_team=oslo)
    inbox.credentials = {"account_sid": "AC" + "0" * 32, "auth_token": AUTH_TOKEN}
    inbox.save()
    provider = FakeTwimlProvider(
        None, inbox, AUTH_TOKEN, host=live_server.url, transport=HttpTransport()
    )
    rest = provider.start_rest()
    inbox.config = {"language": "en", "from_number": BRAND_NUMBER, "api_base": rest.url}
    inbox.save()
    try:
        customer = create_customer(team=oslo, name="Nora Berg", preferred_language="en")
        conversation = customer_says(customer, "Please call me")[0].conversation
        callback = do_request_callback(conversation, NORA)
        do_set_presence(kari, "available", actor=kari)

        call = do_dial_callback(callback, actor=kari)

        room = f"teamline-call-{call.pk}"
        wait_for(lambda: len(provider.in_room(room)) == 2)
        assert Call.objects.get(pk=call.pk).state == CallState.ACTIVE
        provider.hang_up_leg(leg_to(provider, NORA).sid)
        wait_for(lambda: Callback.objects.get(pk=callback.pk).state == CallbackState.DONE)
        wait_for(lambda: provider.actions.empty())
        assert provider.errors == []
        assert provider.in_room(room) == set()
    finally:
        provider.stop_rest()


# --- Budgets ----------------------------------------------------------------------------------


def test_query_budgets_of_call_now_and_the_leg_steps(
    client, phone, assigned, django_assert_max_num_queries
):
    # The agent presses Call now (a request they wait on: the desk's own queries included,
    # and the check that the browser's session has not been ended: one indexed read).
    with django_assert_max_num_queries(25):
        call_now(client, assigned)
    phone.settle()
    kari_leg, nora_leg = leg_to(phone, KARI_PHONE), leg_to(phone, NORA)
    ringing = [
        (url, params)
        for url, params in phone.posted
        if url.endswith("/customer/status") and params["CallStatus"] == "ringing"
    ][-1]

    # The provider's retries of the legs' steps and of a status (each a stored webhook).
    with django_assert_max_num_queries(14):
        phone.post(*kari_leg.requests[0])
    with django_assert_max_num_queries(11):
        phone.post(*nora_leg.requests[0])
    with django_assert_max_num_queries(10):
        phone.post(*ringing)
