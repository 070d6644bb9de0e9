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
from teamline.core.apischema import MAX_ID, errors

from .actions import do_set_bots_opt_out
from .models import Customer, IdentityKind
from .queries import access_customer

router = Router(tags=["customers"])

# The most recent conversations shown on a profile.
MAX_CONVERSATIONS = 100

CustomerId = Annotated[int, Path(..., ge=1, le=MAX_ID, description="The customer's id.")]


class IdentityOut(Schema):
    kind: IdentityKind
    value: str = Field(description="Normalised: E.164 phone, lower-case email, …")
    verified: bool = Field(description="Vouched for by the brand or proved by a provider.")


class CustomerOut(Schema):
    id: int
    name: str = Field(description='The display name ("Visitor #id" when unknown).')
    preferred_language: str
    preferred_channel: str
    region: str
    home_team: TeamRef | None = Field(description="The regional team that serves this customer.")
    identities: list[IdentityOut]
    attributes: dict[str, Any]
    created_at: datetime
    conversations: list[ConversationOut] = Field(
        description=f"The {MAX_CONVERSATIONS} most recent conversations you may see, newest first."
    )


def present_customer(customer: Customer, conversations: list[Any]) -> dict[str, Any]:
    home_team = customer.home_team
    return {
        "id": customer.pk,
        "name": customer.display_name,
        "preferred_language": customer.preferred_language,
        "preferred_channel": customer.preferred_channel,
        "region": customer.region,
        "home_team": {"id": home_team.pk, "name": home_team.name} if home_team else None,
        "identities": [
            {"kind": identity.kind, "value": identity.value, "verified": identity.verified}
            for identity in customer.identities.order_by("kind", "pk")
        ],
        "attributes": customer.attributes,
        "created_at": customer.created_at,
        "conversations": [present_conversation(conversation) for conversation in conversations],
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
    return present_customer(customer, conversations)


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
    return present_customer(customer, conversations)
