"""MFA per role: which staff must have a second factor, and whether a signed-in session may
do more than set one up (docs/security.md, "Staff sign-in and MFA").

A session's verdict is kept in the session itself (`MFA_STATE_KEY`, with the role it was
made for), so a signed-in request that is allowed costs no query for it. It goes stale only
in ways that are handled:

- the user's role changes → the stored role differs → recomputed;
- a second factor is added or removed in this session → the MFA-change action forgets the
  verdict here (accounts/receivers.py), and every *other* session of the user is ended;
- a role becomes required → do_set_mfa_requirement ends the sessions of that role's staff
  who have no second factor;
- a refused session is recomputed on each request (two indexed reads), so enrolling or a
  lowered requirement lets it through at once.
"""

from __future__ import annotations

from typing import Any

from allauth.mfa.models import Authenticator
from django.conf import settings

from .models import MFARequirement, User
from .sessions import IDP_MFA_KEY

MFA_STATE_KEY = "_teamline_mfa"
# The second factors: recovery codes alone are not one (they only stand in for one).
SECOND_FACTORS = [Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]


def role_requires_mfa(role: str) -> bool:
    row = MFARequirement.objects.filter(role=role).values_list("required", flat=True).first()
    if row is None:  # no row (not migrated yet): the installation default
        return role in settings.TEAMLINE.get("MFA_REQUIRED_ROLES", [])
    return bool(row)


def has_second_factor(user: User) -> bool:
    return Authenticator.objects.filter(user_id=user.pk, type__in=SECOND_FACTORS).exists()


def mfa_satisfied(session: Any, user: User, *, remember: bool = True) -> bool:
    """May this signed-in session do more than set up a second factor? `remember` stores an
    allowed verdict in the session (not from a websocket, whose session is not saved)."""
    allowed = f"{user.role}:ok"
    if session.get(MFA_STATE_KEY) == allowed:
        return True
    ok = (
        not role_requires_mfa(user.role)
        # Signed in through SSO with a second factor the identity provider checked
        # (docs/security.md, "Single sign-on").
        or session.get(IDP_MFA_KEY) is True
        or has_second_factor(user)
    )
    if ok and remember:
        session[MFA_STATE_KEY] = allowed
    return ok


def forget_mfa_state(session: Any) -> None:
    session.pop(MFA_STATE_KEY, None)
