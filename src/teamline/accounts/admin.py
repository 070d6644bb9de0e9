from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.http import HttpRequest

from .actions import do_ensure_agent_profile
from .models import AgentProfile, ApiToken, User


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

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # Admin rights follow the Teamline role, so the two can never disagree.
        obj.is_staff = obj.is_superuser = obj.role == "admin"
        super().save_model(request, obj, form, change)
        do_ensure_agent_profile(obj)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["user", "name", "prefix", "created_at", "last_used_at"]
    exclude = ["key_hash"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # created in the desk or with `teamline token create`
