"""Every write to staff users, agent profiles, presence and API tokens."""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext

from teamline.audit.actions import do_audit
from teamline.audit.models import AuditAction
from teamline.core.compiled import CompiledOnce
from teamline.core.errors import Forbidden, InvalidInput, NotFound
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
from .mfa import SECOND_FACTORS
from .models import (
    AgentProfile,
    ApiToken,
    CallVia,
    MFARequirement,
    Presence,
    PresenceSpan,
    Role,
    StaffSession,
    TokenScope,
    User,
)
from .phone import clean_e164
from .sessions import (
    SESSION_ID_KEY,
    TOUCH_EVERY_SECONDS,
    close_sockets,
    hash_key,
    idle_timeout_seconds,
    tell_masking,
)

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
            _record_presence_span(user, presence, profile.presence_changed_at)
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


def _record_presence_span(user: User, presence: str, at: datetime) -> None:
    """Close the agent's open span and open the new one (under the profile's row lock)."""
    PresenceSpan.objects.filter(user=user, ended_at__isnull=True).update(ended_at=at)
    PresenceSpan.objects.create(user=user, presence=presence, started_at=at)


def _hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


MAX_TOKEN_DAYS = 3660  # ten years: an expiry is a date a person can reason about


def clean_token_scopes(scopes: list[str] | None) -> list[str]:
    """Known scopes, each once, in a fixed order; none (or an empty list) means unscoped."""
    chosen = set(scopes or [])
    unknown = chosen - set(TokenScope.values)
    if unknown:
        raise InvalidInput(
            f"Unknown scope {sorted(unknown)[0]!r}: choose from {', '.join(TokenScope.values)}."
        )
    return [scope for scope in TokenScope.values if scope in chosen]


