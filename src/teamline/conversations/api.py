"""Conversations in the JSON API: lists, detail, messages, replies, notes and status.

Every path id goes through access_conversation (NotFound → 404 for anything outside the
caller's teams, whether or not it exists); writes go through the conversation actions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, cast

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from ninja import Body, Field, File, Form, Header, Path, Query, Router, Schema, Status, UploadedFile
from pydantic import AwareDatetime, ConfigDict, field_validator

from teamline.accounts.models import User
from teamline.audit.actions import do_audit
from teamline.audit.models import AuditAction
from teamline.connectors.actions import do_send_whatsapp_template
from teamline.connectors.queries import access_template, conversation_templates
from teamline.connectors.stepup import (
    code_identities,
    do_request_sign_in_step_up,
    do_request_step_up,
    sign_in_methods,
)
from teamline.connectors.templates import describe
from teamline.core.apischema import MAX_ID, MAX_OFFSET, Out, errors, text_field
from teamline.core.errors import Conflict, NotFound
from teamline.customers.queries import access_step_up_identity
from teamline.routing.eta import queue_report

from .actions import MAX_TEXT, do_change_status, do_mark_read
from .attachments import prepare_uploads
from .labels import (
    MAX_LABEL_NAME,
    PRIORITY_BY_NAME,
    access_label,
    do_add_label,
    do_remove_label,
    do_set_priority,
    with_labels,
)
from .models import Conversation, Direction, Priority, SenderKind
from .models import Status as ConversationStatus
from .presenters import present_conversation, present_level, present_message
from .queries import access_conversation, inbox_conversations, messages_of, reachable_channels
from .redaction import stored_text
from .replies import do_add_note, do_send_reply
from .stepup import latest_step_up, masked_destination, present_step_up

router = Router(tags=["conversations"])

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# Room for the "agent<id>:" prefix inside Message.external_id (200 characters).
MAX_CLIENT_ID = 100

# A database id: bounded so that a huge number is a 422, never an overflow in the database.
ObjectId = Annotated[int, Path(..., ge=1, le=MAX_ID, description="The conversation's id.")]


# --- Schemas -------------------------------------------------------------------------------


class TeamRef(Out):
    id: int
    name: str


class UserRef(Out):
    id: int
    name: str


class CustomerRef(Out):
    id: int
    name: str


class VerificationOut(Out):
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


class LabelOut(Out):
    id: int
    name: str
    colour: str = Field(description="#rrggbb; the name is always shown with it.")


class ConversationOut(Out):
    id: int
    status: ConversationStatus
    priority: Priority = Field(description="-1 low, 0 normal, 1 high, 2 urgent.")
    labels: list[LabelOut] = Field(default_factory=list, description="Its labels, by name.")
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


class Page(Out):
    limit: int
    offset: int
    next_offset: int | None = Field(description="Offset of the next page; null on the last page.")


class ConversationPage(Page):
    items: list[ConversationOut]


class MessageOut(Out):
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
    label: str | None = text_field(
        default=None,
        max_length=MAX_LABEL_NAME,
        description="Only conversations with this label: its id or its name (any case). "
        "404 for a label that does not exist.",
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


class ReplyFilesIn(Schema):
    text: str = text_field(
        default="",
        max_length=MAX_TEXT,
        blank=True,
        description="The text sent with the files (may be empty).",
    )
    client_id: str | None = text_field(
        default=None,
        max_length=MAX_CLIENT_ID,
        blank=True,
        description="Your id for this message: a retry with the same id returns the same "
        "message. Empty: none.",
    )


# One part per file; how many and how large are the server's settings (a 400 says which).
FILES_HELP = "The files: images, PDF, audio, video or plain text."
# Files one reply may carry (TEAMLINE_AGENT_ATTACHMENTS_MAX), stated in the OpenAPI document
# (`maxItems`) so a client reads the limit there instead of meeting it as a refusal.
AGENT_FILES_MAX = int(settings.TEAMLINE["AGENT_ATTACHMENTS_MAX"])


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
    with_labels(conversation)
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
    team; supervisors the teams they supervise; agents the teams they work in. `label`
    narrows the list to one label (by id or name)."""
    actor = _actor(request)
    label_id = access_label(actor, filters.label).pk if filters.label is not None else None
    qs = inbox_conversations(actor, view=filters.view, status=filters.status, label_id=label_id)
    # The page's labels in one query, whatever its length.
    qs = qs.prefetch_related("labels")
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
    "/{conversation_id}/messages/files",
    response={200: MessageOut, 201: MessageOut, **errors(400, 404, 409, 413, 422)},
    summary="Reply to the customer with files",
    operation_id="send_reply_with_files",
)
def send_reply_with_files(
    request: HttpRequest,
    conversation_id: ObjectId,
    files: Annotated[
        list[UploadedFile],
        File(..., min_length=1, max_length=AGENT_FILES_MAX, description=FILES_HELP),
    ],
    payload: Form[ReplyFilesIn],
) -> Any:
    """A reply carrying files (multipart/form-data: `files`, one part per file, and optional
    `text` and `client_id`). Images, PDF, audio, video and plain text, checked by their bytes;
    at most TEAMLINE_AGENT_ATTACHMENTS_MAX files (the document's `maxItems`: more are a 422)
    of TEAMLINE_ATTACHMENT_MAX_BYTES each (400 with the reason otherwise). WhatsApp, Telegram,
    MMS, Messenger, Instagram and email carry the files; other channels get a link to each.
    The message's `content.attachments` lists them. 201 when created; 200 with the stored
    message for a client_id already used."""
    actor = _actor(request)
    conversation = access_conversation(actor, conversation_id)
    prepared = prepare_uploads(files)
    message, created = do_send_reply(
        conversation, payload.text, actor=actor, client_id=payload.client_id, attachments=prepared
    )
    if not created and message.conversation_id != conversation.pk:
        raise Conflict("This client_id was already used for another reply.")
    return Status(201 if created else 200, present_message(message, actor))


