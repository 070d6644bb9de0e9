"""Reads of customers, scoped by the actor (access helpers)."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _

from teamline.accounts.models import User
from teamline.core.bulk import in_values
from teamline.core.errors import InvalidInput, NotFound
from teamline.core.ids import parse_id
from teamline.core.languages import inbox_language, language_for
from teamline.teams.queries import team_ids_for

from .codes import MAX_ATTEMPTS
from .identities import normalize_identity
from .masking import identity_sensitivity, shown
from .models import (
    CONSENT_DEFAULT_ON,
    Consent,
    ConsentChange,
    Customer,
    CustomerMerge,
    Identity,
    IdentityKind,
    OneTimeCode,
)


def verified_identities(customer_id: Any) -> QuerySet[Identity]:
    """The identities the brand (or a step-up) vouched for (`customer_id` may be an OuterRef)."""
    return Identity.objects.filter(customer_id=customer_id, verified=True)


def visible_customers(actor: User) -> QuerySet[Customer]:
    """Admins see everyone; other staff see customers of their teams (home team, or a
    conversation handled by one of their teams) and customers whose conversation is assigned
    to them (overflow from another team)."""
    if actor.is_admin:
        return Customer.objects.all()

    team_ids = team_ids_for(actor)
    # EXISTS on the customer's conversations, not an OR across a join with DISTINCT: on
    # PostgreSQL that join read every conversation for each batch of search candidates (a
    # name at 1,000,000 messages: 58 → 23 ms a batch, docs/benchmarks.md). The conversations
    # are reached through Customer's own reverse relation (no import of the layer above).
    conversations = cast(Any, Customer._meta.get_field("conversations").related_model)
    theirs = conversations._default_manager.filter(customer_id=OuterRef("pk"))
    return Customer.objects.filter(
        Q(home_team_id__in=team_ids)
        | Exists(theirs.filter(team_id__in=team_ids))
        | Exists(theirs.filter(assignee=actor))
    )


def access_customer(actor: User, customer_id: object) -> Customer:
    pk = parse_id(customer_id, "customer")
    customer = visible_customers(actor).filter(pk=pk).first()
    if customer is None:
        raise NotFound("No such customer.")
    return customer


def access_own_customer(customer_id: int) -> Customer:
    """The customer a customer's own socket or session authenticated as. The id comes from
    what the server signed (the widget's session token), never from a frame or a form, so the
    only rule is that the customer still exists: NotFound once the row is gone."""
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise NotFound("Unknown or expired chat session.")
    return customer


def identities_of(customer: Customer) -> QuerySet[Identity]:
    """A customer's identities, for staff who already reached the customer through an access
    helper (e.g. the desk's customer panel of a conversation they may open)."""
    return Identity.objects.filter(customer=customer).order_by("kind", "value")


@dataclass(frozen=True)
class MergeSuggestion:
    """Another customer who is probably the same person, and why (shown to the agent)."""

    customer: Customer
    reason: str


# Claims a customer typed (widget) or a source that proves nothing: attribute → identity kind.
UNVERIFIED_CLAIMS = {"unverified_email": IdentityKind.EMAIL, "unverified_phone": IdentityKind.PHONE}


def _normalized(kind: str, value: object) -> str | None:
    try:
        return normalize_identity(kind, str(value or ""))
    except InvalidInput:
        return None


def merge_suggestions(actor: User, customer: Customer) -> list[MergeSuggestion]:
    """Customers the actor may see who share a phone or email with `customer` through an
    unverified source: one typed it (widget) while the other holds it as an identity, or the
    identity itself is unverified. Only ever a suggestion: merging is do_merge_customers."""
    visible = visible_customers(actor).filter(merged_into__isnull=True).exclude(pk=customer.pk)
    found: dict[int, MergeSuggestion] = {}
    labels = {IdentityKind.EMAIL: "email address", IdentityKind.PHONE: "phone number"}
    # They typed one of this customer's identities.
    for identity in identities_of(customer).filter(kind__in=list(UNVERIFIED_CLAIMS.values())):
        for attribute, kind in UNVERIFIED_CLAIMS.items():
            if kind != identity.kind:
                continue
            for other in visible.filter(**{f"attributes__{attribute}__iexact": identity.value}):
                seen = shown(actor, identity_sensitivity(kind) or "", identity.value)
                found.setdefault(
                    other.pk, MergeSuggestion(other, f"Same {labels[kind]} ({seen}), not verified")
                )
    # This customer typed somebody's identity.
    for attribute, kind in UNVERIFIED_CLAIMS.items():
        value = _normalized(kind, customer.attributes.get(attribute))
        if value is None:
            continue
        for identity in Identity.objects.filter(kind=kind, value=value).exclude(customer=customer):
            owner = visible.filter(pk=identity.customer_id).first()
            if owner is not None:
                seen = shown(actor, identity_sensitivity(kind) or "", value)
                found.setdefault(
                    owner.pk, MergeSuggestion(owner, f"Same {labels[kind]} ({seen}), not verified")
                )
    return sorted(found.values(), key=lambda s: s.customer.pk)


def merges_into(customer: Customer) -> QuerySet[CustomerMerge]:
    """The audit of merges into `customer`, newest first (for staff who reached it through an
    access helper)."""
    return CustomerMerge.objects.filter(target=customer).select_related("actor")


def verified_identity(kind: str, value: str) -> Identity | None:
    """The verified email or phone identity `value` (normalised) names, or None — also for text
    that is not an address, so callers answer the same whatever was typed (no enumeration)."""
    if kind not in (IdentityKind.EMAIL, IdentityKind.PHONE):
        return None
    try:
        normalized = normalize_identity(kind, value)
    except InvalidInput:
        return None
    return (
        Identity.objects.select_related("customer")
        .filter(kind=kind, value=normalized, verified=True)
        .first()
    )


# customer.attributes key: True when the customer never wants a bot (docs/selfservice.md).
BOTS_OPT_OUT_ATTRIBUTE = "bots_opt_out"


def opted_out_of_bots(customer: Customer) -> bool:
    """The customer asked never to get a bot (customers.actions.do_set_bots_opt_out)."""
    return (customer.attributes or {}).get(BOTS_OPT_OUT_ATTRIBUTE) is True


def time_zone_of(customer: Customer) -> str:
    """The IANA zone of the customer's local clock: their own, else their home team's, else
    the installation's TIME_ZONE. Reads the home team (one query unless it is loaded)."""
    if customer.time_zone:
        return customer.time_zone
    if customer.home_team_id is not None and customer.home_team is not None:
        return customer.home_team.timezone or settings.TIME_ZONE
    return settings.TIME_ZONE


_TOPIC = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def check_consent_topic(topic: str) -> str:
    """`topic` when it is a topic slug (lower-case letters, digits, _; at most 32), else
    InvalidInput."""
    if not isinstance(topic, str) or not _TOPIC.match(topic):
        raise InvalidInput(_("A consent topic is a short lower-case name such as data_cap."))
    return topic


def has_consent(customer: Customer, topic: str) -> bool:
    """Whether the customer may be sent `topic`: their explicit choice
    (customers.actions.do_set_consent), else the topic's default — on for data_cap and outage
    (opt-out), off for anything else, promotional included (opt-in). One query."""
    return consents_for([customer.pk], topic)[customer.pk]


def consents_for(customer_ids: list[int], topic: str) -> dict[int, bool]:
    """has_consent for many customers in one query (rule evaluation over a batch)."""
    check_consent_topic(topic)
    default = topic in CONSENT_DEFAULT_ON
    answer = dict.fromkeys(customer_ids, default)
    if customer_ids:
        for customer_id, granted in Consent.objects.filter(
            customer_id__in=customer_ids, topic=topic
        ).values_list("customer_id", "granted"):
            answer[customer_id] = granted
    return answer


def consent_timeline(customer: Customer) -> QuerySet[ConsentChange]:
    """The customer's explicit consent choices, oldest first (for staff who reached the
    customer through an access helper)."""
    return ConsentChange.objects.filter(customer=customer).select_related("actor")


def customer_ids_by_identity(identities: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """The customer who holds each (kind, normalised value) — the one merged into, for a
    merged one; identities nobody holds are left out. One query per kind (event ingest
    matches 5,000 at a time)."""
    by_kind: dict[str, list[str]] = {}
    for kind, value in identities:
        by_kind.setdefault(kind, []).append(value)
    owners: dict[tuple[str, str], int] = {}
    for kind, values in by_kind.items():
        for value, customer_id, merged_into in Identity.objects.filter(
            kind=kind, value__in=in_values(values)
        ).values_list("value", "customer_id", "customer__merged_into_id"):
            owners[(kind, value)] = merged_into or customer_id
    return owners


def identities_created_since(
    since: datetime, *, kinds: Collection[str], limit: int = 50_000
) -> dict[tuple[str, str], int]:
    """(kind, value) → customer of identities of `kinds` created since `since`, newest first
    up to `limit` (a sweep re-announcing what may have been missed)."""
    rows = (
        Identity.objects.filter(created_at__gte=since, kind__in=list(kinds))
        .order_by("-created_at")
        .values_list("kind", "value", "customer_id", "customer__merged_into_id")[:limit]
    )
    return {(kind, value): merged or owner for kind, value, owner, merged in rows}


# Identity kinds a step-up code can be sent to (connectors/direct.py reaches them at once).
# The brand's user id (external) reaches the customer by app push through the in-app channel
# when an app inbox pushes (connectors/stepup.py decides which are reachable now).
CODE_IDENTITY_KINDS = (IdentityKind.PHONE, IdentityKind.EMAIL, IdentityKind.EXTERNAL)


def step_up_identities(customer: Customer) -> QuerySet[Identity]:
    """The customer's identities proven to be theirs that a one-time code can go to."""
    return Identity.objects.filter(
        customer=customer, verified=True, kind__in=CODE_IDENTITY_KINDS
    ).order_by("kind", "value")


def access_step_up_identity(customer: Customer, identity_id: object) -> Identity:
    """One of `customer`'s step-up identities (NotFound for anything else, another
    customer's identity included)."""
    pk = parse_id(identity_id, "identity")
    identity = step_up_identities(customer).filter(pk=pk).first()
    if identity is None:
        raise NotFound("No such verified identity of this customer.")
    return identity


def code_left(identity: Identity, purpose: str, now: datetime) -> bool:
    """Whether `identity` still has a live code of `purpose` (unused, unexpired, guesses
    left)."""
    return OneTimeCode.objects.filter(
        identity=identity,
        purpose=purpose,
        used_at__isnull=True,
        expires_at__gt=now,
        attempts__lt=MAX_ATTEMPTS,
    ).exists()


def customer_language(customer: Customer, inbox_config: Mapping[str, Any] | None = None) -> str:
    """The language to speak to a customer: theirs if Teamline speaks it (core.languages maps
    zh-TW, pt-BR, …), else the inbox's default language, else the installation's. What every
    text Teamline sends a customer is written in."""
    return language_for(customer.preferred_language, inbox_language(inbox_config))
