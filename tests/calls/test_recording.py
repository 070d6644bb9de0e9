"""Recording a phone call with the PCI pause. A voice inbox that records says so in the IVR's
welcome; when the agent's call connects the provider is asked to record it; the agent pauses
the recording while the customer reads their card number and resumes it after, each on the
timeline; the finished file comes back through the provider's signed callback and is kept as
an internal attachment that only staff of the team can download — never the customer, even
when the provider retries its callback or is down when Teamline fetches the file.

The provider is the fake one (tests/connectors/fake_twiml.py): its REST side is a real HTTP
server on loopback, its webhooks are posted signed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.test import TestCase, override_settings
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from teamline.calls import recording
from teamline.calls.actions import (
    do_accept_call,
    do_end_call,
    do_mark_call_connected,
    do_set_call_held,
)
from teamline.calls.models import Call, RecordingState
from teamline.calls.recording import (
    do_pause_recording,
    do_resume_recording,
    fetch_and_store_recording,
)
from teamline.connectors.admin import InboxForm
from teamline.connectors.models import WebhookEvent
from teamline.connectors.tasks import process_event
from teamline.conversations.models import Inbox, Message, TimelineEvent, TimelineKind
from teamline.conversations.queries import customer_thread
from teamline.core.errors import Forbidden, InvalidInput
from teamline.core.testing import capture_events, create_agent, create_team
from tests.connectors.fake_twiml import FakeTwimlProvider, wav_bytes
from tests.connectors.support import run_tasks

from .recording_support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    asked,
    quiet_phone_control,
    talking,
    voice_inbox,
    voice_provider,
    waiting_call,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def phone_control() -> Iterator[None]:
    with quiet_phone_control():
        yield


@pytest.fixture(autouse=True)
def _webhooks_come_back_to_the_test_server() -> Iterator[None]:
    with override_settings(PUBLIC_URL="http://testserver"):
        yield


@pytest.fixture
def oslo():
    return create_team("Nordlys Oslo")


@pytest.fixture
def kari(oslo):
    return create_agent("kari", team=oslo, presence="available", display_name="Kari Nordmann")


@pytest.fixture
def provider(client, oslo):
    with voice_provider(client, oslo, record=True) as provider:
        yield provider


@pytest.fixture
def inbox(provider):
    return provider.inbox


@pytest.fixture
def rest(provider):
    return provider.rest


def call_rows(call: Call) -> list[dict]:
    return [
        {**row.data, "actor": row.actor.username if row.actor else None}
        for row in TimelineEvent.objects.filter(
            conversation=call.conversation_id, kind=TimelineKind.CALL
        ).order_by("pk")
    ]


def recording_events(call: Call) -> list[str]:
    return [r["event"] for r in call_rows(call) if r["event"].startswith("recording_")]


def provider_callback(
    inbox: Inbox, client, call: Call, status: str = "completed", *, to_call: int = 0, **extra
):
    """The provider posts the recording's status, signed, to the URL Teamline gave it (or, with
    `to_call`, to another call's URL)."""
    phone = FakeTwimlProvider(client, inbox, AUTH_TOKEN)
    params = {
        "AccountSid": ACCOUNT_SID,
        "CallSid": call.provider_call_sid,
        "RecordingSid": call.recording_sid,
        "RecordingUrl": f"{inbox.config['api_base']}/2010-04-01/Accounts/{ACCOUNT_SID}"
        f"/Recordings/{call.recording_sid}",
        "RecordingStatus": status,
        "RecordingDuration": "192",
        "RecordingChannels": "2",
        "RecordingSource": "StartCallRecordingAPI",
        **extra,
    }
    return phone.post(f"{phone.prefix}recording/{to_call or call.pk}", params)


def recordings_of(call: Call) -> list[Message]:
    return list(
        Message.objects.filter(conversation=call.conversation_id, content__has_key="call_recording")
    )


# --- Announced, started ------------------------------------------------------------------------


