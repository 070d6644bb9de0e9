"""Team Oslo on a morning: Kari answers customers by SMS through the real Twilio webhook, Siv
supervises Oslo, Bo supervises Bergen. The clock is injected (time_machine)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from teamline.conversations.actions import do_change_status
from teamline.conversations.models import Conversation
from teamline.conversations.replies import do_send_reply
from tests.connectors.support import run_tasks
from tests.surveys.support import text_in

START = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def handled_conversation(
    morning: SimpleNamespace, customer_lines: list[str], minute: float, reply: str = "Beklager!"
) -> Conversation:
    """A new customer texts Oslo (each line one SMS through the webhook); routing gives the
    conversation to Kari, who answers and resolves it five minutes later."""
    number = next(morning.numbers)
    morning.clock.move_to(at(minute))
    for line in customer_lines:
        text_in(morning.client, morning.inbox, line, sender=number)
        run_tasks()
    conversation = Conversation.objects.get(customer__identities__value=number)
    assert conversation.assignee_id == morning.kari.pk
    morning.clock.move_to(at(minute + 1))
    do_send_reply(conversation, reply, actor=morning.kari)
    morning.clock.move_to(at(minute + 5))
    do_change_status(conversation, "resolved", actor=morning.kari)
    run_tasks()
    return conversation
