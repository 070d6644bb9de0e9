"""Canned replies in the JSON API: list and search the ones you may use, create, change and
remove them (by scope: agents their personal ones, supervisors their teams', admins every
team's and the global ones — 403 otherwise), and render one for a conversation: the text in the
customer's language with its variables filled in, to put in a reply (nothing is sent)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, cast

from django.http import HttpRequest
from django.utils import timezone
from ninja import Body, Field, Path, Query, Router, Schema, Status
from pydantic import ConfigDict, StringConstraints

from teamline.accounts.models import User
from teamline.conversations.queries import access_conversation
from teamline.core.apischema import MAX_ID, errors, text_field
from teamline.core.jsonsafe import NOT_BLANK_PATTERN
from teamline.teams.queries import access_team

from .actions import (
    MAX_TEXT,
    MAX_TITLE,
    do_create_canned_reply,
    do_delete_canned_reply,
    do_update_canned_reply,
)
from .models import CannedReply, Scope
from .queries import MAX_QUERY, access_canned_reply, may_change, search_canned_replies
from .rendering import VARIABLES, filler_for

router = Router(tags=["canned replies"])

ReplyId = Annotated[int, Path(..., ge=1, le=MAX_ID, description="The canned reply's id.")]
# Not blank, no NUL (the server strips text; core.jsonsafe's pattern).
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT, pattern=NOT_BLANK_PATTERN)]
LanguageCode = Literal["en", "nb", "zh-hans", "zh-hant", "et", "pt"]
TEXTS_HELP = (
    "The text in each language, by code: en, nb, zh-hans, zh-hant, et, pt. Variables: "
    + ", ".join("{{" + name + "}}" for name in VARIABLES)
    + "; any other name in double braces is a 400."
)


class TeamRef(Schema):
    id: int
    name: str


class CannedReplyOut(Schema):
    id: int
    scope: Scope
    team: TeamRef | None
    owner_id: int | None = Field(description="The owner of a personal reply (you).")
    title: str
    shortcut: str = Field(description="Typed after / in the desk's reply box to find it.")
    texts: dict[str, str]
    may_change: bool = Field(description="Whether you may change or remove it.")
    updated_at: datetime


class CannedReplyPage(Schema):
    items: list[CannedReplyOut]


class CannedReplyFilters(Schema):
    q: str = text_field(
        default="",
        max_length=MAX_QUERY,
        blank=True,
        description="Words in the title, shortcut or a text (any case).",
    )
    scope: Scope | None = Field(None, description="Only personal, team or global replies.")


class _ReplyFields(Schema):
    model_config = ConfigDict(extra="forbid")
    title: str = text_field(max_length=MAX_TITLE)
    shortcut: str = Field(
        "",
        max_length=32,
        pattern=r"^([a-z0-9][a-z0-9_-]{0,31})?$",
        description="Letters a-z, digits, - and _ (typed after / in the desk).",
    )
    texts: dict[LanguageCode, Text] = Field(min_length=1, description=TEXTS_HELP)


class PersonalReplyIn(_ReplyFields):
    scope: Literal["personal"] = Field(description="Yours alone.")


class TeamReplyIn(_ReplyFields):
    scope: Literal["team"] = Field(description="For the team's members (its supervisors write).")
    team_id: int = Field(ge=1, le=MAX_ID, description="The team (one you supervise).")


class GlobalReplyIn(_ReplyFields):
    scope: Literal["global"] = Field(description="For everyone (admins write).")


CannedReplyIn = Annotated[
    PersonalReplyIn | TeamReplyIn | GlobalReplyIn, Field(discriminator="scope")
]


class CannedReplyChangeIn(_ReplyFields):
    pass


class RenderFilters(Schema):
    conversation_id: int = Field(
        ge=1, le=MAX_ID, description="The conversation whose customer, team and agent fill it."
    )


class RenderedOut(Schema):
    id: int
    language: str = Field(description="The text's language: the customer's, else the inbox's.")
    text: str
    unknown: list[str] = Field(description="Names in braces that are no variable (left as is).")


def _actor(request: HttpRequest) -> User:
    return cast(User, request.auth)  # type: ignore[attr-defined]


def _present(reply: CannedReply, actor: User) -> dict[str, Any]:
    return {
        "id": reply.pk,
        "scope": reply.scope,
        "team": {"id": reply.team.pk, "name": reply.team.name} if reply.team else None,
        "owner_id": reply.owner_id,
        "title": reply.title,
        "shortcut": reply.shortcut,
        "texts": reply.texts,
        "may_change": may_change(actor, reply),
        "updated_at": reply.updated_at,
    }


@router.get(
    "",
    response={200: CannedReplyPage, **errors(422)},
    summary="List canned replies",
    operation_id="list_canned_replies",
)
def list_canned_replies(request: HttpRequest, filters: Query[CannedReplyFilters]) -> Any:
    """Yours, your teams' and the global ones, by title (at most 200)."""
    actor = _actor(request)
    rows = search_canned_replies(actor, filters.q)
    if filters.scope is not None:
        rows = [row for row in rows if row.scope == filters.scope]
    return {"items": [_present(row, actor) for row in rows]}


