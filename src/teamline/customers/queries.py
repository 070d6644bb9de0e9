"""Reads of customers, scoped by the actor (access helpers)."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from teamline.accounts.models import User
from teamline.core.errors import NotFound

from .models import Customer, Identity


def visible_customers(actor: User) -> QuerySet[Customer]:
    """Admins see everyone; other staff see customers of their teams (home team, or a
    conversation handled by one of their teams)."""
    if actor.is_admin:
        return Customer.objects.all()
    from teamline.teams.queries import team_ids_for

    team_ids = team_ids_for(actor)
    return Customer.objects.filter(
        Q(home_team_id__in=team_ids) | Q(conversations__team_id__in=team_ids)
    ).distinct()


def access_customer(actor: User, customer_id: object) -> Customer:
    try:
        pk = int(str(customer_id))
    except ValueError as exc:
        raise NotFound("No such customer.") from exc
    customer = visible_customers(actor).filter(pk=pk).first()
    if customer is None:
        raise NotFound("No such customer.")
    return customer


def identities_of(customer: Customer) -> QuerySet[Identity]:
    """A customer's identities, for staff who already reached the customer through an access
    helper (e.g. the desk's customer panel of a conversation they may open)."""
    return Identity.objects.filter(customer=customer).order_by("kind", "value")
