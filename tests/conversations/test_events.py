"""Who hears what: events go out after commit, to the conversation's team, admins and the
assignee; customers get the customer presentation, and internal notes never reach them."""

import pytest

from teamline.conversations.replies import do_add_note, do_send_reply
from teamline.core.events import (
    EventType,
    admins_group,
    customer_group,
    team_group,
    user_group,
)
from teamline.core.testing import (
    capture_events,
    create_agent,
    create_customer,
    create_team,
    customer_says,
)

pytestmark = pytest.mark.django_db


def test_customer_message_reaches_team_admins_and_the_customer_after_commit(
    django_capture_on_commit_callbacks,
):
    oslo = create_team("Oslo")
    customer = create_customer(team=oslo)
    with capture_events() as events, django_capture_on_commit_callbacks(execute=True):
        customer_says(customer, "Hei")
        assert events == []  # nothing is sent before the transaction commits
    created = [(e, r) for e, r in events if e.type == EventType.MESSAGE_CREATED]
    assert len(created) == 1
    event, recipients = created[0]
    assert recipients.staff >= {team_group(oslo.pk), admins_group()}
    assert recipients.customer == {customer_group(customer.pk)}
    assert event.customer is not None and event.customer["text"] == "Hei"
    assert "sender" not in event.customer  # no staff ids on the customer side


def test_internal_note_is_never_addressed_to_the_customer(django_capture_on_commit_callbacks):
    oslo = create_team("Oslo")
    kari = create_agent("kari", team=oslo, presence="available")
    message, _ = customer_says(create_customer(team=oslo), "Hei")
    with capture_events() as events, django_capture_on_commit_callbacks(execute=True):
        do_add_note(message.conversation, "VIP, handle with care", actor=kari)
    note_events = [(e, r) for e, r in events if e.type == EventType.MESSAGE_CREATED]
    assert len(note_events) == 1
    event, recipients = note_events[0]
    assert event.customer is None
    assert recipients.customer == frozenset()
    assert user_group(kari.pk) in recipients.staff


def test_reply_is_presented_to_the_customer_with_the_agents_name(
    django_capture_on_commit_callbacks,
):
    oslo = create_team("Oslo")
    kari = create_agent("kari", team=oslo, presence="available", display_name="Kari N.")
    message, _ = customer_says(create_customer(team=oslo), "Hei")
    with capture_events() as events, django_capture_on_commit_callbacks(execute=True):
        do_send_reply(message.conversation, "Hei! Jeg sjekker.", actor=kari)
    (event, _recipients), *_ = [(e, r) for e, r in events if e.type == EventType.MESSAGE_CREATED]
    assert event.customer == {
        **event.customer,
        "from": "agent",
        "sender_name": "Kari N.",
        "text": "Hei! Jeg sjekker.",
    }


def test_nothing_is_sent_when_the_transaction_rolls_back(django_capture_on_commit_callbacks):
    from django.db import transaction

    oslo = create_team("Oslo")
    customer = create_customer(team=oslo)
    with capture_events() as events, django_capture_on_commit_callbacks(execute=True):
        try:
            with transaction.atomic():
                customer_says(customer, "lost")
                raise RuntimeError("crash before commit")
        except RuntimeError:
            pass
    assert events == []


def test_resend_with_the_same_client_id_stores_one_message():
    oslo = create_team("Oslo")
    customer = create_customer(team=oslo)
    first, created = customer_says(customer, "Hello", client_id="abc")
    again, created_again = customer_says(customer, "Hello", client_id="abc")
    assert created and not created_again
    assert first.pk == again.pk
    assert first.conversation.messages.count() == 1
