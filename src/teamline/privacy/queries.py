"""Reads for privacy requests: who may ask, and everything stored about one customer.

Export and erasure reach every record of a customer, whatever team handled it, so they are
for admins only: an admin's session, an admin's unscoped token, or an admin's token with the
`privacy` scope (teamline/api.py's PRIVACY_AUTH refuses tokens scoped otherwise, and only
admins may mint a privacy token: accounts.actions.do_create_api_token). A privacy token stops
working when its user stops being an admin."""

from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

from django.db.models import Q, QuerySet

from teamline.accounts.models import User
from teamline.audit.models import AuditEntry
from teamline.calls.models import Call
from teamline.community.models import Post, Report, Vote
from teamline.connectors.models import WebhookEvent
from teamline.conversations.models import Attachment, Conversation, Message, TimelineEvent
from teamline.core.errors import Forbidden
from teamline.customers.models import Customer, CustomerMerge, Identity
from teamline.customers.queries import access_customer
from teamline.proactive.models import Event, Notice, OutageContact, RuleFiring
from teamline.proactive.queries import (
    events_of_customers,
    firings_of_customers,
    notices_of_customers,
    outage_contacts_of_customers,
)
from teamline.routing.models import Appointment, Callback, WorkItem
from teamline.selfservice.models import SelfServiceEpisode, VoiceCall, VoiceCallStep

from .models import Erasure, ErasureState


def may_handle_privacy_requests(actor: User) -> bool:
    return bool(actor.is_active and actor.is_admin)


def access_customer_for_privacy(actor: User, customer_id: object) -> Customer:
    """The customer an export or erasure names: 403 for anyone but an admin (before the id is
    looked at, so it tells nothing about which customers exist), 404 for no such customer."""
    if not may_handle_privacy_requests(actor):
        raise Forbidden("Only admins may export or erase a customer's data.")
    return access_customer(actor, customer_id)


def customer_ids_of(customer: Customer) -> list[int]:
    """The customer and the customers merged into it (their rows stay, named and with
    attributes, after their identities and conversations moved here)."""
    merged = Customer.objects.filter(merged_into=customer).values_list("pk", flat=True)
    return [customer.pk, *merged]


def conversations_of(customer: Customer) -> QuerySet[Conversation]:
    return Conversation.objects.filter(customer=customer).order_by("pk")


def messages_of(customer: Customer) -> QuerySet[Message]:
    """Every message of the customer's conversations: theirs, the agents' and bots' replies
    and the internal notes staff wrote about them."""
    return Message.objects.filter(conversation__customer=customer).order_by("pk")


def attachments_of(customer: Customer) -> QuerySet[Attachment]:
    """Files on those messages, call recordings included (a recording is an internal
    message's attachment: calls/recording.py)."""
    return Attachment.objects.filter(message__conversation__customer=customer).order_by("pk")


def timeline_of(customer: Customer) -> QuerySet[TimelineEvent]:
    return TimelineEvent.objects.filter(conversation__customer=customer).order_by("pk")


def identities_of(customer: Customer) -> QuerySet[Identity]:
    return Identity.objects.filter(customer_id__in=customer_ids_of(customer)).order_by("pk")


def merges_of(customer: Customer) -> QuerySet[CustomerMerge]:
    return CustomerMerge.objects.filter(target=customer).order_by("pk")


def calls_of(customer: Customer) -> QuerySet[Call]:
    return Call.objects.filter(customer=customer).order_by("pk")


def voice_calls_of(customer: Customer) -> QuerySet[VoiceCall]:
    return VoiceCall.objects.filter(customer=customer).order_by("pk")


def voice_call_steps_of(customer: Customer) -> QuerySet[VoiceCallStep]:
    return VoiceCallStep.objects.filter(call__customer=customer).order_by("pk")


def episodes_of(customer: Customer) -> QuerySet[SelfServiceEpisode]:
    return SelfServiceEpisode.objects.filter(customer=customer).order_by("pk")


def proactive_events_of(customer: Customer) -> QuerySet[Event]:
    """The operator's usage, billing, network, device and custom events about them."""
    return events_of_customers(customer_ids_of(customer))


