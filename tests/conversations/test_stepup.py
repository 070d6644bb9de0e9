"""Customer step-up inside a conversation: Ingrid chats on the web; Kari (team Oslo) asks her to
verify, a one-time code goes by SMS to Ingrid's verified phone (Twilio played by a fake provider
on loopback, which captures the code), and Ingrid types it in the widget's verify form or
replies with it by SMS. The conversation then holds the `code` level for a while; the bot and
the desk read what that level allows. The code is short-lived, single-use, limited in guesses
and sends, and never shown to Kari: not in the desk, not in the API, not in any table."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.utils import timezone

from teamline.accounts.actions import do_create_api_token
from teamline.connectors.models import WebhookEvent
from teamline.connectors.stepup import do_answer_step_up, do_request_step_up
from teamline.conversations.models import (
    Conversation,
    Inbox,
    Message,
    StepUp,
    TimelineEvent,
)
from teamline.core.errors import InvalidInput, RateLimited
from teamline.core.testing import (
    capture_events,
    create_agent,
    create_customer,
    create_inbox,
    create_team,
    customer_says,
)
from teamline.customers import verification
from teamline.customers.models import Identity, OneTimeCode
from tests.redaction_support import database_text, events_text

from ..connectors.fake_provider import FakeProvider
from ..connectors.test_sms import ACCOUNT_SID, AUTH_TOKEN, inbound_sms, sign

pytestmark = pytest.mark.django_db

INGRID_PHONE = "+4791234567"
SID = {"sid": "SM" + "3" * 32, "status": "queued"}


@pytest.fixture
def twilio() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        yield fake


@pytest.fixture
def oslo(db):
    return create_team("Oslo")


@pytest.fixture
def sms_inbox(oslo, twilio) -> Inbox:
    inbox = Inbox.objects.create(name="Nordlys SMS", kind="sms", default_team=oslo)
    inbox.credentials = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}
    inbox.config = {"from_number": "+4759440000", "api_base": twilio.url}
    inbox.save()
    return inbox


@pytest.fixture
def kari(oslo):
    return create_agent("kari", team=oslo, display_name="Kari Nordmann")


@pytest.fixture
def ingrid(oslo, sms_inbox):
    return create_customer(
        team=oslo,
        name="Ingrid Hansen",
        identities=[("phone", INGRID_PHONE, True), ("external", "nordlys-ingrid", True)],
    )


@pytest.fixture
def chat(ingrid, oslo) -> Conversation:
    message, _ = customer_says(
        ingrid, "Hi, how much data do I have left?", inbox=create_inbox(oslo)
    )
    return message.conversation


def phone_of(customer) -> Identity:
    return Identity.objects.get(customer=customer, kind="phone")


def texted_code(twilio: FakeProvider, to: str = INGRID_PHONE) -> str:
    for request in reversed(twilio.requests):
        form = request.form()
        if form.get("To") == [to]:
            found = re.search(r"\b(\d{6})\b", form["Body"][0])
            assert found, form["Body"][0]
            return found.group(1)
    raise AssertionError(f"no text to {to}")


def standing_alone(code: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![0-9A-Za-z]){code}(?![0-9A-Za-z])")


def ask(chat, kari, twilio) -> str:
    twilio.respond(200, SID)
    do_request_step_up(chat, phone_of(chat.customer), actor=kari)
    return texted_code(twilio)


def other_code(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


# --- The levels --------------------------------------------------------------------------------


def test_levels_are_ordered_and_one_table_says_what_each_allows():
    assert verification.Level.NONE < verification.Level.CODE < verification.Level.STRONG
    assert verification.allows(verification.Level.NONE, verification.GENERAL_HELP)
    assert not verification.allows(verification.Level.NONE, verification.ACCOUNT_DATA)
    assert verification.allows(verification.Level.CODE, verification.ACCOUNT_DATA)
    assert not verification.allows(verification.Level.CODE, verification.ACCOUNT_CHANGES)
    assert verification.allows(verification.Level.STRONG, verification.ACCOUNT_CHANGES)
    assert [c.key for c in verification.allowed(verification.Level.CODE)] == [
        "general_help",
        "account_data",
    ]
    with pytest.raises(KeyError):
        verification.allows(verification.Level.STRONG, "everything")


def test_a_level_lapses_after_the_documented_period():
    now = timezone.now()
    reached = now - verification.VERIFIED_FOR + timedelta(seconds=1)
    assert verification.current_level(1, reached, now) == verification.Level.CODE
    assert verification.current_level(1, reached - timedelta(seconds=2), now) == (
        verification.Level.NONE
    )
    assert verification.current_level(2, None, now) == verification.Level.NONE


# --- Asking and answering ----------------------------------------------------------------------


def test_kari_asks_ingrid_to_verify_and_her_code_raises_the_conversation_to_code(
    chat, kari, twilio, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    with capture_events() as events, django_capture_on_commit_callbacks(execute=True):
        code = ask(chat, kari, twilio)
    text = twilio.requests[-1].form()
    assert text["To"] == [INGRID_PHONE] and "expires in 10 minutes" in text["Body"][0]
    step_up = StepUp.objects.get()
    assert (step_up.state, step_up.method, step_up.requested_by) == ("pending", "sms_code", kari)
    line = Message.objects.get(conversation=chat, channel="stepup")
    assert line.is_internal
    assert line.text == "Kari Nordmann asked the customer to verify by SMS code sent to •••• 4567."

    # Ingrid's widget hears that a code is on its way (masked), never the code.
    (event,) = [e for e, _ in events if e.type == "verification.updated"]
    assert event.customer == {
        "conversation_id": chat.pk,
        "level": "none",
        "method": "",
        "step_up": {
            "id": step_up.pk,
            "state": "pending",
            "method": "sms_code",
            "methods": ["sms_code"],
            "destination": "•••• 4567",
            "expires_at": step_up.expires_at.isoformat(),
        },
    }

    with capture_events() as events, django_capture_on_commit_callbacks(execute=True):
        do_answer_step_up(chat, code[:3] + " " + code[3:])
    chat.refresh_from_db()
    assert chat.verification_level == verification.Level.CODE
    assert chat.verification_method == "sms_code" and chat.verified_at is not None
    step_up.refresh_from_db()
    assert step_up.state == "verified"
    assert Message.objects.filter(text="Customer verified by SMS code.", is_internal=True).exists()
    assert list(
        TimelineEvent.objects.filter(conversation=chat, kind="verification").values_list(
            "data__state", flat=True
        )
    ) == ["requested", "verified"]
    staff = next(e.staff for e, _ in events if e.type == "verification.updated")
    assert staff["verification"]["level"] == "code"
    assert staff["verification"]["allows"] == ["general_help", "account_data"]
    assert [e.type for e, _ in events].count("conversation.updated") == 1

    # The code: a keyed hash at rest, in no message, no table, no event, no log line.
    assert code not in OneTimeCode.objects.get().code_hash
    assert not standing_alone(code).search(database_text())
    assert not standing_alone(code).search(events_text(events))
    assert not standing_alone(code).search(caplog.text)


def test_a_code_works_once(chat, kari, twilio):
    code = ask(chat, kari, twilio)
    do_answer_step_up(chat, code)
    twilio.respond(200, SID)
    do_request_step_up(chat, phone_of(chat.customer), actor=kari)
    with pytest.raises(InvalidInput, match="wrong or has expired"):
        do_answer_step_up(chat, code)


def test_an_expired_request_is_shown_as_expired_and_its_code_refused(chat, kari, twilio):
    code = ask(chat, kari, twilio)
    StepUp.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(InvalidInput):
        do_answer_step_up(chat, code)
    assert StepUp.objects.get().state == "expired"
    assert Message.objects.filter(text__startswith="Verification expired").exists()
    chat.refresh_from_db()
    assert chat.verification_level == 0


def test_an_expired_code_is_refused(chat, kari, twilio):
    code = ask(chat, kari, twilio)
    OneTimeCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(InvalidInput):
        do_answer_step_up(chat, code)
    chat.refresh_from_db()
    assert chat.verification_level == 0


def test_wrong_codes_are_counted_for_the_agent_and_the_fifth_fails_the_request(chat, kari, twilio):
    code = ask(chat, kari, twilio)
    for n in range(1, 5):
        with pytest.raises(InvalidInput):
            do_answer_step_up(chat, other_code(code))
        step_up = StepUp.objects.get()
        assert (step_up.state, step_up.failures) == ("pending", n)
    with pytest.raises(InvalidInput):
        do_answer_step_up(chat, other_code(code))
    assert StepUp.objects.get().state == "failed"
    # Even the right code is dead now.
    with pytest.raises(InvalidInput):
        do_answer_step_up(chat, code)
    chat.refresh_from_db()
    assert chat.verification_level == 0


def test_codes_to_one_phone_are_limited_per_hour(chat, kari, twilio):
    for _ in range(5):
        ask(chat, kari, twilio)
    with pytest.raises(RateLimited):
        do_request_step_up(chat, phone_of(chat.customer), actor=kari)
    assert StepUp.objects.count() == 5
    assert StepUp.objects.filter(state="pending").count() == 1  # each ask superseded the last


def test_a_provider_that_fails_opens_nothing(chat, kari, twilio):
    twilio.respond(500, {"message": "down"})
    twilio.respond(500, {"message": "down"})
    twilio.respond(500, {"message": "down"})
    with pytest.raises(Exception) as raised:
        do_request_step_up(chat, phone_of(chat.customer), actor=kari)
    assert getattr(raised.value, "status", None) == 503
    assert not StepUp.objects.exists()


# --- By SMS reply ------------------------------------------------------------------------------


def text_back(client: Client, inbox: Inbox, body: str, n: int) -> None:
    path = f"/webhooks/twilio/{inbox.public_id}/"
    sid = f"SM{n:032x}"
    fields = inbound_sms(body, MessageSid=sid, SmsSid=sid, SmsMessageSid=sid, From=INGRID_PHONE)
    response = client.post(
        path,
        data=urlencode(fields),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=sign(AUTH_TOKEN, f"http://testserver{path}", list(fields.items())),
    )
    assert response.status_code == 200


def test_a_code_replied_by_sms_verifies_and_is_never_stored(
    chat, kari, twilio, sms_inbox, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    code = ask(chat, kari, twilio)
    with capture_events() as events, django_capture_on_commit_callbacks(execute=True):
        text_back(Client(), sms_inbox, code, 1)
    chat.refresh_from_db()
    assert (chat.verification_level, chat.verification_method) == (1, "sms_code")
    # Taken in the request: no message, the stored delivery masked and not processed.
    assert not Message.objects.filter(direction="in", channel="sms").exists()
    event = WebhookEvent.objects.get()
    assert event.status == "ignored" and "step-up" in event.error
    assert not standing_alone(code).search(database_text())
    assert not standing_alone(code).search(caplog.text)
    assert not standing_alone(code).search(events_text(events))


def test_an_ordinary_sms_is_still_a_message_while_a_step_up_waits(chat, kari, twilio, sms_inbox):
    ask(chat, kari, twilio)
    text_back(Client(), sms_inbox, "Is it 5G in Oslo?", 2)
    assert WebhookEvent.objects.get().status == "pending"
    assert StepUp.objects.get().state == "pending"


def test_a_wrong_code_replied_by_sms_is_counted_and_not_stored(chat, kari, twilio, sms_inbox):
    code = ask(chat, kari, twilio)
    text_back(Client(), sms_inbox, other_code(code), 3)
    assert not Message.objects.filter(direction="in", channel="sms").exists()
    assert StepUp.objects.get().failures == 1
    assert not standing_alone(other_code(code)).search(database_text())


# --- Agents: desk, API, IDOR -------------------------------------------------------------------


def api(user) -> Client:
    _, secret = do_create_api_token(user, name="tests", actor=user)
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def test_the_api_asks_and_shows_states_never_codes(chat, kari, twilio):
    client = api(kari)
    status = client.get(f"/api/v1/conversations/{chat.pk}/step-up").json()
    phone = phone_of(chat.customer)
    assert status["identities"] == [{"id": phone.pk, "kind": "phone", "destination": "•••• 4567"}]
    assert status["verification"]["level"] == "none" and status["step_up"] is None

    twilio.respond(200, SID)
    response = client.post(
        f"/api/v1/conversations/{chat.pk}/step-up",
        {"identity_id": phone.pk},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    code = texted_code(twilio)
    assert response.json()["step_up"]["state"] == "pending"
    assert code not in response.content.decode()

    do_answer_step_up(chat, code)
    detail = client.get(f"/api/v1/conversations/{chat.pk}").json()
    assert detail["verification"]["level"] == "code"
    assert detail["verification"]["method"] == "sms_code"
    messages = client.get(f"/api/v1/conversations/{chat.pk}/messages").content.decode()
    assert "Customer verified by SMS code." in messages
    assert not standing_alone(code).search(messages)


def test_another_teams_agent_cannot_ask_and_nobody_can_send_to_someone_elses_phone(
    chat, kari, twilio
):
    bjorn = create_agent("bjorn", team=create_team("Bergen"))
    phone = phone_of(chat.customer)
    response = api(bjorn).post(
        f"/api/v1/conversations/{chat.pk}/step-up",
        {"identity_id": phone.pk},
        content_type="application/json",
    )
    assert response.status_code == 404
    desk = Client()
    desk.force_login(bjorn)
    assert (
        desk.post(f"/desk/conversations/{chat.pk}/step-up/", {"identity_id": phone.pk}).status_code
        == 404
    )

    stranger = create_customer(identities=[("phone", "+4792345678", True)])
    response = api(kari).post(
        f"/api/v1/conversations/{chat.pk}/step-up",
        {"identity_id": phone_of(stranger).pk},
        content_type="application/json",
    )
    assert response.status_code == 404
    assert not twilio.requests and not StepUp.objects.exists()


def test_an_unverified_phone_cannot_receive_a_code(chat, kari, twilio):
    Identity.objects.filter(kind="phone").update(verified=False)
    response = api(kari).post(
        f"/api/v1/conversations/{chat.pk}/step-up",
        {"identity_id": phone_of(chat.customer).pk},
        content_type="application/json",
    )
    assert response.status_code == 404


def test_the_desk_shows_the_level_what_it_allows_and_the_ask_form_never_the_code(
    chat, kari, twilio
):
    desk = Client()
    desk.force_login(kari)
    page = desk.get(f"/desk/conversations/{chat.pk}/").content.decode()
    assert "Not verified" in page and "Ask to verify" in page
    assert "SMS code to •••• 4567" in page
    twilio.respond(200, SID)
    response = desk.post(
        f"/desk/conversations/{chat.pk}/step-up/",
        {"identity_id": phone_of(chat.customer).pk},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="conversation-status",
    )
    assert response.status_code == 200
    code = texted_code(twilio)
    assert "Waiting for the customer to enter the SMS code sent to •••• 4567." in (
        response.content.decode()
    )
    with pytest.raises(InvalidInput):
        do_answer_step_up(chat, other_code(code))
    page = desk.get(f"/desk/conversations/{chat.pk}/").content.decode()
    assert "1 wrong code so far." in page
    do_answer_step_up(chat, code)
    page = desk.get(f"/desk/conversations/{chat.pk}/").content.decode()
    assert "Customer verified by SMS code" in page
    assert "Allowed: Balance, data left, bills" in page
    assert not standing_alone(code).search(page)


def test_the_desk_says_why_a_code_could_not_be_sent(chat, kari, twilio):
    desk = Client()
    desk.force_login(kari)
    response = desk.post(
        f"/desk/conversations/{chat.pk}/step-up/",
        {"identity_id": "not a number"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="conversation-status",
    )
    assert response.status_code == 400
    assert "verified phone numbers or email addresses" in response.content.decode()


def test_with_no_sms_number_set_up_the_answer_is_a_conflict_not_a_server_error(
    chat, kari, sms_inbox
):
    Inbox.objects.filter(pk=sms_inbox.pk).update(is_active=False)
    response = api(kari).post(
        f"/api/v1/conversations/{chat.pk}/step-up",
        {"identity_id": phone_of(chat.customer).pk},
        content_type="application/json",
    )
    assert response.status_code == 409
    assert response.json()["detail"] == "No channel can send a code to this address."
    assert not OneTimeCode.objects.exists() and not StepUp.objects.exists()