def test_a_recording_inbox_says_so_in_the_welcome_and_one_that_does_not_stays_quiet(client, oslo):
    recorded = FakeTwimlProvider(client, voice_inbox(oslo, record=True), AUTH_TOKEN)
    quiet = FakeTwimlProvider(client, voice_inbox(oslo), AUTH_TOKEN)
    notice = "This call may be recorded. We pause the recording while you give card details."

    assert recorded.call("+447911123456", inputs=[]).heard[:2] == [
        "Welcome to Nordlys Oslo.",
        notice,
    ]
    assert recorded.call("+4791234567", inputs=[]).heard[1] == (
        "Samtalen kan bli tatt opp. Vi setter opptaket på pause mens du oppgir kortopplysninger."
    )
    assert notice not in quiet.call("+4791234568", inputs=[]).heard


def test_a_connected_call_on_a_recording_inbox_asks_the_provider_to_record_both_sides(
    inbox, kari, rest
):
    call = talking(inbox, kari)

    (start,) = asked(rest, "POST", f"/Calls/{call.provider_call_sid}/Recordings.json")
    assert start["RecordingChannels"] == "dual"
    assert start["RecordingStatusCallback"] == (
        f"http://testserver/webhooks/twilio/{inbox.public_id}/recording/{call.pk}"
    )
    assert "completed" in start["RecordingStatusCallbackEvent"].split()
    assert call.recording_state == RecordingState.RECORDING
    assert call.recording_sid.startswith("RE")
    assert recording_events(call) == ["recording_started"]


def test_calls_of_an_inbox_that_does_not_record_are_not_recorded(inbox, kari, rest):
    inbox.config = {**inbox.config, "record": False}
    inbox.save()

    call = talking(inbox, kari)

    assert rest.requests == []
    assert call.recording_state == RecordingState.OFF


def test_a_recording_the_provider_cannot_start_leaves_the_call_going(inbox, kari, rest):
    rest.down = True

    call = talking(inbox, kari)

    assert call.state == "active"
    assert call.recording_state == RecordingState.OFF
    (failed,) = [r for r in call_rows(call) if r["event"] == "recording_failed"]
    assert "503" in failed["reason"]
    with pytest.raises(InvalidInput, match="not being recorded"):
        do_pause_recording(call, actor=kari)


# --- The PCI pause -----------------------------------------------------------------------------


def test_the_agent_pauses_for_card_details_and_resumes_and_both_are_on_the_timeline(
    inbox, kari, rest
):
    call = talking(inbox, kari)
    path = f"/Calls/{call.provider_call_sid}/Recordings/{call.recording_sid}.json"

    with capture_events(["call.updated"]) as sent:
        call = do_pause_recording(call, actor=kari)
    assert sent[0][0].staff["recording"] == "paused"
    assert asked(rest, "POST", path) == [{"Status": "paused", "PauseBehavior": "skip"}]
    assert call.recording_state == RecordingState.PAUSED

    with pytest.raises(InvalidInput, match="paused already"):
        do_pause_recording(call, actor=kari)  # a double click
    call = do_resume_recording(call, actor=kari)

    assert asked(rest, "POST", path)[-1] == {"Status": "in-progress"}
    assert call.recording_state == RecordingState.RECORDING
    assert call.recording_pauses == 1
    rows = [r for r in call_rows(call) if r["event"] in ("recording_paused", "recording_resumed")]
    assert [(r["event"], r["actor"]) for r in rows] == [
        ("recording_paused", "kari"),
        ("recording_resumed", "kari"),
    ]
    assert all(r["at"] for r in rows)


def test_only_the_agent_on_the_call_or_a_supervisor_of_the_team_may_pause(inbox, oslo, kari):
    call = talking(inbox, kari)
    colleague = create_agent("ola", team=oslo)
    supervisor = create_agent("siri", supervises=oslo)
    other_supervisor = create_agent("bo", supervises=create_team("Bergen"))

    for outsider in (colleague, other_supervisor):
        with pytest.raises(Forbidden, match="agent on the call or a supervisor"):
            do_pause_recording(call, actor=outsider)
    call = do_pause_recording(call, actor=supervisor)

    assert call.recording_state == RecordingState.PAUSED
    assert call_rows(call)[-1]["actor"] == "siri"


