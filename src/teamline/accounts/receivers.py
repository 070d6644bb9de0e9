"""What accounts hears from Django and allauth: sign-in and sign-out (any path that calls Django's
`login`/`logout`: the desk, the admin, tests) and a password change on any path (the admin's
form, `manage.py changepassword`, a reset link). Django has no "password changed" signal and
these paths are Django's own views and commands, so the user model's save is where all of them
meet; a second factor added, removed or reset in allauth's views (its signals). Each receiver
only hands over to an action (accounts/actions.py).

Connected in AccountsConfig.ready."""

from __future__ import annotations

from typing import Any

from allauth.mfa import signals as mfa_signals
from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db.models.signals import post_save
from django.http import HttpRequest

from teamline.audit.actions import do_record_failed_login

from .actions import (
    MFAChange,
    SessionEnd,
    do_end_sessions,
    do_record_mfa_change,
    do_start_session,
)
from .mfa import forget_mfa_state, mfa_satisfied
from .sessions import SESSION_ID_KEY, current_session_id


def _logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        do_start_session(request, user)
        # Decided once here, kept in the session: the requests after it spend no query on it.
        mfa_satisfied(request.session, user)


def _logged_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is None or request is None or not hasattr(request, "session"):
        return
    session_id = request.session.get(SESSION_ID_KEY)
    if isinstance(session_id, int):
        do_end_sessions(user, actor=user, reason=SessionEnd.SIGNED_OUT, only=session_id)


def _user_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    # `set_password` leaves the new password in `_password` until the save completes.
    if created or getattr(instance, "_password", None) is None:
        return
    # Made in a signed-in request (the admin changing their own password): that browser stays
    # signed in, as Django's update_session_auth_hash keeps it; every other session ends.
    do_end_sessions(instance, actor=None, reason=SessionEnd.PASSWORD, keep=current_session_id())


def _mfa_changed(change: str) -> Any:
    def receiver(
        sender: Any, request: HttpRequest | None, user: Any, authenticator: Any, **kwargs: Any
    ) -> None:
        # allauth's own views send these, in the signed-in request of the user who made the
        # change: that browser stays signed in and decides anew whether MFA is satisfied.
        if request is not None and hasattr(request, "session"):
            forget_mfa_state(request.session)
        actor = getattr(request, "user", None) if request is not None else None
        do_record_mfa_change(
            user,
            change=change,
            kind=str(authenticator.type),
            actor=actor if actor is not None and actor.is_authenticated else user,
            authenticator_id=authenticator.pk,
            keep=current_session_id(),
            request=request,
        )

    return receiver


def _second_factor_failed(
    sender: Any, request: HttpRequest | None, user: Any, authenticator: Any, **kwargs: Any
) -> None:
    # A wrong code after the right password: a failed sign-in like a wrong password (the
    # per-user limit on codes is allauth's, ACCOUNT_RATE_LIMITS["login_failed"]).
    do_record_failed_login(
        user.get_username(),
        request,
        second_factor=str(authenticator.type),
        reauthentication=bool(kwargs.get("reauthentication")),
    )


_mfa_added = _mfa_changed(MFAChange.ADDED)
_mfa_removed = _mfa_changed(MFAChange.REMOVED)
_mfa_reset = _mfa_changed(MFAChange.RESET)


def connect() -> None:
    user_logged_in.connect(_logged_in, dispatch_uid="teamline.accounts.session_start")
    user_logged_out.connect(_logged_out, dispatch_uid="teamline.accounts.session_end")
    post_save.connect(
        _user_saved, sender=settings.AUTH_USER_MODEL, dispatch_uid="teamline.accounts.password"
    )
    mfa_signals.authenticator_added.connect(_mfa_added, dispatch_uid="teamline.accounts.mfa+")
    mfa_signals.authenticator_removed.connect(_mfa_removed, dispatch_uid="teamline.accounts.mfa-")
    mfa_signals.authenticator_reset.connect(_mfa_reset, dispatch_uid="teamline.accounts.mfa0")
    mfa_signals.authentication_failed.connect(
        _second_factor_failed, dispatch_uid="teamline.accounts.mfa_failed"
    )