class TemplateParameterOut(Schema):
    key: str = Field(description='What to name it in `parameters` ("body.1", "header.1"…).')
    component: str
    name: str
    example: str


class TemplateOut(Schema):
    id: int
    inbox_id: int
    name: str
    language: str
    category: str
    status: str = Field(description="Meta's status: only APPROVED templates can be sent.")
    text: str = Field(description="Header, body and footer, with the variables as written.")
    parameters: list[TemplateParameterOut]
    sendable: bool
    reason: str = Field(description="Why it cannot be sent (empty when it can).")


class TemplateListOut(Schema):
    window_open: bool = Field(
        description="Whether free text can reach the customer on WhatsApp now (24-hour window)."
    )
    items: list[TemplateOut]


class TemplateSendIn(Schema):
    template_id: int = Field(ge=1, le=MAX_ID)
    parameters: dict[str, str] = Field(
        default_factory=dict, description="The value of each parameter, by its key."
    )
    client_id: str | None = text_field(
        default=None,
        max_length=MAX_CLIENT_ID,
        blank=True,
        min_length=1,
        description="Your id for this message: a retry with the same id returns the same message.",
    )


def _whatsapp_window_open(options: list[Any]) -> bool:
    return any(
        o.reachability.reachable
        for o in options
        if o.inbox is not None and o.inbox.kind == "whatsapp"
    )


@router.get(
    "/{conversation_id}/templates",
    response={200: TemplateListOut, **errors(404, 422)},
    summary="The WhatsApp templates that can reach this customer",
    operation_id="list_templates",
)
def list_templates(request: HttpRequest, conversation_id: ObjectId) -> Any:
    """The synced message templates of the WhatsApp Cloud API inboxes the customer can be
    written to on (empty when they have no WhatsApp). After the 24-hour window a template is
    the only way to reach them there (`window_open` false)."""
    conversation = access_conversation(_actor(request), conversation_id)
    options = reachable_channels(conversation.customer, team_id=conversation.team_id)
    items = [describe(t) for t in conversation_templates(conversation, options=options)]
    return {"window_open": _whatsapp_window_open(options), "items": items}


@router.post(
    "/{conversation_id}/messages/template",
    response={200: MessageOut, 201: MessageOut, **INPUT_ERRORS},
    summary="Send a WhatsApp template to the customer",
    operation_id="send_template",
)
def send_template(request: HttpRequest, conversation_id: ObjectId, payload: TemplateSendIn) -> Any:
    """Send an approved template (from `GET .../templates`) with its parameters filled in, on
    WhatsApp, whatever the 24-hour window. 400 names a missing or invalid parameter or a
    template that cannot be sent; 201 when created, 200 for a client_id already used."""
    actor = _actor(request)
    conversation = access_conversation(actor, conversation_id)
    options = reachable_channels(conversation.customer, team_id=conversation.team_id)
    template = access_template(conversation, payload.template_id, options=options)
    message, created = do_send_whatsapp_template(
        conversation,
        template,
        payload.parameters,
        actor=actor,
        client_id=payload.client_id,
        options=options,
    )
    if not created and message.conversation_id != conversation.pk:
        raise Conflict("This client_id was already used for another reply.")
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


class PriorityIn(Schema):
    model_config = ConfigDict(extra="forbid")
    priority: Literal["urgent", "high", "normal", "low"] = Field(
        description="Urgent reaches a human even in a team taking urgent matters only."
    )


class LabelIn(Schema):
    model_config = ConfigDict(extra="forbid")
    label: str = text_field(
        max_length=MAX_LABEL_NAME, description="The label's id or its name (any case)."
    )


@router.post(
    "/{conversation_id}/priority",
    response={200: ConversationDetailOut, **INPUT_ERRORS},
    summary="Set a conversation's priority",
    operation_id="set_priority",
)
def set_priority(request: HttpRequest, conversation_id: ObjectId, payload: PriorityIn) -> Any:
    """Urgent, high, normal or low, for any staff member who may see the conversation. A
    waiting conversation moves in its queue at once (aging starts from when it arrived), and an
    urgent one is offered to a human even while its team takes urgent matters only. Recorded on
    the timeline; no change (and no timeline row) when it already has that priority."""
    actor = _actor(request)
    conversation = access_conversation(actor, conversation_id)
    do_set_priority(conversation, PRIORITY_BY_NAME[payload.priority], actor=actor)
    return _detail(access_conversation(actor, conversation_id), actor)


