from django.contrib import admin

from .models import Call


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