def proactive_notices_of(customer: Customer) -> QuerySet[Notice]:
    """Proactive notices: sent, deferred, suppressed (consent, cap), failed, cancelled."""
    return notices_of_customers(customer_ids_of(customer))


def rule_firings_of(customer: Customer) -> QuerySet[RuleFiring]:
    return firings_of_customers(customer_ids_of(customer))


def outage_contacts_of(customer: Customer) -> QuerySet[OutageContact]:
    return outage_contacts_of_customers(customer_ids_of(customer))


def callbacks_of(customer: Customer) -> QuerySet[Callback]:
    return Callback.objects.filter(customer=customer).order_by("pk")


def appointments_of(customer: Customer) -> QuerySet[Appointment]:
    return Appointment.objects.filter(customer=customer).order_by("pk")


def work_items_of(customer: Customer) -> QuerySet[WorkItem]:
    return WorkItem.objects.filter(customer=customer).order_by("pk")


def community_posts_of(customer: Customer) -> QuerySet[Post]:
    """Questions and answers the customer wrote in the help center's community."""
    return Post.objects.filter(author_customer_id__in=customer_ids_of(customer)).order_by("pk")


def community_votes_of(customer: Customer) -> QuerySet[Vote]:
    return Vote.objects.filter(customer_id__in=customer_ids_of(customer)).order_by("pk")


def community_reports_of(customer: Customer) -> QuerySet[Report]:
    return Report.objects.filter(reporter_customer_id__in=customer_ids_of(customer)).order_by("pk")


def audit_entries_about(customer: Customer) -> QuerySet[AuditEntry]:
    """Entries naming the customer or one of their conversations as the target."""
    conversation_ids = [str(pk) for pk in conversations_of(customer).values_list("pk", flat=True)]
    return AuditEntry.objects.filter(
        Q(target_type="customer", target_id__in=[str(pk) for pk in customer_ids_of(customer)])
        | Q(target_type="conversation", target_id__in=conversation_ids)
    ).order_by("seq")


def webhook_events_naming(customer: Customer, values: list[str]) -> list[int]:
    """Ids of stored provider deliveries on the inboxes the customer wrote or called through
    (conversations, messages, phone-menu and live calls) whose raw body carries one
    of `values` (the customer's phone numbers, addresses and ids, as typed, URL-encoded or
    JSON-escaped). Raw bodies are bytes kept for replay; no column says whose they are, so
    they are read in batches."""
    needles = _needles(values)
    if not needles:
        return []
    inbox_ids = set(conversations_of(customer).values_list("inbox_id", flat=True))
    inbox_ids |= set(messages_of(customer).exclude(inbox=None).values_list("inbox_id", flat=True))
    inbox_ids |= set(voice_calls_of(customer).values_list("inbox_id", flat=True))
    inbox_ids |= set(calls_of(customer).exclude(inbox=None).values_list("inbox_id", flat=True))
    found = []
    events = (
        WebhookEvent.objects.filter(inbox_id__in=inbox_ids)
        .exclude(body=b"")
        .only("pk", "body")
        .order_by("pk")
    )
    for event in events.iterator(chunk_size=500):
        body = bytes(event.body)
        if any(needle in body for needle in needles):
            found.append(event.pk)
    return found


def _needles(values: list[str]) -> set[bytes]:
    needles: set[bytes] = set()
    for value in values:
        if len(value) < 4:  # too short to name anyone; would match everything
            continue
        for form in (value, quote(value, safe=""), quote_plus(value), _json_escaped(value)):
            needles.add(form.encode())
    return needles


def _json_escaped(value: str) -> str:
    return json.dumps(value)[1:-1]


def erasure_of(customer_id: int) -> Erasure | None:
    return Erasure.objects.filter(customer_id_copy=customer_id).first()


def erasure_stage(erasure: Erasure) -> str:
    """queued (asked, no worker has started it), running (a worker started it: the task
    counts its attempts first) or done."""
    if erasure.state == ErasureState.DONE:
        return "done"
    return "running" if erasure.attempts else "queued"
