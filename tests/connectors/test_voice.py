"""Voice calls through Twilio: the call webhook and its status callback are verified like SMS,
answered with TwiML whose URLs stay under the inbox's prefix, and retries are absorbed."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import pytest
from django.contrib import admin
from django.core.cache import cache

from teamline.connectors import sms, voice
from teamline.connectors.admin import InboxAdmin
from teamline.connectors.base import WebhookRequest, connector_for_inbox, connector_for_provider
from teamline.connectors.models import WebhookEvent
from teamline.conversations.models import Inbox
from teamline.core.testing import create_team
from teamline.customers.models import Customer, Identity
from teamline.selfservice.models import VoiceCall, VoiceCallStep
from tests.connectors.fake_twiml import FakeTwimlProvider
from tests.connectors.support import run_tasks

pytestmark = pytest.mark.django_db

AUTH_TOKEN = "voice-auth-token-0123456789"
CALLER = "+4791234567"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def inbox():
    team = create_team("Nordlys <Oslo> & Co")
    inbox = Inbox(name="Nordlys phone", kind="voice", default_team=team, config={"language": "en"})
    inbox.credentials = {"account_sid": "AC" + "0" * 32, "auth_token": AUTH_TOKEN}
    inbox.save()
    return inbox


@pytest.fixture
def phone(client, inbox):
    return FakeTwimlProvider(client, inbox, AUTH_TOKEN)


def nothing_stored() -> bool:
    return not (
        WebhookEvent.objects.exists()
        or VoiceCall.objects.exists()
        or Identity.objects.exists()
        or Customer.objects.exists()
    )


def test_twilio_serves_sms_and_voice_inboxes_with_their_own_connector(inbox):
    sms_inbox = Inbox(name="SMS", kind="sms", default_team=inbox.default_team)

    assert isinstance(connector_for_provider("twilio", "voice"), voice.TwilioVoiceConnector)
    assert isinstance(connector_for_provider("twilio", "sms"), sms.TwilioSmsConnector)
    assert isinstance(connector_for_inbox(inbox), voice.TwilioVoiceConnector)
    assert isinstance(connector_for_inbox(sms_inbox), sms.TwilioSmsConnector)


def test_the_call_webhook_is_answered_with_twiml_under_the_same_prefix(phone, inbox):
    call = phone.call(CALLER, inputs=[])

    first = call.requests[0]
    response = phone.post(*first)
    root = ET.fromstring(response.content)  # noqa: S314 - our own server's TwiML
    gather = root.find("Gather")
    assert gather is not None
    assert gather.get("action") == f"{phone.prefix}ivr/menu/1/0"
    assert gather.get("input") == "dtmf speech"
    assert root.find("Redirect").text == f"{phone.prefix}ivr/menu/1/0"
    # Text is escaped by the XML writer, never concatenated.
    assert b"Nordlys &lt;Oslo&gt; &amp; Co" in response.content


@pytest.mark.parametrize("suffix", ["", "ivr/menu/1/0", "status"])
def test_unsigned_webhooks_are_refused_and_nothing_is_stored(phone, suffix):
    params = {"CallSid": "CA1", "From": CALLER, "To": "+4721000000", "CallStatus": "ringing"}

    response = phone.post(phone.prefix + suffix, params, signature="")

    assert response.status_code == 403
    assert nothing_stored()


@pytest.mark.integration
@pytest.mark.parametrize("suffix", ["", "ivr/menu/1/0", "status"])
def test_forged_webhooks_are_refused_and_nothing_is_stored(phone, suffix):
    params = {"CallSid": "CA1", "From": CALLER, "To": "+4721000000", "Digits": "1"}
    forged = sms.twilio_signature("not-the-token", phone.prefix + suffix, list(params.items()))

    response = phone.post(phone.prefix + suffix, params, signature=forged)

    assert response.status_code == 403
    assert nothing_stored()


def test_a_signature_for_another_step_is_refused(phone):
    params = {"CallSid": "CA1", "From": CALLER, "To": "+4721000000", "Digits": "0"}
    signed_for_menu = sms.twilio_signature(
        AUTH_TOKEN, phone.prefix + "ivr/menu/1/0", list(params.items())
    )

    response = phone.post(phone.prefix + "ivr/menu/2/0", params, signature=signed_for_menu)

    assert response.status_code == 403
    assert nothing_stored()


def test_a_step_outside_the_ivr_is_not_found(phone):
    response = phone.post(phone.prefix + "admin/x", {"CallSid": "CA1", "From": CALLER})

    assert response.status_code == 404
    assert not WebhookEvent.objects.exists()


@pytest.mark.integration
def test_a_retried_status_callback_is_absorbed(phone):
    call = phone.call(CALLER, inputs=["1"])

    call.hang_up("completed")
    call.hang_up("completed")

    assert WebhookEvent.objects.filter(external_id=f"{call.sid}:status:completed").count() == 1
    voice_call = VoiceCall.objects.get(call_sid=call.sid)
    ended_at = voice_call.ended_at
    assert voice_call.status == "completed" and ended_at is not None
    call.hang_up("completed")
    voice_call.refresh_from_db()
    assert voice_call.ended_at == ended_at


@pytest.mark.integration
def test_every_step_is_stored_raw_once_and_processed_as_answered(phone):
    call = phone.call(CALLER, inputs=["1", "2"])
    call.retry_last()
    run_tasks()

    steps = list(
        VoiceCallStep.objects.filter(call__call_sid=call.sid).values_list("step", flat=True)
    )
    assert steps[:3] == ["start", "ivr/menu/1/0", "ivr/menu/2/0"]
    events = WebhookEvent.objects.filter(external_id__startswith=call.sid)
    assert events.count() == len(steps)
    assert set(events.values_list("status", flat=True)) == {"ignored"}
    assert "answered in the request" in events.first().error


def test_the_step_prefix_is_the_url_the_provider_called():
    request = WebhookRequest(
        method="POST",
        url="https://voice.example/webhooks/twilio/abc/ivr/menu/1/0?x=1",
        path_suffix="ivr/menu/1/0",
        query={},
        headers={},
        body=b"",
    )

    assert voice.step_prefix(request) == "https://voice.example/webhooks/twilio/abc/"


def test_the_admin_shows_the_call_webhook_to_paste_at_the_provider(inbox):
    shown = InboxAdmin(Inbox, admin.site).webhook_url(inbox)

    assert f"/webhooks/twilio/{inbox.public_id}/" in shown


def test_each_status_of_a_placed_leg_and_each_room_event_is_its_own_stored_event(phone):
    # An agent's leg reports several statuses to one URL; a room reports events that name no
    # call (conference-start/end): each is kept once, and a retry of one is absorbed.
    leg = {"AccountSid": phone.account_sid, "CallSid": "CA" + "7" * 32}
    room = {
        "AccountSid": phone.account_sid,
        "ConferenceSid": "CF" + "1" * 32,
        "FriendlyName": "teamline-call-1",
    }
    posts = [
        (phone.prefix + "agent/1/status", {**leg, "CallStatus": "ringing"}),
        (phone.prefix + "agent/1/status", {**leg, "CallStatus": "no-answer"}),
        (phone.prefix + "ivr/conference", {**room, "StatusCallbackEvent": "conference-start"}),
        (
            phone.prefix + "ivr/conference",
            {**room, **leg, "StatusCallbackEvent": "participant-join"},
        ),
    ]

    for url, params in [*posts, posts[1], posts[3]]:
        assert phone.post(url, params).status_code == 200

    assert sorted(WebhookEvent.objects.values_list("external_id", flat=True)) == sorted(
        [
            f"{'CA' + '7' * 32}:agent/1/status:ringing",
            f"{'CA' + '7' * 32}:agent/1/status:no-answer",
            f"{'CF' + '1' * 32}:-:conference-start",
            f"{'CF' + '1' * 32}:{'CA' + '7' * 32}:participant-join",
        ]
    )
    assert not VoiceCall.objects.exists()  # a leg Teamline placed is no caller


def test_a_signalwire_inbox_takes_only_webhooks_signed_with_its_signing_key(client, inbox):
    inbox.config = {
        "language": "en",
        "dialect": "signalwire",
        "api_base": "https://nordlys.signalwire.com/api/laml",
    }
    inbox.credentials = {"account_sid": "project", "auth_token": "api-token", "signing_key": "PSK"}
    inbox.save()
    url = f"http://testserver/webhooks/twilio/{inbox.public_id}/"
    params = {"CallSid": "CA1", "From": CALLER, "To": "+4721000000", "CallStatus": "ringing"}

    def post(header: str, key: str):
        signature = sms.twilio_signature(key, url, list(params.items()))
        return client.post(
            url,
            data=urlencode(params),
            content_type="application/x-www-form-urlencoded",
            headers={header: signature},
        )

    # Signed with the API token, or the Twilio header with the signing key: not SignalWire's.
    assert post("X-SignalWire-Signature", "api-token").status_code == 403
    assert post("X-Twilio-Signature", "PSK").status_code == 403
    assert nothing_stored()

    answered = post("X-SignalWire-Signature", "PSK")

    assert answered.status_code == 200
    assert answered["Content-Type"].startswith("text/xml")
    assert WebhookEvent.objects.count() == 1
