"""Calls for the supervisor tests: a customer calls and waits as a voice work item."""

from __future__ import annotations

import pytest

from teamline.calls import control
from teamline.calls.actions import do_open_call
from teamline.calls.models import Call, CallMedium
from teamline.conversations.inbound import do_receive_customer_message
from teamline.conversations.models import Inbox
from teamline.core.testing import create_inbox
from teamline.customers.models import Customer
from teamline.routing.queries import live_work_item


@pytest.fixture
def quiet_phone(monkeypatch):
    """Phone calls change state without a provider: these tests are about supervisors, and the
    phone's own media control (bridging through the provider's REST API) has its own tests."""
    monkeypatch.setitem(control._controls, CallMedium.PHONE, control.BrowserControl())


def call_from(
    customer: Customer,
    medium: str = CallMedium.PHONE,
    *,
    inbox: Inbox | None = None,
    sid: str = "",
) -> Call:
    """The customer calls: their conversation waits as a voice work item (an agent takes one
    call at a time) and the call is open, waiting."""
    team = customer.home_team
    assert team is not None
    inbox = inbox or Inbox.objects.filter(default_team=team).first() or create_inbox(team)
    message, _ = do_receive_customer_message(
        inbox=inbox,
        customer=customer,
        text="Phone call",
        channel="voice",
        external_id=sid or f"call-{customer.pk}",
        channel_kind="voice",
    )
    conversation = message.conversation
    conversation.refresh_from_db()
    item = live_work_item(conversation)
    return do_open_call(
        conversation,
        medium=medium,
        inbox=inbox if medium == CallMedium.PHONE else None,
        provider_call_sid=sid,
        work_item_id=item.pk if item else None,
    )
