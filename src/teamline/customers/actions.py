"""Every write to customers and identities."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from teamline.accounts.models import User
from teamline.teams.models import Team

from .identities import normalize_identity
from .models import Customer, Identity, IdentityKind


def do_create_customer(
    *,
    name: str = "",
    preferred_language: str = "",
    preferred_channel: str = "",
    home_team: Team | None = None,
    region: str = "",
    attributes: dict[str, Any] | None = None,
    identities: list[tuple[str, str, bool]] = (),  # type: ignore[assignment]
    actor: User | None = None,
) -> Customer:
    """Create a customer with identities (kind, value, verified). Raises InvalidInput if an
    identity belongs to somebody else: identities are never silently moved."""
    with transaction.atomic():
        customer = Customer.objects.create(
            name=name,
            preferred_language=preferred_language,
            preferred_channel=preferred_channel,
            home_team=home_team,
            region=region,
            attributes=attributes or {},
        )
        for kind, value, verified in identities:
            do_add_identity(customer, kind, value, verified=verified, actor=actor)
    return customer


def do_add_identity(
    customer: Customer, kind: str, value: str, *, verified: bool, actor: User | None = None
) -> Identity:
    from teamline.core.errors import InvalidInput

    normalized = normalize_identity(kind, value)
    try:
        with transaction.atomic():
            return Identity.objects.create(
                customer=customer, kind=kind, value=normalized, verified=verified
            )
    except IntegrityError as exc:
        existing = Identity.objects.get(kind=kind, value=normalized)
        if existing.customer_id == customer.pk:
            return existing
        raise InvalidInput(f"{kind} {normalized} already belongs to another customer") from exc


def do_resolve_verified_customer(
    external_id: str, *, name: str = "", email: str = "", home_team: Team | None = None
) -> Customer:
    """Find or create the customer the brand vouched for (verified external user id).

    Concurrent first contacts of the same user converge on one customer thanks to the unique
    (kind, value) constraint on identities.
    """
    value = normalize_identity(IdentityKind.EXTERNAL, external_id)
    identity = (
        Identity.objects.select_related("customer")
        .filter(kind=IdentityKind.EXTERNAL, value=value)
        .first()
    )
    if identity:
        return identity.customer
    try:
        with transaction.atomic():
            customer = Customer.objects.create(name=name, home_team=home_team)
            Identity.objects.create(
                customer=customer, kind=IdentityKind.EXTERNAL, value=value, verified=True
            )
            if email:
                # The brand vouched for this user; its email is kept as a verified identity only
                # if nobody else owns it already.
                try:
                    with transaction.atomic():
                        Identity.objects.create(
                            customer=customer,
                            kind=IdentityKind.EMAIL,
                            value=normalize_identity(IdentityKind.EMAIL, email),
                            verified=True,
                        )
                except IntegrityError:
                    pass
            return customer
    except IntegrityError:
        return (
            Identity.objects.select_related("customer")
            .get(kind=IdentityKind.EXTERNAL, value=value)
            .customer
        )


def do_create_webchat_visitor(visitor_id: str, *, home_team: Team | None = None) -> Customer:
    """A new anonymous web chat visitor: a customer known only by a random visitor id."""
    return do_create_customer(
        home_team=home_team,
        preferred_channel="webchat",
        identities=[(IdentityKind.WEBCHAT, visitor_id, False)],
    )


def do_update_customer_profile(
    customer: Customer,
    *,
    name: str | None = None,
    preferred_language: str | None = None,
    unverified_email: str | None = None,
    actor: User | None = None,
) -> Customer:
    """Details a customer typed themselves. An email typed into the widget is kept as an
    attribute, never as an identity: typing someone's address must not reach their history."""
    fields = []
    if name is not None and name.strip():
        customer.name = name.strip()[:200]
        fields.append("name")
    if preferred_language:
        customer.preferred_language = preferred_language[:16]
        fields.append("preferred_language")
    if unverified_email:
        customer.attributes = {**customer.attributes, "unverified_email": unverified_email[:320]}
        fields.append("attributes")
    if fields:
        customer.save(update_fields=[*fields, "updated_at"])
    return customer