@router.post(
    "",
    response={201: CannedReplyOut, **errors(400, 403, 404, 422)},
    summary="Create a canned reply",
    operation_id="create_canned_reply",
)
def create_canned_reply(request: HttpRequest, payload: Annotated[CannedReplyIn, Body()]) -> Any:
    """400 names an unknown variable or language; 403 when your role may not write the scope;
    404 for a team outside yours."""
    actor = _actor(request)
    team = access_team(actor, payload.team_id) if isinstance(payload, TeamReplyIn) else None
    reply = do_create_canned_reply(
        scope=payload.scope,
        title=payload.title,
        shortcut=payload.shortcut,
        texts={str(code): text for code, text in payload.texts.items()},
        team=team,
        actor=actor,
    )
    return Status(201, _present(access_canned_reply(actor, reply.pk), actor))


@router.get(
    "/{reply_id}",
    response={200: CannedReplyOut, **errors(404, 422)},
    summary="Get a canned reply",
    operation_id="get_canned_reply",
)
def get_canned_reply(request: HttpRequest, reply_id: ReplyId) -> Any:
    """One reply you may use (404 for another person's personal reply or another team's)."""
    actor = _actor(request)
    return _present(access_canned_reply(actor, reply_id), actor)


@router.put(
    "/{reply_id}",
    response={200: CannedReplyOut, **errors(400, 403, 404, 422)},
    summary="Change a canned reply",
    operation_id="update_canned_reply",
)
def update_canned_reply(
    request: HttpRequest, reply_id: ReplyId, payload: CannedReplyChangeIn
) -> Any:
    """Its title, shortcut and texts (the scope stays)."""
    actor = _actor(request)
    reply = do_update_canned_reply(
        access_canned_reply(actor, reply_id),
        title=payload.title,
        shortcut=payload.shortcut,
        texts={str(code): text for code, text in payload.texts.items()},
        actor=actor,
    )
    return _present(reply, actor)


@router.delete(
    "/{reply_id}",
    response={204: None, **errors(403, 404, 422)},
    summary="Remove a canned reply",
    operation_id="delete_canned_reply",
)
def delete_canned_reply(request: HttpRequest, reply_id: ReplyId) -> Any:
    """Remove it: its owner for a personal reply, else whoever may write its scope (403)."""
    actor = _actor(request)
    do_delete_canned_reply(access_canned_reply(actor, reply_id), actor=actor)
    return Status(204, None)


@router.get(
    "/{reply_id}/render",
    response={200: RenderedOut, **errors(404, 422)},
    summary="Render a canned reply for a conversation",
    operation_id="render_canned_reply",
)
def render_canned_reply(
    request: HttpRequest, reply_id: ReplyId, filters: Query[RenderFilters]
) -> Any:
    """The text in the customer's language (else the inbox's default, else any the reply
    has) with {{customer.first_name}}, {{agent.name}} and {{team.hours_today}} filled in for
    the conversation. Nothing is sent: post it as a reply when it reads right."""
    actor = _actor(request)
    reply = access_canned_reply(actor, reply_id)
    conversation = access_conversation(actor, filters.conversation_id)
    rendered = filler_for(conversation, actor, timezone.now()).render(reply.texts)
    return {
        "id": reply.pk,
        "language": rendered.language,
        "text": rendered.text,
        "unknown": list(rendered.unknown),
    }