@router.post(
    "/{conversation_id}/labels",
    response={200: ConversationDetailOut, **INPUT_ERRORS},
    summary="Put a label on a conversation",
    operation_id="add_label",
)
def add_label(request: HttpRequest, conversation_id: ObjectId, payload: LabelIn) -> Any:
    """Put one of the admin's labels (GET /labels) on the conversation; putting it on twice
    changes nothing. 404 for an unknown label; 409 past 20 labels on one conversation."""
    actor = _actor(request)
    conversation = access_conversation(actor, conversation_id)
    do_add_label(conversation, access_label(actor, payload.label), actor=actor)
    return _detail(access_conversation(actor, conversation_id), actor)


@router.delete(
    "/{conversation_id}/labels/{label}",
    response={200: ConversationDetailOut, **ERRORS},
    summary="Take a label off a conversation",
    operation_id="remove_label",
)
def remove_label(
    request: HttpRequest,
    conversation_id: ObjectId,
    label: Annotated[str, Path(..., max_length=MAX_LABEL_NAME, description="Its id or name.")],
) -> Any:
    """Take the label off (nothing changes when it was not on)."""
    actor = _actor(request)
    conversation = access_conversation(actor, conversation_id)
    do_remove_label(conversation, access_label(actor, label), actor=actor)
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
    """A code: to one of the customer's verified identities."""

    model_config = ConfigDict(extra="forbid")
    via: Literal["code"] = Field("code", description="A one-time code to identity_id.")
    identity_id: int = Field(
        ge=1,
        le=MAX_ID,
        description="One of the customer's verified phone or email identities "
        "(GET …/step-up lists them): the code goes there.",
    )


class SignInStepUpIn(Schema):
    """No code: the customer is asked to sign in in the widget."""

    model_config = ConfigDict(extra="forbid")
    via: Literal["sign_in"] = Field(
        description="The customer is asked in the widget to sign in with the brand or a "
        "passkey (GET …/step-up lists sign_in_methods; 409 when there is none). Nothing is sent."
    )


class StepUpIdentityOut(Schema):
    id: int
    kind: Literal["phone", "email", "external"] = Field(
        description="external: the brand's user id, reached by app push (in-app channel)."
    )
    destination: str = Field(description="Masked: a phone's last four digits, an email's domain.")


class StepUpOut(Schema):
    id: int
    state: Literal["pending", "verified", "failed", "expired", "superseded"]
    method: str = Field(description="sms_code, email_code, app_code, or sign_in.")
    methods: list[str] = Field(
        description="How the customer may answer: the code's method, or for sign_in the "
        "sign-in methods offered (oidc, passkey)."
    )
    destination: str = Field(description="Where the code went, masked. Never the code.")
    failures: int = Field(description="Wrong codes typed so far.")
    by_bot: bool
    created_at: datetime
    expires_at: datetime


class StepUpStatusOut(Schema):
    verification: VerificationOut
    step_up: StepUpOut | None = Field(description="The latest request, if any.")
    identities: list[StepUpIdentityOut] = Field(description="Where a code can be sent.")
    sign_in_methods: list[Literal["oidc", "passkey"]] = Field(
        description="What a request with via=sign_in would offer the customer now: oidc (the "
        "brand's sign-in of the conversation's inbox), passkey (one is saved)."
    )


def _step_up_status(conversation: Conversation) -> dict[str, Any]:
    return {
        "verification": present_level(conversation),
        "step_up": present_step_up(latest_step_up(conversation.pk)),
        "identities": [
            {"id": i.pk, "kind": i.kind, "destination": masked_destination(i)}
            for i in code_identities(conversation.customer)
        ],
        "sign_in_methods": sign_in_methods(conversation),
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
def request_step_up(
    request: HttpRequest, conversation_id: ObjectId, payload: StepUpIn | SignInStepUpIn
) -> Any:
    """Send the customer a one-time code on one of their verified identities (SMS or email)
    and wait for them to type it in the widget or reply with it; or (via=sign_in) ask them to
    sign in with the brand or a passkey in the widget. 404 for an identity that is not one of
    this customer's verified ones; 409 for via=sign_in when the customer has no sign-in
    method; 429 past the codes per address per hour; 503 when no channel can take the code
    now. The code is never in any answer."""
    actor = _actor(request)
    conversation = access_conversation(actor, conversation_id)
    if isinstance(payload, SignInStepUpIn):
        do_request_sign_in_step_up(conversation, actor=actor)
    else:
        identity = access_step_up_identity(conversation.customer, payload.identity_id)
        do_request_step_up(conversation, identity, actor=actor)
    return Status(201, _step_up_status(access_conversation(actor, conversation_id)))
