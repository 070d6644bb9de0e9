"""Every write to staff users, agent profiles, presence and API tokens."""

from __future__ import annotations

import hashlib
import secrets

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from teamline.audit.actions import do_audit
from teamline.audit.models import AuditAction
from teamline.core.errors import InvalidInput, NotFound
from teamline.core.events import (
    Event,
    EventType,
    Recipients,
    admins_group,
    send_event_on_commit,
    team_group,
    user_group,
)

from . import hooks
from .models import AgentProfile, ApiToken, CallVia, Presence, Role, User
from .phone import clean_e164

TOKEN_PREFIX = "tl_"  # noqa: S105 - a public prefix, not a secret


def do_create_staff_user(
    *,
    username: str,
    password: str | None,
    role: str = Role.AGENT,
    display_name: str = "",
    email: str = "",
    languages: list[str] | None = None,
    skills: dict[str, int] | None = None,
    capacity: dict[str, int] | None = None,
    actor: User | None = None,
) -> User:
    """Create a staff user and their agent profile. Admins get Django admin access."""
    if role not in Role.values:
        raise InvalidInput(f"unknown role {role!r}")
    with transaction.atomic():
        user = User(
            username=username,
            email=email,
            role=role,
            display_name=display_name,
            is_staff=role == Role.ADMIN,
            is_superuser=role == Role.ADMIN,
        )
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
        profile = AgentProfile(user=user, languages=languages or [], skills=skills or {})
        if capacity:
            profile.capacity = capacity
        profile.save()
    return user


def presence_recipients(user: User) -> Recipients:
    """presence.changed goes to the teams the agent works in or supervises, admins, and the
    agent's own other sessions."""
    groups = {team_group(team_id) for team_id in hooks.teams().membership_team_ids(user)}
    return Recipients(staff=frozenset(groups | {admins_group(), user_group(user.pk)}))


def do_set_presence(user: User, presence: str, *, actor: User) -> AgentProfile:
    """Change presence (locks the agent profile row). Becoming available offers waiting work.

    Emits presence.changed to the agent's teams, admins and the agent's own sessions.
    """
    if presence not in Presence.values:
        raise InvalidInput(f"unknown presence {presence!r}")
    if actor.pk != user.pk and not actor.is_admin:
        raise NotFound("No such agent.")
    with transaction.atomic():
        profile = AgentProfile.objects.select_for_update().get(user=user)
        changed = profile.presence != presence
        if changed:
            profile.presence = presence
            profile.presence_changed_at = timezone.now()
            profile.save(update_fields=["presence", "presence_changed_at"])
            send_event_on_commit(
                Event(
                    EventType.PRESENCE_CHANGED,
                    staff={
                        "user": {"id": user.pk, "name": user.name},
                        "presence": presence,
                        "at": profile.presence_changed_at.isoformat(),
                    },
                ),
                presence_recipients(user),
            )
    if changed and presence == Presence.AVAILABLE:
        hooks.routing().offer_waiting_work(user)
    return profile


def _hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def do_create_api_token(
    user: User, *, name: str, actor: User, request: HttpRequest | None = None
) -> tuple[ApiToken, str]:
    """Create a personal access token; the plain secret is returned once and never stored.
    Audited (`token.created`, with the address of `request` when there is one)."""
    if actor.pk != user.pk and not actor.is_admin:
        raise NotFound("No such user.")
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("Give the token a name (1-100 characters).")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user, name=name, prefix=raw[: len(TOKEN_PREFIX) + 6], key_hash=_hash_token(raw)
        )
        do_audit(
            AuditAction.TOKEN_CREATED,
            actor=actor,
            target_type="token",
            target_id=token.pk,
            request=request,
            data={"user": user.pk, "name": name, "prefix": token.prefix},
        )
    return token, raw


def do_revoke_api_token(
    token: ApiToken, *, actor: User, request: HttpRequest | None = None
) -> None:
    """Revoke a token (again: nothing happens). Audited (`token.revoked`) when it was active."""
    if actor.pk != token.user_id and not actor.is_admin:
        raise NotFound("No such token.")
    with transaction.atomic():
        revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if revoked:
            do_audit(
                AuditAction.TOKEN_REVOKED,
                actor=actor,
                target_type="token",
                target_id=token.pk,
                request=request,
                data={"user": token.user_id, "name": token.name, "prefix": token.prefix},
            )


def check_api_token(raw: str) -> User | None:
    """The active user a bearer token belongs to, or None. Records last use (at most once a
    minute, so API calls do not all write)."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=_hash_token(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def do_ensure_agent_profile(user: User) -> AgentProfile:
    profile, _ = AgentProfile.objects.get_or_create(user=user)
    return profile


def do_set_expert_available(user: User, available: bool, *, actor: User) -> AgentProfile:
    """The staff member says whether they may be pulled into conversations as an expert
    (independent of presence). Their own choice (or an admin's). One conditional UPDATE;
    emits presence.changed (with `expert_available`) to their teams, admins and own sessions."""
    if actor.pk != user.pk and not actor.is_admin:
        raise NotFound("No such agent.")
    with transaction.atomic():
        changed = (
            AgentProfile.objects.filter(user=user)
            .exclude(expert_available=available)
            .update(expert_available=available)
        )
        profile = AgentProfile.objects.get(user=user)
        if changed:
            send_event_on_commit(
                Event(
                    EventType.PRESENCE_CHANGED,
                    staff={
                        "user": {"id": user.pk, "name": user.name},
                        "presence": profile.presence,
                        "expert_available": available,
                        "at": timezone.now().isoformat(),
                    },
                ),
                presence_recipients(user),
            )
    return profile


def do_set_call_endpoint(
    user: User, *, phone_number: str, call_via: str, actor: User
) -> AgentProfile:
    """Where phone calls the agent accepts ring: their phone number (E.164, checked against
    the numbering plan) or the provider's softphone (`client:<username>`). Their own choice
    (or an admin's). One UPDATE; emits nothing (only the next accepted call reads it)."""
    if actor.pk != user.pk and not actor.is_admin:
        raise NotFound("No such agent.")
    if call_via not in CallVia.values:
        raise InvalidInput(f"Ring calls on {' or '.join(CallVia.values)}, not {call_via!r}.")
    number = clean_e164(phone_number) if (phone_number or "").strip() else ""
    if call_via == CallVia.PHONE and not number:
        raise InvalidInput("Add your phone number to take calls on it.")
    profile = do_ensure_agent_profile(user)
    AgentProfile.objects.filter(pk=profile.pk).update(phone_number=number, call_via=call_via)
    profile.refresh_from_db()
    return profile
