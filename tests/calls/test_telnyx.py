"""A brand whose phone numbers are at Telnyx: the inbox says "dialect": "telnyx", and the same
IVR, bridge and recording work through Telnyx's TeXML. Teamline talks to its REST API with the
API key as a Bearer token and JSON bodies (flags as JSON booleans, calls placed through the
TeXML application, the new call's id read from "call_sid"), and believes a webhook only when
its Ed25519 signature over the timestamped body is the account's: forged, unsigned, stale or
Twilio-signed requests are refused with nothing stored.

The fake provider (tests/connectors/fake_twiml.py) in its Telnyx mode refuses what Telnyx
would: basic auth, form bodies, Twilio's ".json" paths, a call without the application."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import unquote, urlencode

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.test import TestCase

from teamline.accounts.actions import do_set_call_endpoint
from teamline.accounts.models import AgentProfile
from teamline.calls.actions import do_accept_call, do_set_call_held, do_set_call_muted
from teamline.calls.models import Call, CallState, RecordingState
from teamline.calls.queries import ringing_calls_for
from teamline.calls.recording import do_pause_recording, do_resume_recording
from teamline.connectors.admin import InboxForm
from teamline.connectors.models import WebhookEvent
from teamline.connectors.sms import twilio_signature
from teamline.conversations.models import Inbox, Message
from teamline.core.errors import InvalidInput
from teamline.core.testing import create_agent, create_customer
from teamline.customers.actions import do_add_identity
from teamline.selfservice.models import VoiceCall
from tests.connectors.fake_twiml import FakeTwimlProvider
from tests.connectors.support import run_tasks

from .phone_world import BRAND_NUMBER

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("_public_url")]

ACCOUNT = "3fa85f64-5717-4562-b3fc-2c963f66afa6"  # Telnyx's organisation id
API_KEY = "KEY0190ABCDEF_telnyx-api-key"
APPLICATION = "1493094728493759"
NORA = "+4791234567"
KARI_PHONE = "+4790000009"


def public_key_of(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


@pytest.fixture
def signing_key():
    return Ed25519PrivateKey.generate()


@pytest.fixture
def telnyx(client, oslo, signing_key):
    inbox = Inbox(
        name="Nordlys phone (Telnyx)",
        kind="voice",
        default_team=oslo,
        config={
            "language": "en",
            "from_number": BRAND_NUMBER,
            "dialect": "telnyx",
            "application_sid": APPLICATION,
            "record": True,
        },
    )
    inbox.credentials = {
        "account_sid": ACCOUNT,
        "api_key": API_KEY,
        "public_key": public_key_of(signing_key),
    }
    inbox.save()
    provider = FakeTwimlProvider(
        client,
        inbox,
        "",
        account_sid=ACCOUNT,
        dialect="telnyx",
        telnyx_key=signing_key,
        api_key=API_KEY,
        application_sid=APPLICATION,
    )
    rest = provider.start_rest()
    inbox.config = {**inbox.config, "api_base": rest.api_base}
    inbox.save()
    yield provider
    provider.stop_rest()


@pytest.fixture
def kari(oslo):
    user = create_agent("kari", team=oslo, presence="available", capacity={"voice": 1})
    AgentProfile.objects.filter(user=user).update(languages=["en"], wrap_up_seconds=60)
    do_set_call_endpoint(user, phone_number=KARI_PHONE, call_via="phone", actor=user)
    return user


def nora_calls(telnyx, oslo):
    customer = create_customer(team=oslo, preferred_language="en", name="Nora")
    do_add_identity(customer, "phone", NORA, verified=True)
    return telnyx.call(NORA, inputs=["0"])


def json_sent(rest, method: str, path: str) -> list[dict]:
    """The JSON bodies of Teamline's requests to exactly `path` (under the account)."""
    made = [r for r in rest.requests if r.method == method and unquote(r.path) == path]
    assert all(r.content_type == "application/json" for r in made if r.method == "POST")
    return [r.body for r in made]