def do_create_api_token(
    user: User,
    *,
    name: str,
    actor: User,
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
    request: HttpRequest | None = None,
) -> tuple[ApiToken, str]:
    """Create a personal access token; the plain secret is returned once and never stored.
    No scopes: everything the user may do; scopes narrow (TokenScope). `expires_at` in the
    future (at most ten years ahead), or None for no expiry. Audited (`token.created` with the
    scopes and expiry, and the address of `request` when there is one)."""
    if actor.pk != user.pk and not actor.is_admin:
        raise NotFound("No such user.")
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput(gettext("Give the token a name (1-100 characters)."))
    scopes = clean_token_scopes(scopes)
    if TokenScope.PRIVACY in scopes and not (actor.is_admin and user.is_admin):
        # Export and erasure reach every customer: only an admin grants it, to an admin.
        raise Forbidden("Only admins may create a token with the privacy scope, for an admin.")
    now = timezone.now()
    if expires_at is not None:
        if timezone.is_naive(expires_at):
            raise InvalidInput(
                gettext("Give the expiry with a time zone (e.g. 2027-03-01T00:00:00Z).")
            )
        if expires_at <= now:
            raise InvalidInput(gettext("The expiry must be in the future."))
        if (expires_at - now).days > MAX_TOKEN_DAYS:
            raise InvalidInput(gettext("The expiry must be within ten years."))
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=raw[: len(TOKEN_PREFIX) + 6],
            key_hash=_hash_token(raw),
            scopes=scopes,
            expires_at=expires_at,
        )
        do_audit(
            AuditAction.TOKEN_CREATED,
            actor=actor,
            target_type="token",
            target_id=token.pk,
            request=request,
            data={
                "user": user.pk,
                "name": name,
                "prefix": token.prefix,
                "scopes": scopes,
                "expires_at": expires_at.isoformat() if expires_at else None,
            },
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


def find_api_token(raw: str) -> ApiToken | None:
    """The token a bearer secret names, with its user, if it is not revoked and its user is
    active — expired or not (the API says "expired" apart from "unknown"). Reads only."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    found: ApiToken | None = _TOKEN_BY_HASH.first(_hash_token(raw))
    return found


# Every API request with a token reads it: compiled once (core/compiled.py).
_TOKEN_BY_HASH = CompiledOnce(
    lambda key_hash: ApiToken.objects.select_related("user").filter(
        key_hash=key_hash, revoked_at__isnull=True, user__is_active=True
    ),
    markers=(CompiledOnce.TEXT,),
)


def check_token_use(token: ApiToken) -> ApiToken:
    """Records a token's use (at most once a minute, so API calls do not all write)."""
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def check_api_token(raw: str) -> User | None:
    """The active user a bearer token belongs to, or None (unknown, revoked or expired).
    Records last use."""
    token = find_api_token(raw)
    if token is None or token.is_expired:
        return None
    return check_token_use(token).user


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
        raise InvalidInput(gettext("Add your phone number to take calls on it."))
    profile = do_ensure_agent_profile(user)
    AgentProfile.objects.filter(pk=profile.pk).update(phone_number=number, call_via=call_via)
    profile.refresh_from_db()
    return profile


def do_set_desk_language(user: User, *, language: str, actor: User) -> User:
    """The language the desk speaks to this staff member: one of settings.LANGUAGES, or ""
    for their browser's (Accept-Language). Their own choice (or an admin's). One UPDATE;
    emits nothing (the next request reads it: accounts/middleware.py)."""
    if actor.pk != user.pk and not actor.is_admin:
        raise NotFound("No such agent.")
    code = (language or "").strip().lower()
    known = [str(value) for value, _name in settings.LANGUAGES]
    if code and code not in known:
        raise InvalidInput(
            gettext("Choose one of the desk's languages (%(known)s), not %(given)r.")
            % {"known": ", ".join(known), "given": language[:20]}
        )
    User.objects.filter(pk=user.pk).update(language=code)
    user.language = code
    return user


def do_set_keyboard_shortcuts(user: User, *, enabled: bool, actor: User) -> User:
    """Turn the desk's keyboard shortcuts on or off for this staff member: their own choice (or
    an admin's). One UPDATE; emits nothing (desk.js reads it from the next page)."""
    if actor.pk != user.pk and not actor.is_admin:
        raise NotFound("No such agent.")
    User.objects.filter(pk=user.pk).update(keyboard_shortcuts=enabled)
    user.keyboard_shortcuts = enabled
    return user


# --- Staff sessions (accounts/sessions.py) ------------------------------------------------


# How long the periodic job keeps telling an ended session's desks to close (a few job slots).
RECLOSE_SECONDS = 120
# Ended sessions are kept this long for "My sessions" history and investigation, then deleted.
KEEP_ENDED_DAYS = 90


class SessionEnd:
    """Why a session ended (StaffSession.end_reason)."""

    SIGNED_OUT = "signed_out"
    SIGNED_IN_AGAIN = "signed_in_again"
    ENDED = "ended"  # by the user (My sessions) or an admin
    PASSWORD = "password_changed"  # noqa: S105 - a reason, not a secret
    IDLE = "idle"
    MFA = "mfa_changed"  # a second factor of the user was added, removed or reset
    MFA_REQUIRED = "mfa_required"  # their role now requires a second factor they do not have


def _address(request: HttpRequest) -> str | None:
    raw = str(request.META.get("REMOTE_ADDR") or "")
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        return None


def _printable(text: str, limit: int) -> str:
    return "".join(ch for ch in text if ch.isprintable())[:limit]


def do_start_session(request: HttpRequest, user: User) -> StaffSession:
    """Record the signed-in browser of `request` (called at sign-in) and remember the row in
    its session. A session that already had a row (signing in again in the same browser) ends
    that one. One INSERT; emits nothing."""
    previous = request.session.get(SESSION_ID_KEY)
    with transaction.atomic():
        if isinstance(previous, int):
            StaffSession.objects.filter(pk=previous, ended_at__isnull=True).update(
                ended_at=timezone.now(), end_reason=SessionEnd.SIGNED_IN_AGAIN
            )
        row = StaffSession.objects.create(
            user=user,
            key_hash=hash_key(request.session.session_key),
            user_agent=_printable(str(request.META.get("HTTP_USER_AGENT") or ""), 300),
            ip=_address(request),
        )
    request.session[SESSION_ID_KEY] = row.pk
    return row


def check_staff_session(request: HttpRequest, user: User) -> int | None:
    """The StaffSession id of a signed-in request, or None when that session has ended (or
    just went idle: it is ended here). A session from before sessions were recorded is
    adopted. Moves `last_seen_at` at most once a minute (and the key's hash when Django has
    cycled the key). One indexed read; a write at most once a minute."""
    session_id = request.session.get(SESSION_ID_KEY)
    if not isinstance(session_id, int):
        return do_start_session(request, user).pk
    row = (
        StaffSession.objects.filter(pk=session_id, user_id=user.pk)
        .values_list("ended_at", "last_seen_at", "key_hash")
        .first()
    )
    if row is None or row[0] is not None:
        return None
    _, last_seen, stored_hash = row
    now = timezone.now()
    idle = (now - last_seen).total_seconds()
    timeout = idle_timeout_seconds()
    if timeout and idle > timeout:
        do_end_sessions(user, actor=None, reason=SessionEnd.IDLE, only=session_id)
        return None
    key_hash = hash_key(request.session.session_key) or stored_hash
    if idle >= TOUCH_EVERY_SECONDS or key_hash != stored_hash:
        StaffSession.objects.filter(pk=session_id, ended_at__isnull=True).update(
            last_seen_at=now, key_hash=key_hash
        )
    return session_id


def do_end_sessions(
    user: User,
    *,
    actor: User | None,
    reason: str,
    only: int | None = None,
    keep: int | None = None,
    request: HttpRequest | None = None,
) -> list[int]:
    """End the user's active sessions (`only` one of them; all but `keep`). The user or an
    admin may; `actor` None is the system (a password change, the idle timeout). One
    conditional UPDATE; audited as `auth.logout` with the sessions and the reason (a plain
    sign-out is audited by the audit app itself). After commit the sessions' desk sockets are
    told to close; the browsers are signed out at their next request. Returns the ended ids."""
    if actor is not None and actor.pk != user.pk and not actor.is_admin:
        raise NotFound("No such user.")
    with transaction.atomic():
        active = StaffSession.objects.select_for_update().filter(user=user, ended_at__isnull=True)
        if only is not None:
            active = active.filter(pk=only)
        if keep is not None:
            active = active.exclude(pk=keep)
        ended = sorted(active.values_list("pk", flat=True))
        if not ended:
            return []
        StaffSession.objects.filter(pk__in=ended).update(ended_at=timezone.now(), end_reason=reason)
        if reason != SessionEnd.SIGNED_OUT:
            do_audit(
                AuditAction.LOGOUT,
                actor=actor,
                target_type="user",
                target_id=user.pk,
                request=request,
                data={"sessions": ended, "reason": reason},
            )
        transaction.on_commit(lambda: close_sockets(ended))
    return ended


def do_sweep_sessions() -> dict[str, int]:
    """The periodic session job (accounts/tasks.py): end sessions idle past the timeout, so
    their open desks close even without another request; and tell the desks of sessions ended
    in the last few minutes to close again — an ending made in another process (a password
    changed with `manage.py changepassword`) or a push lost while the channel layer was down
    reaches them this way. Closing is idempotent: a socket already closed hears nothing.
    Sessions ended more than KEEP_ENDED_DAYS ago are deleted."""
    now = timezone.now()
    idle = 0
    timeout = idle_timeout_seconds()
    if timeout:
        stale = StaffSession.objects.filter(
            ended_at__isnull=True, last_seen_at__lt=now - timedelta(seconds=timeout)
        ).select_related("user")[:500]
        for row in stale:
            idle += len(do_end_sessions(row.user, actor=None, reason=SessionEnd.IDLE, only=row.pk))
    recent = list(
        StaffSession.objects.filter(
            ended_at__gte=now - timedelta(seconds=RECLOSE_SECONDS)
        ).values_list("pk", flat=True)[:5000]
    )
    close_sockets(recent)
    removed, _ = StaffSession.objects.filter(
        ended_at__lt=now - timedelta(days=KEEP_ENDED_DAYS)
    ).delete()
    return {"idle": idle, "closed_again": len(recent), "removed": removed}


class MFAChange:
    """What happened to a user's second factors (the `change` of an `mfa.changed` entry)."""

    ADDED = "added"
    REMOVED = "removed"
    RESET = "reset"  # recovery codes made anew


def do_record_mfa_change(
    user: User,
    *,
    change: str,
    kind: str,
    actor: User | None,
    authenticator_id: int | None = None,
    keep: int | None = None,
    request: HttpRequest | None = None,
) -> list[int]:
    """A second factor of `user` changed (`kind`: totp, recovery_codes, webauthn): audited as
    `mfa.changed` (what changed, which authenticator, never a secret or code) and every other
    session of the user ends (`keep`: the browser that made the change), closing their desk
    sockets after commit. Called from allauth's authenticator signals (accounts/receivers.py)
    and the admin's removal of a user's authenticators. Returns the ended session ids."""
    with transaction.atomic():
        do_audit(
            AuditAction.MFA_CHANGED,
            actor=actor,
            target_type="user",
            target_id=user.pk,
            request=request,
            data={"change": change, "type": kind, "authenticator": authenticator_id},
        )
        return do_end_sessions(user, actor=None, reason=SessionEnd.MFA, keep=keep, request=request)


def do_set_mfa_requirement(
    role: str, *, required: bool, actor: User, request: HttpRequest | None = None
) -> MFARequirement:
    """Admins decide whether staff of `role` must have a second factor. Audited as
    `settings.changed`. Requiring it ends the sessions of that role's staff who have none:
    they sign in again and can then only set one up (accounts/middleware.py)."""
    if not actor.is_admin:
        raise NotFound("No such setting.")
    if role not in Role.values:
        raise InvalidInput(f"Unknown role {role!r}.")
    with transaction.atomic():
        row, _ = MFARequirement.objects.select_for_update().get_or_create(role=role)
        before = row.required
        row.required = required
        row.save(update_fields=["required"])
        do_audit(
            AuditAction.SETTINGS_CHANGED,
            actor=actor,
            target_type="accounts.mfarequirement",
            target_id=role,
            request=request,
            data={"setting": "mfa_required", "role": role, "from": before, "to": required},
        )
        if required and not before:
            without = User.objects.filter(role=role, is_active=True).exclude(
                authenticator__type__in=SECOND_FACTORS
            )
            for user in without:
                do_end_sessions(user, actor=None, reason=SessionEnd.MFA_REQUIRED, request=request)
    return row


def do_set_remote_agent(
    user: User, remote: bool, *, actor: User, request: HttpRequest | None = None
) -> User:
    """Flag a staff member as a remote agent (or not): they then see customers' phone numbers,
    emails and postal addresses masked (customers/masking.py). Admins only (NotFound for
    anyone else, like access_staff_user). Audited as `settings.changed` when it changed; their
    open desk sockets switch masking on or off after commit (accounts/sessions.py)."""
    if not actor.is_admin:
        raise NotFound("No such user.")
    with transaction.atomic():
        changed = User.objects.filter(pk=user.pk).exclude(is_remote=remote).update(is_remote=remote)
        if changed:
            do_audit(
                AuditAction.SETTINGS_CHANGED,
                actor=actor,
                target_type="user",
                target_id=user.pk,
                request=request,
                data={"remote": remote, "via": "api"},
            )
            transaction.on_commit(lambda: tell_masking(user.pk, remote))
    user.is_remote = remote
    return user
