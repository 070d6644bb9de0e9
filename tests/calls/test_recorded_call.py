"""A whole recorded phone call, end to end against the fake provider: the caller hears that the
call may be recorded, asks for their team, Kari accepts and is bridged through the call's
conference room; the moment both are in, the provider is asked to record; Kari pauses while
Nora reads her card number and resumes after; Nora hangs up, the provider posts the finished
recording (and retries it), and the file becomes one staff-only attachment Kari can play."""

from __future__ import annotations

import pytest
from django.test import TestCase
from django.urls import reverse

from teamline.accounts.actions import do_set_call_endpoint
from teamline.accounts.models import AgentProfile
from teamline.calls.actions import do_accept_call
from teamline.calls.models import Call, CallState, RecordingState
from teamline.calls.recording import do_pause_recording, do_resume_recording
from teamline.conversations.models import Message, TimelineEvent, TimelineKind
from teamline.core.testing import create_agent, create_customer, create_team
from teamline.customers.actions import do_add_identity
from tests.connectors.support import run_tasks

from .recording_support import asked, voice_provider

pytestmark = pytest.mark.django_db

NORA = "+4791234567"
KARI_PHONE = "+4790000009"


@pytest.fixture(autouse=True)
def _public_url(settings):
    settings.PUBLIC_URL = "http://testserver"  # the provider posts back to the test client


def test_a_recorded_call_from_the_ivr_to_the_file_kari_plays(client):
    oslo = create_team("Nordlys Oslo", region="Oslo")
    kari = create_agent("kari", team=oslo, presence="available", capacity={"voice": 1})
    AgentProfile.objects.filter(user=kari).update(languages=["en"])
    do_set_call_endpoint(kari, phone_number=KARI_PHONE, call_via="phone", actor=kari)
    nora = create_customer(team=oslo, preferred_language="en", name="Nora")
    do_add_identity(nora, "phone", NORA, verified=True)

    with voice_provider(client, oslo, record=True, from_number="+4721000000") as phone:
        rest = phone.rest
        caller = phone.call(NORA, inputs=["0"])
        assert caller.heard[1] == (
            "This call may be recorded. We pause the recording while you give card details."
        )
        live = Call.objects.get(provider_call_sid=caller.sid)

        do_accept_call(live, actor=kari)
        # The provider bridges both legs; the room's events connect the call, and the
        # recording is asked for once that commits (as at the end of the webhook's request).
        with TestCase.captureOnCommitCallbacks(execute=True):
            phone.settle()

        live.refresh_from_db()
        assert live.state == CallState.ACTIVE
        assert live.recording_state == RecordingState.RECORDING
        (start,) = asked(rest, "POST", f"/Calls/{caller.sid}/Recordings.json")
        assert start["RecordingChannels"] == "dual"
        recording = phone.recordings[live.recording_sid]

        live = do_pause_recording(live, actor=kari)
        assert recording.status == "paused"
        live = do_resume_recording(live, actor=kari)
        assert recording.updates == [
            {"Status": "paused", "PauseBehavior": "skip"},
            {"Status": "in-progress"},
        ]

        caller.hang_up()  # the provider finishes the file and posts its status callback
        phone.post(recording.callback, phone.recording_params(recording))  # and retries it
        run_tasks()

    live.refresh_from_db()
    assert (live.state, live.recording_state) == (CallState.ENDED, RecordingState.STOPPED)
    (message,) = Message.objects.filter(conversation=live.conversation_id, is_internal=True)
    assert message.text == "Call recording, 3:12, paused once"
    (attachment,) = message.attachments.all()
    events = [
        row.data["event"]
        for row in TimelineEvent.objects.filter(
            conversation=live.conversation_id, kind=TimelineKind.CALL
        ).order_by("pk")
    ]
    assert events == [
        "waiting",
        "accepted",
        "connected",
        "recording_started",
        "recording_paused",
        "recording_resumed",
        "ended",
        "recording_completed",
        "recording_stored",
    ]

    client.force_login(kari)
    played = client.get(reverse("desk:attachment", args=[attachment.pk]))
    assert (played.status_code, played["Content-Type"]) == (200, "audio/wav")
    assert b"".join(played.streaming_content) == recording.media