@pytest.mark.integration
def test_a_telnyx_caller_is_bridged_held_muted_and_recorded_with_a_card_pause(telnyx, oslo, kari):
    rest = telnyx.rest
    caller = nora_calls(telnyx, oslo)
    live = Call.objects.get(provider_call_sid=caller.sid)
    assert list(ringing_calls_for(kari)) == [live]

    do_accept_call(live, actor=kari)

    prefix = telnyx.prefix
    assert json_sent(rest, "POST", f"/Calls/{caller.sid}") == [
        {"Url": prefix + "ivr/bridge", "Method": "POST"}
    ]
    assert json_sent(rest, "POST", "/Calls") == [
        {
            "To": KARI_PHONE,
            "From": BRAND_NUMBER,
            "Url": prefix + f"agent/{live.pk}",
            "StatusCallback": prefix + f"agent/{live.pk}/status",
            "StatusCallbackMethod": "POST",
            "StatusCallbackEvent": "initiated ringing answered completed",
            "ApplicationSid": APPLICATION,
            "UrlMethod": "POST",
        }
    ]
    with TestCase.captureOnCommitCallbacks(execute=True):
        telnyx.settle()  # Telnyx redirects Nora into the room and rings Kari, who answers

    live.refresh_from_db()
    (leg,) = [sid for sid, call in telnyx.legs.items() if call.direction == "outbound-api"]
    assert (live.state, live.agent_call_sid) == (CallState.ACTIVE, leg)  # read from call_sid
    assert live.recording_state == RecordingState.RECORDING
    (start,) = json_sent(rest, "POST", f"/Calls/{caller.sid}/Recordings.json")
    assert (start["RecordingChannels"], start["SendRecordingUrl"]) == ("dual", True)

    room = live.conference_name
    live = do_set_call_held(live, held=True, actor=kari)
    live = do_set_call_held(live, held=False, actor=kari)
    live = do_set_call_muted(live, muted=True, actor=kari)
    assert json_sent(
        rest, "POST", f"/Conferences/{live.conference_sid}/Participants/{caller.sid}"
    ) == [
        {"Hold": True},
        {"Hold": False},
    ]
    assert telnyx.participant(room, leg).muted
    lookups = [r for r in rest.requests if r.method == "GET" and unquote(r.path) == "/Conferences"]
    assert lookups and lookups[0].query == {"FriendlyName": room, "Status": "in-progress"}

    live = do_pause_recording(live, actor=kari)  # Nora reads her card number
    live = do_resume_recording(live, actor=kari)
    recording = telnyx.recordings[live.recording_sid]
    assert recording.updates == [{"Status": "paused"}, {"Status": "in-progress"}]

    caller.hang_up()  # Telnyx finishes the file and posts the signed recording callback
    run_tasks()  # the file is fetched with the API key, from the URL the callback named

    live.refresh_from_db()
    assert (live.state, live.recording_state) == (CallState.ENDED, RecordingState.STOPPED)
    (message,) = Message.objects.filter(conversation=live.conversation_id, is_internal=True)
    assert message.text == "Call recording, 3:12, paused once"
    (attachment,) = message.attachments.all()
    assert attachment.content_type == "audio/wav"
    (fetch,) = [r for r in rest.requests if r.method == "GET" and r.path.endswith(".wav")]
    assert unquote(fetch.path) == f"/Recordings/{recording.sid}.wav"


def test_telnyx_refusing_a_call_is_said_in_its_own_words(telnyx, oslo, kari):
    caller = nora_calls(telnyx, oslo)
    live = Call.objects.get(provider_call_sid=caller.sid)
    telnyx.rest.fail("POST", "/Calls", 422, "The destination number is not allowed")

    with pytest.raises(InvalidInput) as refused:
        do_accept_call(live, actor=kari)

    assert str(refused.value) == (
        "The phone provider refused to connect the call "
        "(voice provider HTTP 422: The destination number is not allowed)."
    )


