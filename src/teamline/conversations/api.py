"""Conversations in the JSON API: lists, detail, messages, replies, notes and status.

Every path id goes through access_conversation (NotFound → 404 for anything outside the
caller's teams, whether or not it exists); writes go through the conversation actions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, cast

from django.http import HttpRequest
from django.utils import timezone
from ninja import Body, Field, Header, Path, Query, Router, Schema, Status
from pydantic import AwareDatetime, ConfigDict, field_validator

from teamline.accounts.models import User
from teamline.audit.actions import do_audit
from teamline.audit.models import AuditAction
from teamline.connectors.stepup import do_request_step_up
from teamline.core.apischema import MAX_ID, MAX_OFFSET, errors, text_field
from teamline.core.errors import Conflict, NotFound
from teamline.customers.queries import access_step_up_identity, step_up_identities
from teamline.routing.eta import queue_report

from .actions import MAX_TEXT, do_add_note, do_change_status, do_mark_read, do_send_reply
from .models import Conversation, Direction, Priority, SenderKind
from .models import Status as ConversationStatus
from .presenters import present_conversation, present_level, present_message
from .queries import access_conversation, inbox_conversations, messages_of
from .redaction import stored_text
from .stepup import latest_step_up, masked_destination, present_step_up

router = Router(tags=["conversations"])

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# Room for the "agent<id>:" prefix inside Message.external_id (200 characters).
MAX_CLIENT_ID = 100

# A database id: bounded so that a huge number is a 422, never an overflow in the database.
ObjectId = Annotated[int, Path(..., ge=1, le=MAX_ID, description="The conversation's id.")]


# --- Schemas -------------------------------------------------------------------------------


class TeamRef(Schema):
    id: int
    name: str


class UserRef(Schema):
    id: int
    name: str


class CustomerRef(Schema):
    id: int
    name: str


class VerificationOut(Schema):
    level: Literal["none", "code", "strong"] = Field(
        description="Customer step-up level now (docs/security.md): none < code < strong."
    )
    method: str = Field(
        description="How it was reached: sms_code, email_code, app_code, passkey, oidc; "
        "empty at none."
    )
    verified_at: datetime | None
    expires_at: datetime | None = Field(description="When the level lapses back to none.")
    allows: list[str] = Field(
        description="What the level allows: general_help, account_data, account_changes."
    )


class ConversationOut(Schema):
    id: int
    status: ConversationStatus
    priority: Priority = Field(description="0 normal, 1 high, 2 urgent.")
    channel: str = Field(description="Channel of origin, e.g. webchat.")
    team: TeamRef
    assignee: UserRef | None
    customer: CustomerRef
    unread_count: int = Field(description="Customer messages the assignee has not opened yet.")
    created_at: datetime
    last_message_at: datetime | None
    verification: VerificationOut


class ConversationDetailOut(ConversationOut):
    channel_kind: str = Field(description="How the channel is worked: chat, email or voice.")
    updated_at: datetime
    waiting_since: datetime | None = Field(
        description="Set while open and unassigned: the team queue, oldest first."
    )
    snoozed_until: datetime | None
    resolved_at: datetime | None


class Page(Schema):
    limit: int
    offset: int
    next_offset: int | None = Field(description="Offset of the next page; null on the last page.")


class ConversationPage(Page):
    items: list[ConversationOut]


class MessageOut(Schema):
    id: int
    conversation_id: int
    direction: Direction
    sender_kind: SenderKind
    sender: UserRef | None = Field(description="The staff member who wrote it, if any.")
    channel: str
    text: str
    content: dict[str, Any]
    is_internal: bool = Field(description="True for internal notes (never shown to customers).")
    delivery_status: str
    created_at: datetime


class MessagePage(Page):
    items: list[MessageOut]


class Paging(Schema):
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Page size (1-200).")
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description="How many items to skip.")


class ConversationFilters(Paging):
    view: Literal["mine", "unassigned", "team"] = Field(
        "team",
        description="mine: assigned to me; unassigned: nobody's yet; team: everything I can see.",
    )
    status: ConversationStatus | None = Field(
        None, description="Only conversations in this status."
    )


class ReplyIn(Schema):
    text: str = text_field(max_length=MAX_TEXT, description="The reply (1-10,000 characters).")
    client_id: str | None = text_field(
        default=None,
        max_length=MAX_CLIENT_ID,
        blank=True,
        min_length=1,
        description="Your id for this message: a retry with the same id returns the same message.",
    )


class NoteIn(Schema):
    text: str = text_field(
        max_length=MAX_TEXT, description="The note (1-10,000 characters). Staff only."
    )


class SnoozeIn(Schema):
    """Snooze until a time: it reopens then (409 when that time has already passed)."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["snoozed"]
    snooze_until: AwareDatetime = Field(description="A future time with a UTC offset.")


