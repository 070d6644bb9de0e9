"""One customer across channels: identities resolve by (kind, normalised value); probable
duplicates are suggested to the agent and merged only by an explicit, audited action."""

from __future__ import annotations

import pytest
from django.urls import reverse

from teamline.conversations.actions import do_merge_customers
from teamline.conversations.models import Conversation
from teamline.core.errors import InvalidInput
from teamline.core.testing import create_customer, customer_says
from teamline.customers import actions as customer_actions
from teamline.customers.actions import (
    do_resolve_sender,
    do_resolve_verified_customer,
)
from teamline.customers.models import Customer, CustomerMerge, Identity
from teamline.customers.queries import merge_suggestions

from .support import post_event, run_tasks

pytestmark = pytest.mark.django_db


def test_a_phone_number_is_one_customer_whatever_the_channel_or_format(oslo):
    by_sms = do_resolve_sender("phone", "+47 912 34 567", verified=True, home_team=oslo)
    by_whatsapp = do_resolve_sender("phone", "+4791234567", verified=True)
    local = do_resolve_sender("phone", "912 34 567", verified=True, default_region="NO")
    assert by_sms.customer == by_whatsapp.customer == local.customer
    assert by_sms.created and not by_whatsapp.created and not local.created
    assert Identity.objects.get().value == "+4791234567"


def test_an_email_address_is_one_customer_in_any_case(oslo):
    first = do_resolve_sender("email", "Astrid@Example.com", verified=False)
    again = do_resolve_sender("email", "astrid@example.com", verified=False)
    assert first.customer == again.customer


def test_two_first_contacts_at_once_converge_on_one_customer(oslo, monkeypatch):
    first = do_resolve_sender("phone", "+4791234567", verified=True, home_team=oslo)
    # The second looked before the first committed: it saw nobody, and creates a customer too.
    monkeypatch.setattr(customer_actions._identity_with_owner, "first", lambda *values: None)

    second = do_resolve_sender("phone", "+4791234567", verified=True, home_team=oslo)

    # Its identity's INSERT found the first one's: its own customer is gone again.
    assert first.created and not second.created
    assert second.customer == first.customer and second.identity == first.identity
    assert Customer.objects.count() == 1 and Identity.objects.count() == 1


def test_a_new_senders_language_is_stored_with_the_customer(oslo):
    sender = do_resolve_sender(
        "phone", "+4791234567", verified=True, language_text="Mobilen min virker ikke i dag"
    )
    again = do_resolve_sender("phone", "+4791234567", verified=True, language_text="Hello")

    assert sender.created and not again.created
    stored = Customer.objects.get()
    assert (stored.preferred_language, stored.language_source) == ("nb", "detected")


def test_a_verified_app_user_is_the_same_customer_as_in_the_widget(oslo):
    widget = do_resolve_verified_customer("nordlys-4711")
    in_app = do_resolve_sender("external", "nordlys-4711", verified=True)
    assert widget == in_app.customer


def test_an_sms_joins_the_open_web_chat_conversation_and_keeps_its_channel(
    client, sms_inbox, chat_inbox
):
    customer = create_customer(team=sms_inbox.default_team, name="Astrid")
    Identity.objects.create(customer=customer, kind="phone", value="+4791234567", verified=True)
    customer_says(customer, "Hi from the web", inbox=chat_inbox)
    message = {"id": "SM1", "from": "+4791234567", "text": "Hi from my phone"}
    post_event(client, sms_inbox, {"id": "e1", "messages": [message]})
    run_tasks()

    conversation = Conversation.objects.get()
    assert [(m.channel, m.inbox_id) for m in conversation.messages.order_by("pk")] == [
        ("webchat", chat_inbox.pk),
        ("sms", sms_inbox.pk),
    ]
    assert conversation.channel == "webchat"  # where it started


@pytest.fixture
def duplicates(oslo):
    """Astrid as the brand knows her, and a web chat visitor who typed her email address."""
    astrid = create_customer(
        team=oslo, name="Astrid", identities=[("email", "astrid@example.com", True)]
    )
    visitor = create_customer(
        team=oslo, name="Visitor", attributes={"unverified_email": "Astrid@example.com"}
    )
    customer_says(visitor, "Hello?")
    return astrid, visitor


def test_a_shared_unverified_email_is_suggested_never_merged(kari, duplicates):
    astrid, visitor = duplicates
    [suggestion] = merge_suggestions(kari, astrid)
    assert suggestion.customer == visitor
    assert suggestion.reason == "Same email address (astrid@example.com), not verified"
    assert [s.customer for s in merge_suggestions(kari, visitor)] == [astrid]
    assert Customer.objects.filter(merged_into__isnull=False).count() == 0


def test_a_suggestion_is_only_among_customers_the_agent_may_see(bjorn, duplicates):
    astrid, _ = duplicates
    assert merge_suggestions(bjorn, astrid) == []


def test_merging_moves_identities_and_conversations_and_is_audited(kari, duplicates):
    astrid, visitor = duplicates
    visitor_conversation = visitor.conversations.get()
    Identity.objects.create(customer=visitor, kind="phone", value="+4791234567")

    merge = do_merge_customers(visitor, astrid, actor=kari, reason="She confirmed on the phone")

    visitor.refresh_from_db()
    assert visitor.merged_into == astrid
    assert set(astrid.identities.values_list("kind", flat=True)) == {"email", "phone"}
    assert list(astrid.conversations.all()) == [visitor_conversation]
    assert astrid.attributes["unverified_email"] == "Astrid@example.com"
    assert (merge.source_id_copy, merge.source_name, merge.actor) == (visitor.pk, "Visitor", kari)
    assert merge.conversations == [visitor_conversation.pk]
    assert merge.identities == [{"kind": "phone", "value": "+4791234567", "verified": False}]
    with pytest.raises(InvalidInput):
        do_merge_customers(visitor, astrid, actor=kari)
    with pytest.raises(InvalidInput):
        do_merge_customers(astrid, astrid, actor=kari)


def test_the_desk_suggests_reviews_and_merges_with_an_audit_trail(client, kari, duplicates):
    astrid, visitor = duplicates
    conversation = customer_says(astrid, "I am Astrid")[0].conversation
    client.force_login(kari)
    page_url = reverse("desk:conversation", args=[conversation.pk])
    page = client.get(page_url).content.decode()
    assert "Possibly the same person" in page
    review_url = reverse("desk:merge_customer", args=[astrid.pk, visitor.pk])
    assert review_url in page and "Review merging <bdi>Visitor</bdi> into this customer" in page

    review = client.get(review_url, {"next": page_url}).content.decode()
    assert "Merge into this customer</button>" in review
    assert '<label for="merge-reason">' in review
    assert not CustomerMerge.objects.exists()  # looking changes nothing

    done = client.post(review_url, {"next": page_url, "reason": "Same person"})
    assert done.status_code == 302 and done["Location"] == page_url
    page = client.get(page_url).content.decode()
    assert "Merged customers" in page and "Visitor</bdi> merged in" in page
    assert "Possibly the same person" not in page


def test_merging_customers_of_another_team_is_not_found(client, bjorn, duplicates):
    astrid, visitor = duplicates
    client.force_login(bjorn)
    url = reverse("desk:merge_customer", args=[astrid.pk, visitor.pk])
    assert client.get(url).status_code == 404
    assert client.post(url).status_code == 404
    assert not CustomerMerge.objects.exists()
