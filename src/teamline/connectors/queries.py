"""Reads of inboxes."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence

from teamline.conversations.models import Conversation, Inbox, InboxKind
from teamline.conversations.queries import ReplyChannel, reachable_channels
from teamline.core.errors import NotFound
from teamline.core.ids import parse_id
from teamline.core.kept import KeptPerProcess
from teamline.customers.models import Customer

from .models import WhatsAppTemplate
from .webchat import SessionClaims


def public_inbox(public_id: object, *, kinds: tuple[str, ...] | None = None) -> Inbox:
    """An active inbox by the public id a widget or webhook URL carries, optionally only of
    the given kinds (the widget must not open sessions on an SMS inbox's id)."""
    try:
        value = uuid.UUID(str(public_id))
    except ValueError as exc:
        raise NotFound("No such inbox.") from exc
    inbox = Inbox.objects.select_related("default_team").filter(public_id=value, is_active=True)
    if kinds is not None:
        inbox = inbox.filter(kind__in=kinds)
    found = inbox.first()
    if found is None:
        raise NotFound("No such inbox.")
    return found


# --- The webhook path's inbox, kept per process ------------------------------------------------

# How long a process answers webhooks from an inbox it read without reading it again. Saved or
# deleted in this process: forgotten at once (and again at the commit). Saved or deactivated in
# another process: this one sees it within this many seconds; deleted there: the ack's INSERT
# finds no inbox and is answered 404 (connectors.actions.do_store_webhook_event).
WEBHOOK_INBOX_SECONDS = 1.0
_webhook_inboxes: KeptPerProcess[uuid.UUID, Inbox] = KeptPerProcess()


def webhook_inbox(public_id: object) -> Inbox:
    """public_inbox for the webhook view, read at most once a WEBHOOK_INBOX_SECONDS per process
    (it was 42 % of an ack's CPU: docs/benchmarks.md). Each call gets its own copy, so nothing
    one request sets on it reaches another."""
    try:
        key = uuid.UUID(str(public_id))
    except ValueError as exc:
        raise NotFound("No such inbox.") from exc
    inbox = _webhook_inboxes.get(key, lambda: public_inbox(key), seconds=WEBHOOK_INBOX_SECONDS)
    return copy.copy(inbox)


# The widget's session POST and socket open read their inbox the same way: 10,000 widgets
# reconnecting after a deploy would otherwise read the same row 20,000 times.
WIDGET_KINDS = ("webchat", "app")


def kept_public_inbox(public_id: object, *, kinds: tuple[str, ...]) -> Inbox:
    """public_inbox, from the same per-process store as webhook_inbox (read at most once a
    WEBHOOK_INBOX_SECONDS, forgotten when an inbox is saved or deleted in this process). A copy
    per call; an inbox of another kind is NotFound, as from public_inbox."""
    inbox = webhook_inbox(public_id)
    if inbox.kind not in kinds:
        raise NotFound("No such inbox.")
    return inbox


# Drop every kept inbox: the next webhook of each reads its inbox again.
forget_webhook_inboxes = _webhook_inboxes.forget
# post_save / post_delete of an Inbox (connected in apps.py): forgotten now, and again once the
# change is committed, so a read of the old row in another thread meanwhile is not kept.
inbox_changed = _webhook_inboxes.source_changed


def session_customer(claims: SessionClaims) -> Customer:
    """The customer a widget session token names. Only signed claims (webchat.read_session)
    come here, so the id needs no access scope; a deleted customer is an unknown session."""
    customer = Customer.objects.select_related("home_team").filter(pk=claims.customer_id).first()
    if customer is None:
        raise NotFound("Unknown or expired chat session.")
    return customer


def first_active_inbox() -> Inbox | None:
    """The oldest active web chat inbox (the demo brand page embeds its widget)."""
    return (
        Inbox.objects.select_related("default_team")
        .filter(is_active=True, kind="webchat")
        .order_by("pk")
        .first()
    )


# --- WhatsApp templates -------------------------------------------------------------------------


def whatsapp_inboxes(options: Sequence[ReplyChannel]) -> list[Inbox]:
    """The WhatsApp Cloud API inboxes among a customer's reply channels (templates are theirs)."""
    found: dict[int, Inbox] = {}
    for option in options:
        if option.inbox is not None and option.inbox.kind == InboxKind.WHATSAPP:
            found.setdefault(option.inbox.pk, option.inbox)
    return list(found.values())


def conversation_templates(
    conversation: Conversation, *, options: Sequence[ReplyChannel] | None = None
) -> list[WhatsAppTemplate]:
    """The synced templates (every status) of the WhatsApp inboxes the conversation's customer
    can be written to on, by name and language. `options`: reachable_channels' list when the
    caller has it. No query when the customer has no WhatsApp."""
    if options is None:
        options = reachable_channels(conversation.customer, team_id=conversation.team_id)
    inboxes = whatsapp_inboxes(options)
    if not inboxes:
        return []
    return list(
        WhatsAppTemplate.objects.filter(inbox__in=inboxes).order_by("name", "language", "pk")
    )


def access_template(
    conversation: Conversation,
    template_id: object,
    *,
    options: Sequence[ReplyChannel] | None = None,
) -> WhatsAppTemplate:
    """A template of one of the conversation customer's WhatsApp inboxes (NotFound otherwise).
    The conversation comes from access_conversation: the caller may see it."""
    pk = parse_id(template_id, "template")
    if options is None:
        options = reachable_channels(conversation.customer, team_id=conversation.team_id)
    inboxes = whatsapp_inboxes(options)
    found = (
        WhatsAppTemplate.objects.select_related("inbox").filter(pk=pk, inbox__in=inboxes).first()
    )
    if found is None:
        raise NotFound("No such template for this customer's WhatsApp.")
    return found
