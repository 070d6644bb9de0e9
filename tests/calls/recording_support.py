"""Recorded phone calls for the recording tests (calls and desk): a voice inbox whose provider is
the fake one (tests/connectors/fake_twiml.py) with its REST side on loopback, a caller waiting
in line, the agent talking."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager

from django.test import TestCase
from django.utils import timezone

from teamline.calls.actions import do_accept_call, do_mark_call_connected, do_open_call
from teamline.calls.control import _controls, provide_control
from teamline.calls.models import Call, CallMedium
from teamline.connectors.voice import CallRequest
from teamline.conversations.models import Inbox
from teamline.core.testing import create_customer
from teamline.customers.actions import do_add_identity
from teamline.selfservice.actions import do_queue_call, do_start_call
from tests.connectors.fake_twiml import FakeTwimlProvider, LoopbackRest

AUTH_TOKEN = "voice-auth-token-0123456789"
ACCOUNT_SID = "AC" + "0" * 32
_numbers = itertools.count(1)


class QuietPhoneControl:
    """The phone's bridging is not under test here: accepting, holding and hanging up do
    nothing at the provider."""

    def accepted(self, call: Call) -> None: ...
    def released(self, call: Call) -> None: ...
    def held(self, call: Call, *, held: bool) -> None: ...
    def muted(self, call: Call, *, muted: bool) -> None: ...
    def hang_up(self, call: Call) -> None: ...


@contextmanager
def quiet_phone_control() -> Iterator[None]:
    previous = _controls.get(CallMedium.PHONE)
    provide_control(CallMedium.PHONE, QuietPhoneControl())
    try:
        yield
    finally:
        if previous is None:
            _controls.pop(CallMedium.PHONE, None)
        else:
            provide_control(CallMedium.PHONE, previous)


def voice_inbox(team, rest: LoopbackRest | None = None, **config) -> Inbox:
    inbox = Inbox(
        name="Nordlys phone",
        kind="voice",
        default_team=team,
        config={"language": "en", **({"api_base": rest.url} if rest else {}), **config},
    )
    inbox.credentials = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}
    inbox.save()
    return inbox


@contextmanager
def voice_provider(client, team, **config) -> Iterator[FakeTwimlProvider]:
    """A voice inbox of `team` (config as given) and its fake provider, REST side running."""
    provider = FakeTwimlProvider(client, voice_inbox(team, **config), AUTH_TOKEN)
    rest = provider.start_rest()
    provider.inbox.config = {**provider.inbox.config, "api_base": rest.url}
    provider.inbox.save()
    try:
        yield provider
    finally:
        provider.stop_rest()


def asked(rest: LoopbackRest, method: str, path_end: str) -> list[dict[str, str]]:
    """The forms Teamline sent with its `method` requests whose path ends with `path_end`."""
    return [r.form for r in rest.made(method, path_end)]


def waiting_call(inbox: Inbox) -> Call:
    """A customer called, pressed 0 and waits; routing assigned the conversation."""
    number = f"+479{next(_numbers):07d}"
    customer = create_customer(team=inbox.default_team, name="Nora")
    do_add_identity(customer, "phone", number, verified=True)
    sid = f"CA{next(_numbers):032d}"
    now = timezone.now()
    voice_call = do_start_call(
        inbox, CallRequest(call_sid=sid, caller=number, called="+4722000000", step=""), now=now
    )
    conversation = do_queue_call(voice_call, now=now)
    voice_call.refresh_from_db()
    call = do_open_call(
        conversation,
        medium=CallMedium.PHONE,
        inbox=inbox,
        provider_call_sid=sid,
        work_item_id=voice_call.work_item_id,
        now=now,
    )
    return Call.objects.select_related("conversation", "inbox").get(pk=call.pk)


def talking(inbox: Inbox, agent) -> Call:
    """The agent accepted and the provider bridged the call (the recording started, when the
    inbox records)."""
    call = waiting_call(inbox)
    assert call.conversation.assignee_id == agent.pk
    # The recording starts once the connect commits, as it would at the end of the request.
    with TestCase.captureOnCommitCallbacks(execute=True):
        do_mark_call_connected(do_accept_call(call, actor=agent))
    return Call.objects.select_related("conversation", "inbox").get(pk=call.pk)
