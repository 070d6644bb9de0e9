from django.contrib import admin

from .models import Call


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    list_display = ("id", "medium", "direction", "state", "agent", "created_at", "ended_at")
    list_filter = ("medium", "direction", "state")
    raw_id_fields = ("conversation", "customer", "work_item", "agent", "inbox")
    readonly_fields = ("version",)