@pytest.mark.integration
def test_a_webhook_not_signed_by_the_telnyx_account_is_refused_and_nothing_is_stored(
    client, telnyx
):
    url = telnyx.prefix
    params = {
        "AccountSid": ACCOUNT,
        "CallSid": "v3:forged-call",
        "From": NORA,
        "To": BRAND_NUMBER,
        "CallStatus": "ringing",
        "Direction": "inbound",
    }
    body = urlencode(params)
    stranger = Ed25519PrivateKey.generate()
    stamp = str(int(time.time()))
    by_stranger = base64.b64encode(stranger.sign(f"{stamp}|{body}".encode())).decode()
    genuine_headers = telnyx.telnyx_headers(body.encode())

    refused = [
        telnyx.post(url, params, signature=""),  # unsigned
        telnyx.post(url, params, signature=base64.b64encode(b"x" * 64).decode()),  # forged
        telnyx.post(url, params, signature=by_stranger, timestamp=int(stamp)),  # another key
        telnyx.post(url, params, timestamp=int(time.time()) - 600),  # ten minutes old
        telnyx.post(url, params, timestamp=int(time.time()) + 600),  # from the future
        # Signed for one body, sent with another (the caller's number changed).
        client.post(
            url,
            data=urlencode({**params, "From": "+4799999999"}),
            content_type="application/x-www-form-urlencoded",
            headers=genuine_headers,
        ),
        # Signed the Twilio way: a Telnyx inbox does not take it.
        client.post(
            url,
            data=body,
            content_type="application/x-www-form-urlencoded",
            headers={"X-Twilio-Signature": twilio_signature(API_KEY, url, list(params.items()))},
        ),
    ]

    assert [r.status_code for r in refused] == [403] * 7
    assert WebhookEvent.objects.count() == 0
    assert VoiceCall.objects.count() == 0

    # The same request, genuinely signed, is answered; Telnyx retrying it changes nothing.
    answered = telnyx.post(url, params)
    again = client.post(
        url,
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers=genuine_headers,
    )
    assert (answered.status_code, again.status_code) == (200, 200)
    assert again.content == answered.content
    assert (WebhookEvent.objects.count(), VoiceCall.objects.count()) == (1, 1)


def form(oslo, config: dict, credentials: dict | None) -> InboxForm:
    data = {
        "name": "Nordlys phone",
        "kind": "voice",
        "default_team": oslo.pk,
        "config": json.dumps(config),
        "is_active": True,
        "secret": "webhook-secret",
    }
    if credentials is not None:
        data["new_credentials"] = json.dumps(credentials)
    return InboxForm(data=data)


GOOD_TELNYX = {"account_sid": ACCOUNT, "api_key": API_KEY, "public_key": "A" * 43 + "="}


@pytest.mark.parametrize(
    ("config", "credentials", "field", "message"),
    [
        (
            {"dialect": "plivo"},
            None,
            "config",
            "dialect must be one of twilio, signalwire, telnyx.",
        ),
        (
            {"dialect": "telnyx"},
            GOOD_TELNYX,
            "config",
            'A Telnyx inbox needs "application_sid": the id of the TeXML application that '
            "places its calls.",
        ),
        (
            {"dialect": "telnyx", "application_sid": APPLICATION},
            {"account_sid": ACCOUNT, "auth_token": "t"},
            "new_credentials",
            "A telnyx voice inbox needs the credentials api_key, public_key "
            "(it has account_sid, auth_token).",
        ),
        (
            {"dialect": "telnyx", "application_sid": APPLICATION},
            {**GOOD_TELNYX, "public_key": "c2hvcnQ="},
            "new_credentials",
            "public_key must be a 32-byte Ed25519 key, not 5 bytes.",
        ),
        (
            {"dialect": "signalwire"},
            {"account_sid": "p", "auth_token": "t", "signing_key": "k"},
            "config",
            'A SignalWire inbox needs "api_base": "https://<your space>.signalwire.com/api/laml".',
        ),
        (
            {"dialect": "signalwire", "api_base": "https://nordlys.signalwire.com/api/laml"},
            {"account_sid": "p", "auth_token": "t"},
            "new_credentials",
            "A signalwire voice inbox needs the credentials signing_key "
            "(it has account_sid, auth_token).",
        ),
        (
            {},
            {"account_sid": "AC1"},
            "new_credentials",
            "A twilio voice inbox needs the credentials auth_token (it has account_sid).",
        ),
    ],
)
def test_the_admin_form_says_what_a_voice_inbox_lacks_for_its_provider(
    oslo, config, credentials, field, message
):
    refused = form(oslo, config, credentials)

    assert not refused.is_valid()
    assert message in refused.errors[field]


def test_the_admin_form_takes_a_complete_telnyx_inbox(oslo):
    taken = form(oslo, {"dialect": "telnyx", "application_sid": APPLICATION}, GOOD_TELNYX)

    assert taken.is_valid(), taken.errors
