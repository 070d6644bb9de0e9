"""Phone calls waiting in a team's queue, as the IVR puts them there, for the call tests."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from django.utils import timezone

from teamline.calls.actions import do_open_call
from teamline.calls.control import _controls, provide_control
from teamline.calls.models import Call, CallMedium
from teamline.connectors.voice import CallRequest
from teamline.conversations.models import Inbox
from teamline.customers.actions import do_add_identity
from teamline.customers.models import Customer
from teamline.selfservice.actions import do_queue_call, do_start_call
from teamline.teams.models import Team

_sids = itertools.count(1)


def voice_inbox(team: Team) -> Inbox:
    inbox = Inbox(name="Phone", kind="voice", default_team=team, config={"language": "en"})
    inbox.credentials = {"account_sid": "AC" + "0" * 32, "auth_token": "token-0123456789"}
    inbox.save()
    return inbox


def phone_call(
    inbox: Inbox, customer: Customer, number: str, *, now: datetime | None = None
) -> Call:
    """`customer` calls from `number`, presses 0 for their team: the conversation waits as
    voice work (routed at once) and its call is open, waiting."""
    now = now or timezone.now()
    do_add_identity(customer, "phone", number, verified=True)
    sid = f"CA{next(_sids):032d}"
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
    return Call.objects.select_related("conversation", "customer").get(pk=call.pk)


class RecordingControl:
    """A phone control that remembers what it was asked (the provider's side is voice-phone's
    calls/phone.py; here only the calls app's decisions are under test)."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, int]] = []

    def accepted(self, call: Call) -> None:
        self.asked.append(("accepted", call.pk))

    def released(self, call: Call) -> None:
        self.asked.append(("released", call.pk))

    def held(self, call: Call, *, held: bool) -> None:
        self.asked.append(("held" if held else "resumed", call.pk))

    def muted(self, call: Call, *, muted: bool) -> None:
        self.asked.append(("muted" if muted else "unmuted", call.pk))

    def hang_up(self, call: Call) -> None:
        self.asked.append(("hang_up", call.pk))


@contextmanager
def recording_phone_control() -> Iterator[RecordingControl]:
    previous = _controls.get(CallMedium.PHONE)
    control = RecordingControl()
    provide_control(CallMedium.PHONE, control)
    try:
        yield control
    finally:
        if previous is None:
            _controls.pop(CallMedium.PHONE, None)
        else:
            provide_control(CallMedium.PHONE, previous)
