from django.contrib import admin
from django.http import HttpRequest

from .models import Call, CallMonitor


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    list_display = ("id", "medium", "direction", "state", "agent", "created_at", "ended_at")
    list_filter = ("medium", "direction", "state")
    raw_id_fields = ("conversation", "customer", "work_item", "agent", "inbox")
    # The recording's state mirrors the provider's: it changes through calls/recording.py only.
    readonly_fields = (
        "version",
        "recording_state",
        "recording_sid",
        "recording_pauses",
        "recording_status",
    )


@admin.register(CallMonitor)
class CallMonitorAdmin(admin.ModelAdmin):
    """Who listened in on which call, from when to when (read-only: the audit)."""

    list_display = ("id", "call", "supervisor", "mode", "state", "created_at", "ended_at")
    list_filter = ("mode", "state")
    raw_id_fields = ("call", "supervisor")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
