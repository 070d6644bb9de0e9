"""Reads of staff that other apps call, and access helpers."""

from __future__ import annotations

from django.db.models import QuerySet

from teamline.core.errors import NotFound
from teamline.core.ids import parse_id

from .models import AgentProfile, ApiToken, User


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
