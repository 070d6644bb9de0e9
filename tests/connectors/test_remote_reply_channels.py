"""A remote agent's "Reply via" (issue 11, item 6): the customer's channels are offered with
their addresses masked, and the form posts back a key that holds no address — yet the reply
goes out on the chosen channel."""

from __future__ import annotations

import pytest
from django.urls import reverse

from teamline.accounts.actions import do_set_remote_agent
from teamline.conversations.models import Message
from teamline.conversations.queries import reachable_channels
from teamline.core.testing import create_user
from teamline.customers.actions import do_add_identity

from .test_pipeline import sms_conversation

pytestmark = pytest.mark.django_db


def test_a_remote_agent_picks_a_channel_without_seeing_or_posting_its_address(
    client, sms_inbox, email_inbox, kari, fake
):
    conversation = sms_conversation(client, sms_inbox)
    do_add_identity(conversation.customer, "email", "astrid@example.com", verified=True)
    do_set_remote_agent(kari, True, actor=create_user("boss", role="admin"))
    kari.refresh_from_db()
    client.force_login(kari)

    page = client.get(reverse("desk:conversation", args=[conversation.pk])).content.decode()

    assert '<label for="reply-via">Reply via</label>' in page
    assert "SMS to +47 ••• •• 567" in page and "Email to a•••@example.com" in page
    assert "+4791234567" not in page and "astrid@example.com" not in page
    by_email = reachable_channels(conversation.customer)[1]
    assert by_email.masked_key in page and by_email.key not in page

    response = client.post(
        reverse("desk:reply", args=[conversation.pk]),
        {"text": "Details by mail", "via": by_email.masked_key, "client_id": "c-1"},
    )

    assert response.status_code == 302
    reply = Message.objects.get(text="Details by mail")
    assert (reply.channel, reply.inbox) == ("email", email_inbox)
    assert reply.content["to"]["value"] == "astrid@example.com"
