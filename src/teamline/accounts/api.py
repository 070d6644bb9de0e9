"""The caller in the JSON API (/me): who am I, my presence, my desk language, where my phone
calls ring, my personal access tokens, my signed-in sessions; and the admins'
`/users/{id}/sign-out-everywhere` and `/users/{id}/remote` (flag a remote agent, whose view of
customers is masked).

Token secrets are shown once, in the answer that creates them; lists show only the prefix.
Token ids go through access_api_token (someone else's token answers 404; admins may revoke any).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, cast

from django.http import HttpRequest
from ninja import Field, Path, Router, Schema, Status
from pydantic import AwareDatetime, ConfigDict, StrictBool, field_validator

from teamline.core.apischema import MAX_ID, errors, text_field
from teamline.core.languages import languages
from teamline.teams.queries import memberships_of

from .actions import (
    SessionEnd,
    do_create_api_token,
    do_end_sessions,
    do_ensure_agent_profile,
    do_revoke_api_token,
    do_set_call_endpoint,
    do_set_desk_language,
    do_set_presence,
    do_set_remote_agent,
)
from .models import AgentProfile, ApiToken, CallVia, Presence, Role, StaffSession, TokenScope, User
from .queries import (
    access_api_token,
    access_staff_session,
    access_staff_user,
    profile_of,
    sessions_of,
    tokens_of,
)
from .sessions import SESSION_ID_KEY, describe_device

router = Router(tags=["me"])
# Admin-only: mounted at /users with the `admin` token scope required (teamline/api.py).
users_router = Router(tags=["users"])

TokenId = Annotated[int, Path(..., ge=1, le=MAX_ID, description="The token's id.")]
SessionId = Annotated[int, Path(..., ge=1, le=MAX_ID, description="The session's id.")]
UserId = Annotated[int, Path(..., ge=1, le=MAX_ID, description="The staff member's id.")]


class MembershipOut(Schema):
    id: int
    name: str
    supervisor: bool = Field(description="True if you supervise this team.")


class MeOut(Schema):
    id: int
    username: str
    name: str
    role: Role
    remote: bool = Field(
        description="A remote agent: customers' phone numbers, emails and addresses come masked."
    )
    presence: Presence
    language: str = Field(
        description="The language the desk speaks to you: en, nb, zh-hans, zh-hant, et or pt; "
        "empty: your browser's (Accept-Language)."
    )
    teams: list[MembershipOut] = Field(description="Teams you work in or supervise.")


class PresenceIn(Schema):
    presence: Presence


class LanguageIn(Schema):
    model_config = ConfigDict(extra="forbid")

    language: str = Field(
        ...,
        max_length=16,
        description="One of en, nb, zh-hans, zh-hant, et, pt (any case), or an empty string for "
        "your browser's language.",
    )

    @field_validator("language")
    @classmethod
    def _one_of_the_six(cls, value: str) -> str:
        code = value.strip().lower()
        if code and code not in languages():
            raise ValueError(f"one of {', '.join(languages())}, or empty for the browser's")
        return code


class CallEndpointIn(Schema):
    phone_number: str = Field(
        ...,
        max_length=40,
        pattern=r"^(\+[0-9][0-9 ().-]{2,38})?$",
        json_schema_extra={"format": "phone"},
        description="Your number with its country code (+4790000000), valid in its numbering "
        "plan (a 400 if not); may be empty with client.",
    )
    call_via: CallVia = Field(
        ...,
        description="phone: ring your number; client: the provider's softphone "
        "(client:<your username>).",
    )


class CallEndpointOut(Schema):
    phone_number: str
    call_via: CallVia
    endpoint: str = Field(description="What the provider dials when you accept a phone call.")


class TokenIn(Schema):
    name: str = text_field(
        max_length=100, description="What the token is for (1-100 characters), e.g. 'CRM sync'."
    )
    scopes: list[TokenScope] | None = Field(
        None,
        max_length=len(TokenScope.values),
        description="What the token may do: read (GET), write (POST, PUT, PATCH, DELETE), "
        "events, admin (admin-only endpoints). None or empty: everything you may do.",
    )
    expires_at: AwareDatetime | None = Field(
        None, description="When the token stops working (within ten years); none: never."
    )

    @field_validator("expires_at", mode="before")
    @classmethod
    def _iso_only(cls, value: Any) -> Any:
        # pydantic would also read a bare number as seconds since 1970; an expiry is a date.
        if value is not None and not isinstance(value, str):
            raise ValueError("an ISO 8601 moment such as 2027-03-01T00:00:00Z")
        return value


class TokenOut(Schema):
    id: int
    name: str
    prefix: str = Field(description="The first characters of the secret, to recognise it.")
    created_at: datetime
    last_used_at: datetime | None = Field(description="Updated at most once a minute.")
    revoked_at: datetime | None
    scopes: list[TokenScope] = Field(description="Empty: everything you may do.")
    expires_at: datetime | None
    active: bool = Field(description="Neither revoked nor expired.")


class TokenCreatedOut(TokenOut):
    token: str = Field(description="The secret. Shown only this once: store it now.")


def _actor(request: HttpRequest) -> User:
    """The authenticated staff member (bearer token or session), set by the API's auth."""
    return cast(User, request.auth)  # type: ignore[attr-defined]