class StatusOnlyIn(Schema):
    """Open, pending or resolved: no snooze_until."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["open", "pending", "resolved"]
    snooze_until: None = Field(None, description="Only with status snoozed.")

    @field_validator("snooze_until", mode="before")
    @classmethod
    def _only_with_snoozed(cls, value: Any) -> None:
        if value is not None:
            raise ValueError("snooze_until only goes with status snoozed")
        return None


# "snooze_until only with snoozed", in the schema: one of two shapes, told apart by status.
StatusIn = Annotated[SnoozeIn | StatusOnlyIn, Field(discriminator="status")]

# Documented error answers (all {code, detail}); the handlers live in teamline/api.py.
ERRORS = errors(404, 422)
QUERY_ERRORS = ERRORS
INPUT_ERRORS = errors(400, 404, 409, 422)


# --- Presenting ----------------------------------------------------------------------------


def _detail(conversation: Conversation, viewer: User) -> dict[str, Any]:
    return {
        **present_conversation(conversation, viewer),
        "channel_kind": conversation.channel_kind,
        "updated_at": conversation.updated_at,
        "snoozed_until": conversation.snoozed_until,
        "resolved_at": conversation.resolved_at,
    }


def _page(rows: list[Any], paging: Paging, present: Any, viewer: User) -> dict[str, Any]:
    """rows holds up to limit + 1 items: the extra one only says there is a next page."""
    more = len(rows) > paging.limit
    return {
        "items": [present(row, viewer) for row in rows[: paging.limit]],
        "limit": paging.limit,
        "offset": paging.offset,
        "next_offset": paging.offset + paging.limit if more else None,
    }


def _actor(request: HttpRequest) -> User:
    """The authenticated staff member (bearer token or session), set by the API's auth."""
    return cast(User, request.auth)  # type: ignore[attr-defined]


# --- Endpoints -----------------------------------------------------------------------------


@router.get(
    "",
    response={200: ConversationPage, **QUERY_ERRORS},
    summary="List conversations",
    operation_id="list_conversations",
)
def list_conversations(request: HttpRequest, filters: Query[ConversationFilters]) -> Any:
    """The desk's inbox lists, most urgent and most recently active first. Admins see every
    team; supervisors the teams they supervise; agents the teams they work in."""
    qs = inbox_conversations(_actor(request), view=filters.view, status=filters.status)
    rows = list(qs[filters.offset : filters.offset + filters.limit + 1])
    return _page(rows, filters, present_conversation, _actor(request))


@router.get(
    "/{conversation_id}",
    response={200: ConversationDetailOut, **ERRORS},
    summary="Get a conversation",
    operation_id="get_conversation",
)
def get_conversation(request: HttpRequest, conversation_id: ObjectId) -> Any:
    """One conversation. 404 if it does not exist or is outside your teams. Audited
    (`conversation.viewed`)."""
    actor = _actor(request)
    conversation = access_conversation(actor, conversation_id)
    do_audit(
        AuditAction.CONVERSATION_VIEWED,
        actor=actor,
        target_type="conversation",
        target_id=conversation.pk,
        request=request,
        data={"customer": conversation.customer_id, "via": "api"},
    )
    return _detail(conversation, actor)


