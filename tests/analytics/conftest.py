"""A known day of contacts at team Oslo (Europe/Oslo), driven through the real entry points
with an injected clock: customer messages, routing, replies, resolutions, a transfer to
Bergen, a browser call and survey answers. docs/analytics.md defines what each figure means;
the tests assert them against the hand-computed values in the comments."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
import time_machine

from teamline.accounts.models import AgentProfile
from teamline.analytics.actions import record_survey
from teamline.calls.actions import do_accept_call, do_end_call, do_mark_call_connected
from teamline.calls.browser import do_start_browser_call
from teamline.conversations.actions import do_change_status
from teamline.conversations.replies import do_send_reply
from teamline.core.testing import (
    create_agent,
    create_customer,
    create_inbox,
    create_team,
    create_user,
    customer_says,
)
from teamline.routing.transfers import do_transfer_conversation

CAPACITY = {"chat": 5, "email": 5, "voice": 1}


def utc(day: int, hour: int, minute: int, second: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[Callable[[datetime], None]]:
    with time_machine.travel(utc(1, 0, 0), tick=False) as traveller:
        yield traveller.move_to


@pytest.fixture
def centre(clock) -> SimpleNamespace:
    oslo = create_team("Oslo", timezone="Europe/Oslo")
    bergen = create_team("Bergen", timezone="Europe/Oslo")
    inbox = create_inbox(oslo, name="Nordlys chat")
    create_inbox(bergen, name="Bergen chat")
    kari = create_agent("kari", team=oslo, presence="available", capacity=CAPACITY)
    ola = create_agent("ola", team=bergen, presence="available", capacity=CAPACITY)
    AgentProfile.objects.filter(user=kari).update(wrap_up_seconds=30)
    siv = create_user("siv", role="supervisor", supervises=oslo)
    return SimpleNamespace(
        oslo=oslo, bergen=bergen, inbox=inbox, kari=kari, ola=ola, siv=siv, customers={}
    )


def writes(centre: SimpleNamespace, name: str, text: str = "Hello") -> Any:
    customer = centre.customers.get(name)
    if customer is None:
        customer = centre.customers[name] = create_customer(team=centre.oslo, name=name)
    message, _ = customer_says(customer, text, inbox=centre.inbox)
    conversation = message.conversation
    conversation.refresh_from_db()
    return conversation


@pytest.fixture
def day(centre, clock) -> SimpleNamespace:
    """Tuesday 10 March 2026 (CET, UTC+1); times below in UTC.

    A 09:00:00 offered, 09:00:45 answered by Kari (45 s ≤ 60), 09:05:45 resolved (300 s)
    B 09:02:00 offered, 09:03:30 answered (90 s > 60), 09:13:30 resolved (600 s)
    C 09:05:00 offered, 09:05:03 resolved without an answer: abandoned within 5 s
    D 09:20:00 offered, 09:30:00 resolved without an answer: abandoned after 600 s
    E 09:40:00 offered, 09:40:30 answered (30 s), 09:45:00 transferred to Bergen (handled
      270 s in Oslo); Bergen: offered 09:45:00, Ola answers 09:46:00 (60 s ≤ 60), resolved
      09:50:00 (240 s)
    V 10:00:00 a browser audio call, Kari accepts 10:00:15, bridged 10:00:20 (20 s ≤ 20),
      ended 10:04:20 (240 s) + Kari's 30 s wrap-up
    Surveys: A CSAT 5 and NPS 10, B CSAT 2 and NPS 7 (09:14); E NPS 8 (09:55, Bergen's)."""
    kari, ola = centre.kari, centre.ola
    c = {}
    clock(utc(10, 9, 0))
    c["A"] = writes(centre, "a", "My bill is wrong")
    clock(utc(10, 9, 0, 45))
    do_send_reply(c["A"], "Let me look", actor=kari)
    clock(utc(10, 9, 2))
    c["B"] = writes(centre, "b")
    clock(utc(10, 9, 3, 30))
    do_send_reply(c["B"], "Hello B", actor=kari)
    clock(utc(10, 9, 5))
    c["C"] = writes(centre, "c")
    clock(utc(10, 9, 5, 3))
    do_change_status(c["C"], "resolved", actor=kari)
    clock(utc(10, 9, 5, 45))
    do_send_reply(c["A"], "Fixed it", actor=kari)  # a second reply answers nothing more
    do_change_status(c["A"], "resolved", actor=kari)
    clock(utc(10, 9, 13, 30))
    do_change_status(c["B"], "resolved", actor=kari)
    clock(utc(10, 9, 14))
    record_survey(c["A"], "csat", 5, utc(10, 9, 14))
    record_survey(c["A"], "nps", 10, utc(10, 9, 14))
    record_survey(c["B"], "csat", 2, utc(10, 9, 14))
    record_survey(c["B"], "nps", 7, utc(10, 9, 14))
    clock(utc(10, 9, 20))
    c["D"] = writes(centre, "d")
    clock(utc(10, 9, 30))
    do_change_status(c["D"], "resolved", actor=None)
    clock(utc(10, 9, 40))
    c["E"] = writes(centre, "e")
    clock(utc(10, 9, 40, 30))
    do_send_reply(c["E"], "Hello E", actor=kari)
    clock(utc(10, 9, 45))
    do_transfer_conversation(c["E"], actor=kari, to_team=centre.bergen, note="Bergen's case")
    c["E"].refresh_from_db()
    assert c["E"].assignee_id == ola.pk
    clock(utc(10, 9, 46))
    do_send_reply(c["E"], "Ola here", actor=ola)
    clock(utc(10, 9, 50))
    do_change_status(c["E"], "resolved", actor=ola)
    clock(utc(10, 9, 55))
    record_survey(c["E"], "nps", 8, utc(10, 9, 55))
    clock(utc(10, 10, 0))
    voice = create_customer(team=centre.oslo, name="v")
    call = do_start_browser_call(inbox=centre.inbox, customer=voice, medium="audio")
    clock(utc(10, 10, 0, 15))
    call = do_accept_call(call, actor=kari)
    clock(utc(10, 10, 0, 20))
    call = do_mark_call_connected(call)
    clock(utc(10, 10, 4, 20))
    do_end_call(call, reason="the customer hung up")
    c["V"] = call.conversation
    return SimpleNamespace(**vars(centre), conversations=c)