def present_me(user: User) -> dict[str, Any]:
    try:
        presence = profile_of(user).presence
    except AgentProfile.DoesNotExist:
        # Users made outside Teamline's actions (e.g. createsuperuser) have no profile yet.
        presence = Presence.OFFLINE
    return {
        "id": user.pk,
        "username": user.username,
        "name": user.name,
        "role": user.role,
        "remote": user.is_remote,
        "presence": presence,
        "language": user.language,
        "teams": [
            {"id": team.pk, "name": team.name, "supervisor": supervisor}
            for team, supervisor in memberships_of(user)
        ],
    }


def present_token(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.pk,
        "name": token.name,
        "prefix": token.prefix,
        "created_at": token.created_at,
        "last_used_at": token.last_used_at,
        "revoked_at": token.revoked_at,
        "scopes": token.scopes,
        "expires_at": token.expires_at,
        "active": token.is_active,
    }


class SessionOut(Schema):
    id: int
    device: str = Field(description="Browser and system, read from the user agent.")
    user_agent: str
    ip: str | None = Field(description="The address the session signed in from.")
    created_at: datetime
    last_seen_at: datetime = Field(description="Updated at most once a minute.")
    current: bool = Field(description="The session making this request.")


class EndedOut(Schema):
    ended: int = Field(description="How many sessions ended.")


def current_session_id(request: HttpRequest) -> int | None:
    """The StaffSession of a session-authenticated request (None with a bearer token)."""
    session = getattr(request, "session", None)
    value = session.get(SESSION_ID_KEY) if session is not None else None
    return value if isinstance(value, int) else None


def present_session(row: StaffSession, current: int | None) -> dict[str, Any]:
    return {
        "id": row.pk,
        "device": describe_device(row.user_agent),
        "user_agent": row.user_agent,
        "ip": row.ip,
        "created_at": row.created_at,
        "last_seen_at": row.last_seen_at,
        "current": row.pk == current,
    }


@router.get("", response={200: MeOut, **errors()}, summary="Who am I", operation_id="get_me")
def get_me(request: HttpRequest) -> Any:
    """The authenticated staff member: role, presence and teams."""
    return present_me(_actor(request))


@router.put(
    "/presence",
    response={200: MeOut, **errors(400, 422)},
    summary="Set my presence",
    operation_id="set_presence",
)
def set_presence(request: HttpRequest, payload: PresenceIn) -> Any:
    """available, busy, away, wrap_up or offline. Becoming available offers you waiting work."""
    actor = _actor(request)
    do_ensure_agent_profile(actor)
    do_set_presence(actor, payload.presence, actor=actor)
    return present_me(actor)


@router.put(
    "/language",
    response={200: MeOut, **errors(400, 422)},
    summary="Set my desk language",
    operation_id="set_my_language",
)
def set_my_language(request: HttpRequest, payload: LanguageIn) -> Any:
    """The language the desk speaks to you (as on the desk's My profile page): one of the six,
    or empty to follow your browser's Accept-Language. 422 for any other."""
    actor = _actor(request)
    do_set_desk_language(actor, language=payload.language, actor=actor)
    return present_me(actor)


@router.put(
    "/call-endpoint",
    response={200: CallEndpointOut, **errors(400, 422)},
    summary="Set where my phone calls ring",
    operation_id="set_call_endpoint",
)
def set_call_endpoint(request: HttpRequest, payload: CallEndpointIn) -> Any:
    """When you accept a phone call, the provider rings your phone number (E.164, checked) or,
    with `call_via` client, the provider's softphone signed in as your username. 400 with the
    reason for a number that cannot be dialled."""
    actor = _actor(request)
    profile = do_set_call_endpoint(
        actor, phone_number=payload.phone_number, call_via=payload.call_via, actor=actor
    )
    return {
        "phone_number": profile.phone_number,
        "call_via": profile.call_via,
        "endpoint": profile.call_endpoint,
    }


@router.get(
    "/tokens",
    response={200: list[TokenOut], **errors()},
    summary="List my tokens",
    operation_id="list_tokens",
)
def list_tokens(request: HttpRequest) -> Any:
    """Your personal access tokens, newest first, revoked ones included. Never the secret."""
    return [present_token(token) for token in tokens_of(_actor(request))]