@router.get(
    "/{conversation_id}/messages",
    response={200: MessagePage, **QUERY_ERRORS},
    summary="List a conversation's messages",
    operation_id="list_messages",
)
def list_messages(request: HttpRequest, conversation_id: ObjectId, paging: Query[Paging]) -> Any:
    """Messages and internal notes (is_internal=true), oldest first."""
    conversation = access_conversation(_actor(request), conversation_id)
    qs = messages_of(conversation, include_internal=True)
    rows = list(qs[paging.offset : paging.offset + paging.limit + 1])
    return _page(rows, paging, present_message, _actor(request))


@router.post(
    "/{conversation_id}/messages",
    response={200: MessageOut, 201: MessageOut, **INPUT_ERRORS},
    summary="Reply to the customer",
    operation_id="send_reply",
)
def send_reply(
    request: HttpRequest,
    conversation_id: ObjectId,
    payload: ReplyIn,
    idempotency_key: Annotated[
        str | None,
        Header(
            None,
            alias="Idempotency-Key",
            min_length=1,
            max_length=MAX_CLIENT_ID,
            description="Used as client_id when the body has none.",
        ),
    ] = None,
) -> Any:
    """Send a reply on the conversation's channel. 201 when created; 200 with the stored
    message when client_id (or the Idempotency-Key header) was already used for this reply."""
    actor = _actor(request)
    conversation = access_conversation(actor, conversation_id)
    client_id = payload.client_id or idempotency_key
    message, created = do_send_reply(conversation, payload.text, actor=actor, client_id=client_id)
    # A retry's text is compared as it was stored: masked (conversations.redaction).
    if not created and (
        message.conversation_id != conversation.pk
        or message.text != stored_text(message.inbox or conversation.inbox, payload.text.strip())
    ):
        raise Conflict("This client_id / Idempotency-Key was already used for another reply.")
    return Status(201 if created else 200, present_message(message, actor))


@router.post(
    "/{conversation_id}/notes",
    response={201: MessageOut, **INPUT_ERRORS},
    summary="Add an internal note",
    operation_id="add_note",
)
def add_note(request: HttpRequest, conversation_id: ObjectId, payload: NoteIn) -> Any:
    """A note for colleagues: stored with is_internal=true, never sent to the customer."""
    actor = _actor(request)
    conversation = access_conversation(actor, conversation_id)
    return Status(201, present_message(do_add_note(conversation, payload.text, actor=actor), actor))


@router.post(
    "/{conversation_id}/status",
    response={200: ConversationDetailOut, **INPUT_ERRORS},
    summary="Change a conversation's status",
    operation_id="change_status",
)
def change_status(
    request: HttpRequest, conversation_id: ObjectId, payload: Annotated[StatusIn, Body()]
) -> Any:
    """Open, pending, snoozed (with a future snooze_until) or resolved. 409 when snooze_until
    has already passed (a schema cannot say "in the future")."""
    actor = _actor(request)
    conversation = access_conversation(actor, conversation_id)
    snooze_until = payload.snooze_until if isinstance(payload, SnoozeIn) else None
    if snooze_until is not None and snooze_until <= timezone.now():
        raise Conflict("snooze_until has already passed: snooze until a time in the future.")
    do_change_status(conversation, payload.status, actor=actor, snooze_until=snooze_until)
    # Read it back through the access helper: one query with team, assignee and customer.
    return _detail(access_conversation(actor, conversation_id), actor)


class QueueOut(Schema):
    position: int | None = Field(description="1 = next in line; null while being placed.")
    eta_seconds: int | None = Field(description="Estimated wait (docs/routing.md); null: unknown.")
    serving: bool = Field(description="Whether anybody in the item's pool serves it now.")
    answer_from: str | None = Field(description="When closed: when a human answers (team time).")
    kind: str = Field(description="conversation, callback or appointment.")
    explanation: str = Field(description="Why it waits where it does, for supervisors.")


