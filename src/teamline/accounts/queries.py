"""Reads of staff that other apps call, and access helpers."""

from __future__ import annotations

from django.db.models import QuerySet

from teamline.core.errors import NotFound
from teamline.core.ids import parse_id

from .models import AgentProfile, ApiToken, StaffSession, User


def profile_of(user: User) -> AgentProfile:
    return AgentProfile.objects.get(user=user)


def find_profile(user: User) -> AgentProfile | None:
    """The user's agent profile, or None for staff who have none yet."""
    return AgentProfile.objects.filter(user=user).first()


def tokens_of(user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("-created_at")


def access_api_token(actor: User, token_id: object) -> ApiToken:
    pk = parse_id(token_id, "token")
    qs = ApiToken.objects.all() if actor.is_admin else ApiToken.objects.filter(user=actor)
    token = qs.filter(pk=pk).first()
    if token is None:
        raise NotFound("No such token.")
    return token


def sessions_of(user: User) -> QuerySet[StaffSession]:
    """The user's active sessions, most recently seen first."""
    return StaffSession.objects.filter(user=user, ended_at__isnull=True).order_by(
        "-last_seen_at", "-pk"
    )


def session_is_active(user: User, session_id: object) -> bool:
    """Whether `session_id` (from a browser's session) is one of the user's active sessions."""
    if not isinstance(session_id, int):
        return False
    return StaffSession.objects.filter(pk=session_id, user=user, ended_at__isnull=True).exists()


def access_staff_session(actor: User, session_id: object) -> StaffSession:
    """One of the actor's sessions (admins: anyone's); ended or unknown ones are not found."""
    pk = parse_id(session_id, "session")
    qs = StaffSession.objects.filter(ended_at__isnull=True)
    if not actor.is_admin:
        qs = qs.filter(user=actor)
    found = qs.select_related("user").filter(pk=pk).first()
    if found is None:
        raise NotFound("No such session.")
    return found


def access_staff_user(actor: User, user_id: object) -> User:
    """A staff member an admin manages (anyone else: not found)."""
    pk = parse_id(user_id, "user")
    found = User.objects.filter(pk=pk).first() if actor.is_admin else None
    if found is None:
        raise NotFound("No such user.")
    return found
