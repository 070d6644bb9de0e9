"""Reads of inboxes."""

from __future__ import annotations

import uuid

from teamline.conversations.models import Inbox
from teamline.core.errors import NotFound
from teamline.customers.models import Customer

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
