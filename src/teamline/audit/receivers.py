"""What the audit log hears without being called: Django's sign-in signals, password changes on
any path (admin, command, API) and the admin's change log (settings, roles, teams, inboxes).

Connected in AuditConfig.ready(); the user model is named by its label, so this app does not
import accounts (accounts calls do_audit for its own writes: API tokens)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_save
from django.http import HttpRequest

from .actions import do_audit, do_record_failed_login, printable
from .models import AuditAction

_ADMIN_FLAGS = {ADDITION: "added", CHANGE: "changed", DELETION: "deleted"}


def _logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    do_audit(AuditAction.LOGIN, actor=user, target_type="user", target_id=user.pk, request=request)


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
    if not created:
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
