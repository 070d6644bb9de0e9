"""What the audit log hears without being called: Django's sign-in signals, password changes on
any path (admin, command, API) and the admin's change log (settings, roles, teams, inboxes).

Connected in AuditConfig.ready(); the user model is named by its label, so this app does not
import accounts (accounts calls do_audit for its own writes: API tokens)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_save
from django.http import HttpRequest

from .actions import do_audit, do_record_failed_login, printable
from .models import AuditAction

_ADMIN_FLAGS = {ADDITION: "added", CHANGE: "changed", DELETION: "deleted"}

# Set while the admin logs a change that its action has already audited (audit/admin.py).
_AUDITED_BY_ACTION: ContextVar[bool] = ContextVar("teamline_audited_by_action", default=False)


@contextmanager
def audited_by_action() -> Iterator[None]:
    """The admin's change log entries made inside are not copied into the audit log: the
    action that made the change wrote its own, richer entry (one change, one entry)."""
    token = _AUDITED_BY_ACTION.set(True)
    try:
        yield
    finally:
        _AUDITED_BY_ACTION.reset(token)


# django-allauth keeps how this session's user authenticated (a password, a social account, a
# second factor) under this session key, before Django's `login` runs; read as plain data, so
# the audit log does not import allauth.
_AUTHENTICATION_RECORDS = "account_authentication_methods"


def sign_in_method(request: HttpRequest | None) -> dict[str, str]:
    """How the sign-in that just happened was made: {"method": "password" | "sso" | "passkey"
    | …, "provider": the SSO provider, "mfa": the second factor's type}; {} when unknown."""
    session = getattr(request, "session", None)
    records = session.get(_AUTHENTICATION_RECORDS) if session is not None else None
    if not isinstance(records, list):
        return {}
    records = [record for record in records if isinstance(record, dict)]
    primary = [record for record in records if record.get("method") != "mfa"]
    second = [record for record in records if record.get("method") == "mfa"]
    data: dict[str, str] = {}
    if primary:
        last = primary[-1]
        if last.get("method") == "socialaccount":
            data = {"method": "sso", "provider": printable(last.get("provider"), 64)}
        else:
            data = {"method": printable(last.get("method"), 32)}
    if second:
        data["mfa"] = printable(second[-1].get("type"), 32)
        if not primary and second[-1].get("passwordless"):
            data["method"] = "passkey"
    return data


def _logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    do_audit(
        AuditAction.LOGIN,
        actor=user,
        target_type="user",
        target_id=user.pk,
        request=request,
        data=sign_in_method(request),
    )


def _logged_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is None:  # the session had already expired
        return
    do_audit(AuditAction.LOGOUT, actor=user, target_type="user", target_id=user.pk, request=request)


def _login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    do_record_failed_login(str(credentials.get("username") or ""), request)


def _after_user_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    # `set_password` (every path Django has: the admin's form, `changepassword`, a reset link)
    # leaves the new password in `_password` until the save completes: the same rule accounts
    # uses to end the user's other sessions.
    if created or getattr(instance, "_password", None) is None:
        return
    # The actor is not known here: the target is the user whose password changed.
    do_audit(AuditAction.PASSWORD_CHANGED, target_type="user", target_id=instance.pk)


def _admin_logged(sender: Any, instance: LogEntry, created: bool, **kwargs: Any) -> None:
    if not created or _AUDITED_BY_ACTION.get():
        return
    kind = instance.content_type
    model = f"{kind.app_label}.{kind.model}" if kind is not None else ""
    do_audit(
        AuditAction.SETTINGS_CHANGED,
        actor=instance.user,
        target_type=model[:32],
        target_id=instance.object_id or "",
        data={
            "how": _ADMIN_FLAGS.get(instance.action_flag, str(instance.action_flag)),
            "change": printable(instance.change_message, 1000),
            "via": "admin",
        },
    )


def connect() -> None:
    user_logged_in.connect(_logged_in, dispatch_uid="teamline.audit.login")
    user_logged_out.connect(_logged_out, dispatch_uid="teamline.audit.logout")
    user_login_failed.connect(_login_failed, dispatch_uid="teamline.audit.login_failed")
    post_save.connect(
        _after_user_saved, sender=settings.AUTH_USER_MODEL, dispatch_uid="teamline.audit.password"
    )
    post_save.connect(_admin_logged, sender=LogEntry, dispatch_uid="teamline.audit.admin")