def test_a_pause_the_provider_refuses_or_cannot_hear_changes_nothing(inbox, kari, rest):
    call = talking(inbox, kari)
    rest.fail("POST", f"/Recordings/{call.recording_sid}.json", 400, "Recording is not active")

    with pytest.raises(InvalidInput, match=r"not paused: the voice provider said .*not active"):
        do_pause_recording(call, actor=kari)
    rest.down = True
    with pytest.raises(InvalidInput, match="not paused"):
        do_pause_recording(call, actor=kari)

    call.refresh_from_db()
    assert (call.recording_state, call.recording_pauses) == (RecordingState.RECORDING, 0)
    assert recording_events(call) == ["recording_started"]


def test_a_paused_recording_stays_paused_through_hold_until_the_call_ends(inbox, kari, rest):
    call = talking(inbox, kari)
    call = do_pause_recording(call, actor=kari)

    call = do_set_call_held(call, held=True, actor=kari)
    call = do_set_call_held(call, held=False, actor=kari)
    assert call.recording_state == RecordingState.PAUSED
    assert asked(rest, "POST", f"/Recordings/{call.recording_sid}.json") == [
        {"Status": "paused", "PauseBehavior": "skip"}
    ]  # nothing resumed it

    do_end_call(call, reason="the customer hung up")
    call.refresh_from_db()
    assert call.recording_state == RecordingState.STOPPED
    with pytest.raises(InvalidInput, match="ended"):
        do_resume_recording(call, actor=kari)


# --- The file ---------------------------------------------------------------------------------


def finished_call(inbox, kari, *, pause: bool = True) -> Call:
    call = talking(inbox, kari)
    if pause:
        call = do_resume_recording(do_pause_recording(call, actor=kari), actor=kari)
    do_end_call(call, reason="the customer hung up")
    call.refresh_from_db()
    return call


def test_a_completed_recording_retried_by_the_provider_becomes_one_internal_attachment(
    client, inbox, kari, rest, provider
):
    call = finished_call(inbox, kari)

    first = provider_callback(inbox, client, call)
    retries = [provider_callback(inbox, client, call) for _ in range(2)]

    assert [r.status_code for r in [first, *retries]] == [200, 200, 200]
    assert WebhookEvent.objects.filter(external_id__contains=call.recording_sid).count() == 1
    assert DBTaskResult.objects.filter(task_path__endswith="fetch_call_recording").count() == 1
    run_tasks()
    (message,) = recordings_of(call)
    assert message.is_internal
    assert message.text == "Call recording, 3:12, paused once"
    (attachment,) = message.attachments.all()
    assert attachment.content_type == "audio/wav"
    with attachment.file.open("rb") as handle:
        assert handle.read() == provider.recordings[call.recording_sid].media
    assert recording_events(call)[-2:] == ["recording_completed", "recording_stored"]
    assert (
        asked(rest, "DELETE", f"/Recordings/{call.recording_sid}.json") == []
    )  # kept at the provider unless configured


def test_the_recording_is_served_only_to_staff_who_may_see_the_conversation(
    client, inbox, kari, rest, provider, django_capture_on_commit_callbacks
):
    call = finished_call(inbox, kari)
    with capture_events() as sent, django_capture_on_commit_callbacks(execute=True):
        provider_callback(inbox, client, call)
        run_tasks()
    (message,) = recordings_of(call)
    attachment = message.attachments.get()
    url = reverse("desk:attachment", args=[attachment.pk])

    client.force_login(kari)
    page = client.get(reverse("desk:conversation", args=[call.conversation_id])).content.decode()
    assert f'<audio controls preload="none" src="{url}"' in page  # played in the history
    download = client.get(url)
    assert download.status_code == 200
    assert download["Content-Type"] == "audio/wav"
    assert b"".join(download.streaming_content) == provider.recordings[call.recording_sid].media

    client.force_login(create_agent("bjorn", team=create_team("Bergen")))
    assert client.get(url).status_code == 404

    # The customer's widget: not in their thread, never on their socket.
    assert message not in customer_thread(call.customer_id)
    created = [(e, r) for e, r in sent if str(e.type) == "message.created"]
    assert created and all(e.customer is None and not r.customer for e, r in created)


