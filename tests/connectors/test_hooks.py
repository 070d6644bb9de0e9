"""Conversations reaches routing and the outbox only through the hooks those apps provide at
start-up (docs/adr/0005). The hooks run inside the conversation's transaction: what they do
commits or rolls back with it, and a missing provider stops the action loudly."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django_tasks_db.models import DBTaskResult

from teamline.conversations import hooks
from teamline.conversations.models import Conversation, Message
from teamline.conversations.replies import do_send_reply
from teamline.core.testing import create_customer, customer_says
from teamline.routing.models import WorkItem

from .support import post_event, run_tasks

pytestmark = pytest.mark.django_db


class Oops(Exception):
    pass


def sms_conversation(client, sms_inbox) -> Conversation:
    message = {"id": "SMe1", "from": "+47 912 34 567", "text": "My data stopped working"}
    post_event(client, sms_inbox, {"id": "e1", "messages": [message]})
    run_tasks()
    return Conversation.objects.get()


def deliveries() -> int:
    return DBTaskResult.objects.filter(task_path__endswith="deliver_message").count()


def test_a_reply_and_its_delivery_task_commit_or_roll_back_together(client, sms_inbox, kari):
    conversation = sms_conversation(client, sms_inbox)
    before = deliveries()

    with pytest.raises(Oops), transaction.atomic():
        do_send_reply(conversation, "We are on it", actor=kari)
        assert deliveries() == before + 1  # enqueued in the reply's transaction…
        raise Oops

    assert deliveries() == before  # …so it went with the reply
    assert not Message.objects.filter(text="We are on it").exists()

    do_send_reply(conversation, "We are on it", actor=kari)
    assert deliveries() == before + 1


def test_without_a_router_a_new_conversation_is_refused_and_nothing_is_half_stored(
    oslo, monkeypatch
):
    monkeypatch.setattr(hooks, "_routing", None)
    customer = create_customer(team=oslo)

    with pytest.raises(ImproperlyConfigured, match=r"teamline\.routing"):
        customer_says(customer, "Hei")

    assert not Conversation.objects.filter(customer=customer).exists()
    assert not Message.objects.filter(conversation__customer=customer).exists()


def test_the_installed_router_gives_a_new_conversation_its_work_item_in_the_same_transaction(
    oslo,
):
    customer = create_customer(team=oslo)
    with pytest.raises(Oops), transaction.atomic():
        message, _ = customer_says(customer, "Hei")
        assert WorkItem.objects.filter(conversation=message.conversation).exists()
        raise Oops
    assert not WorkItem.objects.filter(conversation__customer=customer).exists()
