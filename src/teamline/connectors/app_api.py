"""The in-app REST API, /api/v1/app/<inbox public id>/…, for the operator's own mobile apps.

Not staff auth: the app's backend vouches for its user with `user_hash` = hex
HMAC-SHA256(inbox secret, user_id) (as for the widget), gets a session token, and the app sends
it as `Authorization: Bearer <token>`. The token is the widget's session token, so the same
token also opens the widget socket (/ws/widget/) to receive replies live.

Every call checks that the token was issued for the inbox in the path and names a customer
with a verified app identity: a token only ever reaches its own customer's thread.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control
from ninja import Field, Query, Router, Schema, Status

from teamline.conversations.inbound import do_receive_customer_message
from teamline.conversations.models import Inbox, InboxKind
from teamline.conversations.presenters import present_message_to_customer
from teamline.conversations.queries import customer_thread
from teamline.core.apischema import MAX_ID, errors, text_field
from teamline.core.errors import Forbidden, NotFound, TeamlineError
from teamline.customers.actions import do_resolve_verified_customer
from teamline.customers.models import Customer, IdentityKind

from . import app as app_connector
from . import webchat

router = Router(tags=["in-app"], auth=None)

MAX_CLIENT_ID = 64
MAX_TEXT = 10_000


class Unauthenticated(TeamlineError):
    code = "unauthenticated"
    status = 401


# --- Schemas -------------------------------------------------------------------------------


class SessionIn(Schema):
    user_id: str = text_field(max_length=200, description="The app's own user id.")
    user_hash: str = Field(
        min_length=1,
        max_length=128,
        description="hex HMAC-SHA256(inbox secret, user_id), computed by the app's backend.",
    )
    name: str = text_field(
        default="", max_length=200, blank=True, description="The user's display name."
    )


class AppSessionOut(Schema):
    token: str = Field(
        description="Send as `Authorization: Bearer <token>`; also opens /ws/widget/."
    )
    customer: dict[str, Any]


class AppMessageOut(Schema):
    id: int
    conversation_id: int
    sender: str = Field(alias="from", description="customer, agent, bot or system.")
    sender_name: str | None
    text: str
    client_id: str | None
    created_at: str


class ThreadOut(Schema):
    messages: list[AppMessageOut]


class MessageIn(Schema):
    client_id: str = Field(
        min_length=1,
        max_length=MAX_CLIENT_ID,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Chosen by the app (e.g. a UUID); a resend with the same id is absorbed.",
    )
    text: str = text_field(max_length=MAX_TEXT, description="1-10,000 characters.")


class MessageCreatedOut(Schema):
    message: AppMessageOut


ERRORS = errors(403, 404, 422, 429)
BODY_ERRORS = errors(400, 403, 404, 422, 429)


# --- Helpers -------------------------------------------------------------------------------


def _app_inbox(inbox_public_id: str) -> Inbox:
    """An active in-app inbox, else 404 (whatever else the id might name)."""
    try:
        value = uuid.UUID(str(inbox_public_id))
    except ValueError as exc:
        raise NotFound("No such inbox.") from exc
    inbox = (
        Inbox.objects.select_related("default_team")
        .filter(public_id=value, is_active=True, kind=InboxKind.APP)
        .first()
    )
    if inbox is None:
        raise NotFound("No such inbox.")
    return inbox


def _session_customer(request: HttpRequest, inbox: Inbox) -> Customer:
    """The customer the bearer token names, if it was issued for this inbox to a verified user."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Send the app session token: Authorization: Bearer <token>.")
    try:
        claims = webchat.read_session(token.strip())
    except NotFound as exc:
        raise Unauthenticated("Unknown or expired app session.") from exc
    if claims.inbox_public_id != str(inbox.public_id):
        raise Unauthenticated("This session belongs to another inbox.")
    # Widget tokens share the format; only a session opened with a verified user id (an app
    # session) may use the app API, never an anonymous visitor's.
    customer = (
        Customer.objects.select_related("home_team")
        .filter(
            pk=claims.customer_id,
            identities__kind=IdentityKind.EXTERNAL,
            identities__verified=True,
        )
        .first()
    )
    if customer is None:
        raise Unauthenticated("Unknown or expired app session.")
    return customer


def _present(message: Any) -> dict[str, Any]:
    return present_message_to_customer(message)


# --- Endpoints -----------------------------------------------------------------------------


@router.post(
    "/{inbox_public_id}/session",
    response={200: AppSessionOut, **BODY_ERRORS},
    summary="Open an app session for a verified user",
    operation_id="app_session",
)
def open_session(
    request: HttpRequest, response: HttpResponse, inbox_public_id: str, payload: SessionIn
) -> Any:
    """Exchange the app backend's identity hash for a session token. 403 when the hash does not
    match, 404 for an unknown inbox."""
    inbox = _app_inbox(inbox_public_id)
    if not webchat.verify_identity(inbox.secret, payload.user_id, payload.user_hash):
        raise Forbidden("The identity signature does not match.")
    customer = do_resolve_verified_customer(payload.user_id, name=payload.name.strip())
    # The answer carries a bearer token: never cached by a client or a proxy.
    patch_cache_control(response, no_store=True)
    return {
        "token": webchat.sign_session(str(inbox.public_id), customer.pk),
        "customer": {"name": customer.name},
    }


@router.get(
    "/{inbox_public_id}/messages",
    response={200: ThreadOut, **ERRORS},
    summary="The user's thread",
    operation_id="app_thread",
    by_alias=True,
)
def thread(
    request: HttpRequest,
    inbox_public_id: str,
    after: Annotated[int, Query(0, ge=0, le=MAX_ID)] = 0,
) -> Any:
    """Everything the user may see across their conversations, oldest first; never internal
    notes. `after`: only messages with a greater id (for polling)."""
    inbox = _app_inbox(inbox_public_id)
    customer = _session_customer(request, inbox)
    messages = customer_thread(customer.pk)
    if after > 0:
        messages = messages.filter(pk__gt=after)
    return {"messages": [_present(message) for message in messages]}


@router.post(
    "/{inbox_public_id}/messages",
    response={200: MessageCreatedOut, 201: MessageCreatedOut, **BODY_ERRORS},
    summary="Send a message as the user",
    operation_id="app_send_message",
    by_alias=True,
)
def send_message(request: HttpRequest, inbox_public_id: str, payload: MessageIn) -> Any:
    """201 with the stored message; 200 with the same message when this client_id was already
    used (a retry after a lost answer changes nothing)."""
    inbox = _app_inbox(inbox_public_id)
    customer = _session_customer(request, inbox)
    message, created = do_receive_customer_message(
        inbox=inbox,
        customer=customer,
        text=payload.text,
        channel=app_connector.CHANNEL,
        external_id=webchat.client_external_id(customer.pk, payload.client_id),
        channel_kind="chat",
        defer_routing=True,  # the batch router decides (routing/batch.py)
        # Counted on the conversation's row, under its lock (RateLimited: 429).
        per_minute=int(settings.TEAMLINE["RATE_MESSAGES_PER_SESSION_PER_MINUTE"]),
    )
    return Status(201 if created else 200, {"message": _present(message)})