@router.post(
    "/tokens",
    response={201: TokenCreatedOut, **errors(400, 403, 422)},
    summary="Create a token",
    operation_id="create_token",
)
def create_token(request: HttpRequest, payload: TokenIn) -> Any:
    """A new personal access token. The answer holds the secret: it is never shown again.
    The `privacy` scope (customer export and erasure only) is for admins: 403 for anyone
    else."""
    actor = _actor(request)
    token, secret = do_create_api_token(
        actor,
        name=payload.name,
        actor=actor,
        scopes=[str(scope) for scope in payload.scopes or []],
        expires_at=payload.expires_at,
        request=request,
    )
    return Status(201, {**present_token(token), "token": secret})


@router.delete(
    "/tokens/{token_id}",
    response={204: None, **errors(404, 422)},
    summary="Revoke a token",
    operation_id="revoke_token",
)
def revoke_token(request: HttpRequest, token_id: TokenId) -> Any:
    """Revoke one of your tokens (admins: anyone's). Requests with it answer 401 from now on.
    Revoking a revoked token changes nothing."""
    actor = _actor(request)
    do_revoke_api_token(access_api_token(actor, token_id), actor=actor, request=request)
    return Status(204, None)


@router.get(
    "/sessions",
    response={200: list[SessionOut], **errors()},
    summary="List my signed-in sessions",
    operation_id="list_sessions",
)
def list_sessions(request: HttpRequest) -> Any:
    """Every browser signed in as you, most recently seen first; `current` marks this one."""
    current = current_session_id(request)
    return [present_session(row, current) for row in sessions_of(_actor(request))]


@router.delete(
    "/sessions",
    response={200: EndedOut, **errors()},
    summary="End all my other sessions",
    operation_id="end_other_sessions",
)
def end_other_sessions(request: HttpRequest) -> Any:
    """Sign out every other browser signed in as you (with a bearer token: every browser).
    Their open desks close within seconds."""
    actor = _actor(request)
    ended = do_end_sessions(
        actor,
        actor=actor,
        reason=SessionEnd.ENDED,
        keep=current_session_id(request),
        request=request,
    )
    return {"ended": len(ended)}


@router.delete(
    "/sessions/{session_id}",
    response={204: None, **errors(404, 422)},
    summary="End one of my sessions",
    operation_id="end_session",
)
def end_session(request: HttpRequest, session_id: SessionId) -> Any:
    """Sign out one browser (admins: anyone's). An ended or unknown session answers 404."""
    actor = _actor(request)
    row = access_staff_session(actor, session_id)
    do_end_sessions(row.user, actor=actor, reason=SessionEnd.ENDED, only=row.pk, request=request)
    return Status(204, None)


@users_router.post(
    "/{user_id}/sign-out-everywhere",
    response={200: EndedOut, **errors(404, 422)},
    summary="Sign a staff member out everywhere (admins)",
    operation_id="sign_out_everywhere",
)
def sign_out_everywhere(request: HttpRequest, user_id: UserId) -> Any:
    """End every session of the staff member (your own: all but this one) and close their
    desks within seconds. Their API tokens are not touched: revoke those separately."""
    actor = _actor(request)
    user = access_staff_user(actor, user_id)
    ended = do_end_sessions(
        user,
        actor=actor,
        reason=SessionEnd.ENDED,
        keep=current_session_id(request) if user.pk == actor.pk else None,
        request=request,
    )
    return {"ended": len(ended)}


class RemoteIn(Schema):
    model_config = ConfigDict(extra="forbid")

    remote: StrictBool = Field(
        description="True: this staff member sees customers' phone numbers, emails and postal "
        "addresses masked, and reveals one value at a time with a reason (audited)."
    )


class RemoteOut(Schema):
    id: int
    username: str
    remote: bool


@users_router.put(
    "/{user_id}/remote",
    response={200: RemoteOut, **errors(400, 404, 422)},
    summary="Flag a staff member as a remote agent, or not (admins)",
    operation_id="set_remote_agent",
)
def set_remote_agent(request: HttpRequest, user_id: UserId, payload: RemoteIn) -> Any:
    """A remote agent sees customer phone numbers, emails and postal addresses masked
    everywhere (desk, API, live pushes) and reveals one value at a time with a typed reason,
    audited as `customer.revealed`. Audited as `settings.changed`. Their open desks switch at
    once."""
    actor = _actor(request)
    user = access_staff_user(actor, user_id)
    do_set_remote_agent(user, payload.remote, actor=actor, request=request)
    return {"id": user.pk, "username": user.get_username(), "remote": user.is_remote}
