"""The contact fact table, kept by the real entry points (routing, replies, resolution)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from teamline.accounts.actions import do_set_presence
from teamline.analytics.models import Contact, ContactFact
from teamline.conversations.actions import do_change_status
from teamline.conversations.replies import do_send_reply
from teamline.core.testing import create_agent, create_customer, create_team, customer_says

pytestmark = pytest.mark.django_db


def at(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2026, 3, 10, hour, minute, second, tzinfo=UTC)


def test_a_chat_answered_after_45_seconds_and_resolved():
    team = create_team("Oslo")
    kari = create_agent("kari", team=team)
    customer = create_customer(team=team)
    with time_machine.travel(at(9, 0), tick=False) as clock:
        message, _ = customer_says(customer, "My bill is wrong")
        conversation = message.conversation
        clock.move_to(at(9, 0, 30))
        do_set_presence(kari, "available", actor=kari)
        conversation.refresh_from_db()
        assert conversation.assignee_id == kari.pk
        clock.move_to(at(9, 0, 45))
        do_send_reply(conversation, "Let me look", actor=kari)
        clock.move_to(at(9, 1, 0))
        do_send_reply(conversation, "Fixed", actor=kari)
        clock.move_to(at(9, 5, 45))
        do_change_status(conversation, "resolved", actor=kari)
    contact = Contact.objects.get()
    assert contact.offered_at == at(9, 0)
    assert contact.answered_at == at(9, 0, 45)
    assert contact.resolved_at == at(9, 5, 45)
    rows = {(r.agent_id): r for r in ContactFact.objects.all()}
    assert rows[0].offered == 1
    assert rows[kari.pk].answered == 1
    assert rows[kari.pk].wait_sum == 45
    assert rows[kari.pk].answered_in_threshold == 1
    assert rows[kari.pk].handle_sum == 300
    assert rows[kari.pk].resolved == 1
