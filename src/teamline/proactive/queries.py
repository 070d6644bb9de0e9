"""Reads of proactive care that other apps (and this app's endpoints) call."""

from __future__ import annotations

from django.db.models import QuerySet

from teamline.accounts.models import User
from teamline.core.errors import NotFound
from teamline.core.ids import parse_id
from teamline.customers.models import Customer

from .models import Event, IntegrationKey


def access_integration_key(actor: User, key_id: object) -> IntegrationKey:
    """An integration key by database id, for admins only; NotFound otherwise."""
    pk = parse_id(key_id, "integration key")
    key = IntegrationKey.objects.filter(pk=pk).first() if actor.is_admin else None
    if key is None:
        raise NotFound("No such integration key.")
    return key


def active_key(key_id: str) -> IntegrationKey | None:
    """The unrevoked integration key a request names by its public id, or None."""
    if not key_id or len(key_id) > 40:
        return None
    return IntegrationKey.objects.filter(key_id=key_id, revoked_at__isnull=True).first()


def events_of(customer: Customer) -> QuerySet[Event]:
    """A customer's events, newest first (for staff who reached the customer through an access
    helper, and for rules looking back over a window)."""
    return Event.objects.filter(customer=customer).order_by("-occurred_at", "-id")


def waiting_event_count() -> int:
    """Events whose customer is not known yet."""
    return Event.objects.filter(customer__isnull=True).count()


def unevaluated_event_count() -> int:
    """Events of known customers that rule evaluation has not run over yet (the backlog)."""
    return Event.objects.filter(evaluated_at__isnull=True, customer__isnull=False).count()