def test_a_provider_down_while_fetching_is_asked_again_later_and_nothing_is_lost(
    client, inbox, kari, rest
):
    call = finished_call(inbox, kari, pause=False)
    provider_callback(inbox, client, call)
    rest.down = True

    run_tasks()  # the first attempt fails; the next one waits its backoff

    assert recordings_of(call) == []
    (later,) = DBTaskResult.objects.filter(
        status="READY", task_path__endswith="fetch_call_recording"
    )
    assert later.run_after > timezone.now()
    assert later.args_kwargs["args"][-1] == 2  # the second attempt

    rest.down = False
    DBTaskResult.objects.filter(pk=later.pk).update(run_after=timezone.now() - timedelta(seconds=1))
    run_tasks()

    (message,) = recordings_of(call)
    assert message.text == "Call recording, 3:12, not paused"
    assert "recording_fetch_failed" not in recording_events(call)


def test_a_recording_that_cannot_be_fetched_is_on_the_timeline(
    client, inbox, kari, rest, provider, settings
):
    settings.TEAMLINE = {**settings.TEAMLINE, "RECORDING_MAX_BYTES": 1000}
    call = finished_call(inbox, kari, pause=False)
    provider.recordings[call.recording_sid].media = wav_bytes(1.0)  # 32 kB: over the limit

    provider_callback(inbox, client, call)
    run_tasks()

    assert recordings_of(call) == []
    failed = [r for r in call_rows(call) if r["event"] == "recording_fetch_failed"]
    assert len(failed) == 1 and "too large" in failed[0]["reason"]


def test_an_inbox_may_have_the_provider_delete_its_copy_once_stored(client, inbox, kari, provider):
    inbox.config = {**inbox.config, "delete_after_download": True}
    inbox.save()
    call = finished_call(inbox, kari, pause=False)

    provider_callback(inbox, client, call)
    run_tasks()

    assert len(recordings_of(call)) == 1
    assert provider.recordings[call.recording_sid].deleted
    assert recording_events(call)[-1] == "recording_deleted_at_provider"


def test_a_recording_without_audio_is_on_the_timeline_and_fetches_nothing(
    client, inbox, kari, rest
):
    call = finished_call(inbox, kari, pause=False)

    provider_callback(inbox, client, call, status="absent")
    run_tasks()

    assert recordings_of(call) == []
    assert recording_events(call)[-1] == "recording_absent"
    assert asked(rest, "GET", f"/Recordings/{call.recording_sid}.wav") == []


@pytest.mark.parametrize("how", ["forged", "unsigned"])
def test_a_forged_recording_callback_is_refused_and_nothing_is_stored(
    client, inbox, kari, rest, how
):
    call = finished_call(inbox, kari, pause=False)
    phone = FakeTwimlProvider(client, inbox, "not-the-auth-token" if how == "forged" else "")
    params = {
        "AccountSid": ACCOUNT_SID,
        "CallSid": call.provider_call_sid,
        "RecordingSid": call.recording_sid,
        "RecordingUrl": f"{rest.root}/Recordings/{call.recording_sid}",
        "RecordingStatus": "completed",
    }

    response = phone.post(
        f"{phone.prefix}recording/{call.pk}", params, signature=None if how == "forged" else ""
    )

    assert response.status_code == 403
    assert not WebhookEvent.objects.filter(external_id__contains="recording").exists()
    call.refresh_from_db()
    assert call.recording_status == ""
    assert not DBTaskResult.objects.filter(task_path__endswith="fetch_call_recording").exists()


def test_a_callback_naming_another_call_of_the_inbox_changes_nothing(client, inbox, kari, rest):
    call = finished_call(inbox, kari, pause=False)
    other = waiting_call(inbox)

    response = provider_callback(inbox, client, call, to_call=other.pk)

    assert response.status_code == 200
    other.refresh_from_db()
    call.refresh_from_db()
    assert other.recording_status == call.recording_status == ""
    assert recordings_of(call) == []


