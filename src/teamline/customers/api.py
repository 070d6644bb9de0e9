"""Customers in the JSON API: the 360° profile an agent needs beside a conversation.

The path id goes through access_customer: customers outside the caller's teams answer 404,
whether or not they exist. Their conversations are limited to those the caller may see.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, cast

from django.http import HttpRequest
from ninja import Field, Path, Router, Schema
from pydantic import ConfigDict, StrictBool

from teamline.accounts.models import User
from teamline.audit.actions import do_audit
from teamline.audit.models import AuditAction
from teamline.conversations.api import ConversationOut, TeamRef
from teamline.conversations.presenters import present_conversation
from teamline.conversations.queries import customer_conversations
from teamline.core.apischema import MAX_ID, errors, text_field

from .actions import (
    MAX_REVEAL_REASON,
    do_reveal_customer_field,
    do_set_bots_opt_out,
    do_set_preferred_language,
)
from .masking import Sensitive, present_attributes, present_identity, shown
from .models import Customer, IdentityKind
from .queries import access_customer

router = Router(tags=["customers"])

# The most recent conversations shown on a profile.
MAX_CONVERSATIONS = 100

CustomerId = Annotated[int, Path(..., ge=1, le=MAX_ID, description="The customer's id.")]


class IdentityOut(Schema):
    id: int = Field(description="Reveal a masked value as `identity:<id>`.")
    kind: IdentityKind
    value: str = Field(description="Normalised: E.164 phone, lower-case email, …")
    verified: bool = Field(description="Vouched for by the brand or proved by a provider.")
    masked: bool = Field(
        description="True when `value` is masked because you are a remote agent "
        "(reveal it with POST /customers/{id}/reveal)."
    )


class CustomerOut(Schema):
    id: int
    name: str = Field(description='The display name ("Visitor #id" when unknown).')
    preferred_language: str = Field(
        description="One of en, nb, zh-hans, zh-hant, et, pt, or empty when not known yet."
    )
    language_source: str = Field(
        description="Where the language came from: `chosen` (the customer or an agent; never "
        "overridden), `detected` (from their messages), `channel` (their browser, email or "
        "messaging app), or empty."
    )
    preferred_channel: str
    region: str
    home_team: TeamRef | None = Field(description="The regional team that serves this customer.")
    identities: list[IdentityOut]
    attributes: dict[str, Any]
    created_at: datetime
    conversations: list[ConversationOut] = Field(
        description=f"The {MAX_CONVERSATIONS} most recent conversations you may see, newest first."
    )


def present_customer(customer: Customer, conversations: list[Any], viewer: Any) -> dict[str, Any]:
    """The profile as `viewer` sees it: a remote agent's has phone numbers, email and postal
    addresses masked (customers/masking.py)."""
    home_team = customer.home_team
    return {
        "id": customer.pk,
        "name": shown(viewer, Sensitive.NAME, customer.display_name),
        "preferred_language": customer.preferred_language,
        "language_source": customer.language_source,
        "preferred_channel": customer.preferred_channel,
        "region": customer.region,
        "home_team": {"id": home_team.pk, "name": home_team.name} if home_team else None,
        "identities": [
            present_identity(identity, viewer)
            for identity in customer.identities.order_by("kind", "pk")
        ],
        "attributes": present_attributes(customer.attributes, viewer),
        "created_at": customer.created_at,
        "conversations": [
            present_conversation(conversation, viewer) for conversation in conversations
        ],
    }


@router.get(
    "/{customer_id}",
    response={200: CustomerOut, **errors(404, 422)},
    summary="Get a customer",
    operation_id="get_customer",
)
def get_customer(request: HttpRequest, customer_id: CustomerId) -> Any:
    """A customer with identities, attributes, home team and the conversations you may see.
    404 if the customer does not exist or is outside your teams."""
    actor = cast(User, request.auth)  # type: ignore[attr-defined]
    customer = access_customer(actor, customer_id)
    do_audit(
        AuditAction.CUSTOMER_VIEWED,
        actor=actor,
        target_type="customer",
        target_id=customer.pk,
        request=request,
        data={"via": "api"},
    )
    conversations = list(customer_conversations(actor, customer.pk)[:MAX_CONVERSATIONS])
    return present_customer(customer, conversations, actor)


class BotsIn(Schema):
    model_config = ConfigDict(extra="forbid")

    opted_out: StrictBool = Field(
        description="True: this customer never gets a bot; every message goes to their team."
    )


@router.put(
    "/{customer_id}/bots",
    response={200: CustomerOut, **errors(400, 404, 422)},
    summary="Opt a customer out of bots (or back in)",
    operation_id="set_customer_bots",
)
def set_customer_bots(request: HttpRequest, customer_id: CustomerId, payload: BotsIn) -> Any:
    """Record the customer's wish about bots: `{"opted_out": true}` sends all their messages
    straight to their team, on every channel; `false` lets the bot answer again. It shows in
    the customer's attributes as `bots_opt_out`. 404 outside your teams."""
    actor = cast(User, request.auth)  # type: ignore[attr-defined]
    customer = access_customer(actor, customer_id)
    do_set_bots_opt_out(customer, payload.opted_out, actor=actor)
    conversations = list(customer_conversations(actor, customer.pk)[:MAX_CONVERSATIONS])
    return present_customer(customer, conversations, actor)


