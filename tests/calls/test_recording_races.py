"""Races, in real transactions (also on PostgreSQL): the provider posting the same finished
recording twice at once fetches it once, and the agent and a supervisor pressing "Pause
recording" at the same moment pause it once — the provider is asked once and the other is told
it is paused already."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import close_old_connections
from django.test import Client
from django_tasks_db.models import DBTaskResult

from teamline.calls.actions import do_end_call
from teamline.calls.models import Call, RecordingState
from teamline.calls.recording import do_pause_recording
from teamline.connectors.models import WebhookEvent
from teamline.core.errors import InvalidInput
from teamline.core.testing import create_agent, create_team
from tests.connectors.fake_twiml import FakeTwimlProvider

from .recording_support import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    asked,
    quiet_phone_control,
    talking,
    voice_provider,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _quiet(settings) -> Iterator[None]:
    settings.PUBLIC_URL = "http://testserver"
    with quiet_phone_control():
        yield


@pytest.fixture
def oslo():
    return create_team("Oslo")


@pytest.fixture
def provider(oslo):
    with voice_provider(Client(), oslo, record=True) as provider:
        yield provider


def at_once(*work: Callable[[], Any]) -> list[Any]:
    """Run each callable in its own thread (its own database connection), released together;
    returns what each returned or raised."""
    start = threading.Barrier(len(work))
    results: list[Any] = [None] * len(work)

    def run(index: int, job: Callable[[], Any]) -> None:
        try:
            start.wait()
            results[index] = job()
        except Exception as exc:
            results[index] = exc
        finally:
            close_old_connections()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(work)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_the_same_finished_recording_posted_twice_at_once_is_fetched_once(oslo, provider):
    kari = create_agent("kari", team=oslo, presence="available")
    inbox = provider.inbox
    call = talking(inbox, kari)
    do_end_call(call, reason="the customer hung up")
    params = {
        "AccountSid": ACCOUNT_SID,
        "CallSid": call.provider_call_sid,
        "RecordingSid": call.recording_sid,
        "RecordingUrl": f"{provider.rest.root}/Recordings/{call.recording_sid}",
        "RecordingStatus": "completed",
        "RecordingDuration": "61",
    }

    def provider_posts() -> int:
        phone = FakeTwimlProvider(Client(), inbox, AUTH_TOKEN)
        return phone.post(f"{phone.prefix}recording/{call.pk}", params).status_code

    assert at_once(provider_posts, provider_posts) == [200, 200]
    assert WebhookEvent.objects.filter(external_id__contains=call.recording_sid).count() == 1
    assert DBTaskResult.objects.filter(task_path__endswith="fetch_call_recording").count() == 1


def test_the_agent_and_a_supervisor_pausing_at_once_pause_it_once(oslo, provider):
    kari = create_agent("kari", team=oslo, presence="available")
    siri = create_agent("siri", supervises=oslo)
    call = talking(provider.inbox, kari)

    results = at_once(
        lambda: do_pause_recording(call, actor=kari),
        lambda: do_pause_recording(call, actor=siri),
    )

    paused = [r for r in results if isinstance(r, Call)]
    refused = [r for r in results if isinstance(r, InvalidInput)]
    assert (len(paused), len(refused)) == (1, 1), results
    assert refused[0].message == "The recording is paused already."
    assert len(asked(provider.rest, "POST", f"/Recordings/{call.recording_sid}.json")) == 1
    call.refresh_from_db()
    assert (call.recording_state, call.recording_pauses) == (RecordingState.PAUSED, 1)
