from typing import Any

from allauth.mfa.models import Authenticator
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from teamline.audit.admin import AuditedByActionAdmin

from .actions import (
    MFAChange,
    SessionEnd,
    do_end_sessions,
    do_ensure_agent_profile,
    do_record_mfa_change,
    do_set_mfa_requirement,
)
from .models import AgentProfile, ApiToken, MFARequirement, User
from .sessions import current_session_id, tell_masking


class AgentProfileInline(admin.StackedInline):
    model = AgentProfile
    can_delete = False
    fields = [
        "photo",
        "languages",
        "skills",
        "capacity",
        "wrap_up_seconds",
        "presence",
        "phone_number",
        "call_via",
    ]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "display_name", "role", "is_remote", "email", "is_active"]
    list_filter = ["role", "is_remote", "is_active"]
    fieldsets = (
        *(BaseUserAdmin.fieldsets or ()),
        ("Teamline", {"fields": ["role", "display_name", "is_remote"]}),
    )
    add_fieldsets = (
        *(BaseUserAdmin.add_fieldsets or ()),
        ("Teamline", {"fields": ["role", "display_name", "is_remote"]}),
    )
    inlines = [AgentProfileInline]
    actions = ["sign_out_everywhere"]

    @admin.action(description="Sign out everywhere (end every session, close their desks)")
    def sign_out_everywhere(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        ended = 0
        for user in queryset:
            ended += len(
                do_end_sessions(
                    user,
                    actor=request.user,  # type: ignore[arg-type]
                    reason=SessionEnd.ENDED,
                    keep=current_session_id(),  # the admin's own browser stays
                    request=request,
                )
            )
        self.message_user(request, f"{ended} session(s) ended.", messages.SUCCESS)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # Admin rights follow the Teamline role, so the two can never disagree.
        obj.is_staff = obj.is_superuser = obj.role == "admin"
        super().save_model(request, obj, form, change)
        do_ensure_agent_profile(obj)
        if change and "is_remote" in form.changed_data:
            # Their open desks mask (or unmask) live pushes from now on.
            remote = bool(obj.is_remote)
            transaction.on_commit(lambda: tell_masking(obj.pk, remote))


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = [
        "name", "user", "prefix", "scopes", "created_at", "expires_at", "last_used_at", "revoked_at"
    ]  # fmt: skip
    readonly_fields = [
        "user",
        "name",
        "prefix",
        "scopes",
        "created_at",
        "expires_at",
        "last_used_at",
    ]
    exclude = ["key_hash"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # created in the desk or with `teamline token create`


@admin.register(MFARequirement)
class MFARequirementAdmin(AuditedByActionAdmin):
    """Which roles must have a second factor (docs/security.md, "Staff sign-in and MFA")."""

    list_display = ["role", "required"]
    list_editable = ["required"]
    fields = ["role", "required"]
    readonly_fields = ["role"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # one row per role, made by a migration

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        do_set_mfa_requirement(
            obj.role,
            required=obj.required,
            actor=request.user,  # type: ignore[arg-type]
            request=request,
        )


class AuthenticatorAdmin(AuditedByActionAdmin):
    """Staff's second factors, for an admin to remove when someone lost their phone or key:
    removing one is an MFA change (audited, every session of that user ends). Nothing here
    is a secret: the TOTP key and the recovery codes' seed are encrypted and not shown."""

    list_display = ["user", "type", "created_at", "last_used_at"]
    list_filter = ["type"]
    search_fields = ["user__username"]
    fields = ["user", "type", "created_at", "last_used_at"]
    readonly_fields = ["user", "type", "created_at", "last_used_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # each person adds their own, with the device in hand

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(getattr(request.user, "is_admin", False))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(getattr(request.user, "is_admin", False))

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        self.delete_queryset(request, Authenticator.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for authenticator in queryset.select_related("user"):
            with transaction.atomic():
                user, kind, pk = authenticator.user, str(authenticator.type), authenticator.pk
                authenticator.delete()
                do_record_mfa_change(
                    user,
                    change=MFAChange.REMOVED,
                    kind=kind,
                    actor=request.user,  # type: ignore[arg-type]
                    authenticator_id=pk,
                    # An admin removing their own keeps this browser, as in allauth's pages.
                    keep=current_session_id() if user.pk == request.user.pk else None,
                    request=request,
                )


def replace_authenticator_admin() -> None:
    """allauth registers its own admin for authenticators (editable, deletes without an audit
    entry); called from AccountsConfig.ready, after the admin has loaded every app's admin."""
    if admin.site.is_registered(Authenticator):
        admin.site.unregister(Authenticator)
    admin.site.register(Authenticator, AuthenticatorAdmin)