def test_a_fetch_run_twice_by_a_restarted_worker_keeps_one_file(client, inbox, kari, rest):
    call = finished_call(inbox, kari, pause=False)
    provider_callback(inbox, client, call)
    media_url = f"{rest.root}/Recordings/{call.recording_sid}"

    first = fetch_and_store_recording(call.pk, call.recording_sid, media_url, 192, 1)
    again = fetch_and_store_recording(call.pk, call.recording_sid, media_url, 192, 1)

    assert (first, again) == ("stored", "stored")
    assert len(recordings_of(call)) == 1
    assert len(asked(rest, "GET", f"/Recordings/{call.recording_sid}.wav")) == 1


def test_a_stored_callback_whose_answer_failed_is_acted_on_when_replayed(
    client, inbox, kari, rest, monkeypatch
):
    call = finished_call(inbox, kari, pause=False)

    def outage(*args, **kwargs):
        raise RuntimeError("the database went away mid-answer")

    monkeypatch.setattr(recording, "do_record_recording_status", outage)
    with pytest.raises(RuntimeError):
        provider_callback(inbox, client, call)
    monkeypatch.undo()
    (event,) = WebhookEvent.objects.filter(external_id__contains=call.recording_sid)

    process_event(event.pk, force=True)
    run_tasks()

    assert len(recordings_of(call)) == 1


def test_the_recording_is_asked_for_once_the_connect_commits_not_inside_it(inbox, kari, rest):
    call = waiting_call(inbox)
    accepted = do_accept_call(call, actor=kari)

    with TestCase.captureOnCommitCallbacks(execute=False) as pending:
        do_mark_call_connected(accepted)
        assert rest.requests == []  # no provider round trip with the transaction open
    for callback in pending:
        callback()

    assert len(asked(rest, "POST", "/Recordings.json")) == 1


def test_a_callback_without_a_media_url_fetches_the_recordings_own_resource(
    client, inbox, kari, rest
):
    call = finished_call(inbox, kari, pause=False)

    provider_callback(inbox, client, call, RecordingUrl="")
    run_tasks()

    assert len(recordings_of(call)) == 1
    assert asked(rest, "GET", f"/Recordings/{call.recording_sid}.wav") == [{}]


def test_query_budget_of_the_recording_callback(
    client, inbox, kari, rest, django_assert_max_num_queries
):
    call = finished_call(inbox, kari, pause=False)

    with django_assert_max_num_queries(12) as first:
        provider_callback(inbox, client, call)
    with django_assert_max_num_queries(7) as retry:
        provider_callback(inbox, client, call)

    assert len(retry.captured_queries) < len(first.captured_queries)


@pytest.mark.integration
def test_a_callback_with_nul_characters_is_answered_not_a_500(client, inbox, kari, rest):
    call = finished_call(inbox, kari, pause=False)

    response = provider_callback(inbox, client, call, status="failed", ErrorCode="13\x00617")

    assert response.status_code == 200
    (failed,) = [r for r in call_rows(call) if r["event"] == "recording_failed"]
    assert failed["reason"] == "the provider could not record the call (error 13617)"


@pytest.mark.parametrize(
    "config", [{"record": "yes"}, {"record": True, "delete_after_download": 1}]
)
def test_the_admin_form_refuses_a_recording_setting_that_is_not_true_or_false(oslo, config):
    form = InboxForm(
        data={
            "name": "Nordlys phone",
            "kind": "voice",
            "default_team": oslo.pk,
            "config": json.dumps(config),
            "is_active": True,
        }
    )

    assert not form.is_valid()
    assert any("must be true or false" in message for message in form.errors["config"])


def test_the_admin_form_takes_recording_with_deletion_after_download(oslo):
    form = InboxForm(
        data={
            "name": "Nordlys phone",
            "kind": "voice",
            "default_team": oslo.pk,
            "config": json.dumps({"record": True, "delete_after_download": True}),
            "is_active": True,
            "secret": "webhook-secret",
        }
    )

    assert form.is_valid(), form.errors