# The tags the six languages start with (core.languages maps every one of them).
LANGUAGE_TAG_PATTERN = (
    r"^((en|EN|En|nb|NB|Nb|nn|NN|Nn|no|NO|No|zh|ZH|Zh|et|ET|Et|pt|PT|Pt)([-_][A-Za-z0-9]{1,8})*)?$"
)


class CustomerLanguageIn(Schema):
    model_config = ConfigDict(extra="forbid")

    language: str = Field(
        max_length=35,
        pattern=LANGUAGE_TAG_PATTERN,
        description="A language tag Teamline maps to one of its six (`nb`, `no`, `zh-TW`, "
        "`pt-BR`, …), or an empty string to forget the choice and let Teamline learn it again.",
    )


@router.put(
    "/{customer_id}/language",
    response={200: CustomerOut, **errors(400, 404, 422)},
    summary="Set a customer's language",
    operation_id="set_customer_language",
)
def set_customer_language(
    request: HttpRequest, customer_id: CustomerId, payload: CustomerLanguageIn
) -> Any:
    """Record the customer's language (their choice, told to you): every text Teamline sends
    them follows it, and nothing Teamline detects overrides it. `zh-TW` is stored as
    `zh-hant`, `no` as `nb` (docs/i18n.md). 422 for a language Teamline does not speak; 404
    outside your teams."""
    actor = cast(User, request.auth)  # type: ignore[attr-defined]
    customer = access_customer(actor, customer_id)
    do_set_preferred_language(customer, payload.language, actor=actor)
    conversations = list(customer_conversations(actor, customer.pk)[:MAX_CONVERSATIONS])
    return present_customer(customer, conversations, actor)


class RevealIn(Schema):
    model_config = ConfigDict(extra="forbid")

    field: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^(identity|attribute):[^\x00]+$",
        description="What to reveal: `identity:<id>` or `attribute:<key>`.",
    )
    reason: str = text_field(
        max_length=MAX_REVEAL_REASON, description="Why you need to see the value (audited)."
    )


class RevealedOut(Schema):
    field: str
    value: str = Field(description="The value, unmasked: shown once, not kept anywhere.")


@router.post(
    "/{customer_id}/reveal",
    response={200: RevealedOut, **errors(400, 404, 422)},
    summary="Reveal one masked value of a customer",
    operation_id="reveal_customer_field",
)
def reveal_customer_field(request: HttpRequest, customer_id: CustomerId, payload: RevealIn) -> Any:
    """For remote agents, who see phone numbers, emails and postal addresses masked: one
    value, for a reason you type. Audited as `customer.revealed` with the field and the
    reason (never the value). 404 for a customer outside your teams or a field that is not
    one masking hides; 422 without a reason."""
    actor = cast(User, request.auth)  # type: ignore[attr-defined]
    customer = access_customer(actor, customer_id)
    value = do_reveal_customer_field(
        customer, payload.field, payload.reason, actor=actor, request=request
    )
    return {"field": payload.field, "value": value}