@router.get(
    "/{conversation_id}/queue",
    response={200: QueueOut, **ERRORS},
    summary="Queue position and estimated wait",
    operation_id="get_queue_position",
)
def get_queue_position(request: HttpRequest, conversation_id: ObjectId) -> Any:
    """Where the conversation's waiting work item stands. 404 when it is not waiting."""

    conversation = access_conversation(_actor(request), conversation_id)
    report = queue_report(conversation, timezone.now())
    if report is None:
        raise NotFound("This conversation is not waiting in line.")
    return report


@router.post(
    "/{conversation_id}/read",
    response={200: ConversationDetailOut, **ERRORS},
    summary="Mark a conversation read",
    operation_id="mark_read",
)
def mark_read(request: HttpRequest, conversation_id: ObjectId) -> Any:
    """The assignee has read it: unread_count drops to zero (no change for anyone else)."""
    actor = _actor(request)
    conversation = access_conversation(actor, conversation_id)
    do_mark_read(conversation, actor=actor)
    return _detail(conversation, actor)


# --- Customer step-up ---------------------------------------------------------------------


class StepUpIn(Schema):
    model_config = ConfigDict(extra="forbid")
    identity_id: int = Field(
        ge=1,
        le=MAX_ID,
        description="One of the customer's verified phone or email identities "
        "(GET …/step-up lists them): the code goes there.",
    )


class StepUpIdentityOut(Schema):
    id: int
    kind: Literal["phone", "email"]
    destination: str = Field(description="Masked: a phone's last four digits, an email's domain.")


class StepUpOut(Schema):
    id: int
    state: Literal["pending", "verified", "failed", "expired", "superseded"]
    method: str
    destination: str = Field(description="Where the code went, masked. Never the code.")
    failures: int = Field(description="Wrong codes typed so far.")
    by_bot: bool
    created_at: datetime
    expires_at: datetime


class StepUpStatusOut(Schema):
    verification: VerificationOut
    step_up: StepUpOut | None = Field(description="The latest request, if any.")
    identities: list[StepUpIdentityOut] = Field(description="Where a code can be sent.")


def _step_up_status(conversation: Conversation) -> dict[str, Any]:
    return {
        "verification": present_level(conversation),
        "step_up": present_step_up(latest_step_up(conversation.pk)),
        "identities": [
            {"id": i.pk, "kind": i.kind, "destination": masked_destination(i)}
            for i in step_up_identities(conversation.customer)
        ],
    }


@router.get(
    "/{conversation_id}/step-up",
    response={200: StepUpStatusOut, **ERRORS},
    summary="Customer verification in a conversation",
    operation_id="get_step_up",
)
def get_step_up(request: HttpRequest, conversation_id: ObjectId) -> Any:
    """The conversation's verification level, the latest step-up request (its state, never a
    code) and the identities a code can be sent to."""
    conversation = access_conversation(_actor(request), conversation_id)
    return _step_up_status(conversation)


@router.post(
    "/{conversation_id}/step-up",
    response={201: StepUpStatusOut, **errors(400, 403, 404, 409, 422, 429, 503)},
    summary="Ask the customer to verify",
    operation_id="request_step_up",
)
def request_step_up(request: HttpRequest, conversation_id: ObjectId, payload: StepUpIn) -> Any:
    """Send the customer a one-time code on one of their verified identities (SMS or email)
    and wait for them to type it in the widget or reply with it. 404 for an identity that is
    not one of this customer's verified ones; 429 past the codes per address per hour; 503
    when no channel can take the code now. The code is never in any answer."""
    actor = _actor(request)
    conversation = access_conversation(actor, conversation_id)
    identity = access_step_up_identity(conversation.customer, payload.identity_id)
    do_request_step_up(conversation, identity, actor=actor)
    return Status(201, _step_up_status(access_conversation(actor, conversation_id)))
