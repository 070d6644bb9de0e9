from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from .actions import SessionEnd, do_end_sessions, do_ensure_agent_profile
from .models import AgentProfile, ApiToken, User
from .sessions import current_session_id


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
    list_display = ["username", "display_name", "role", "email", "is_active"]
    list_filter = ["role", "is_active"]
    fieldsets = (
        *(BaseUserAdmin.fieldsets or ()),
        ("Teamline", {"fields": ["role", "display_name"]}),
    )
    add_fieldsets = (
        *(BaseUserAdmin.add_fieldsets or ()),
        ("Teamline", {"fields": ["role", "display_name"]}),
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
