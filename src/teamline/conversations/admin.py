from django.contrib import admin
from django.http import HttpRequest

from .models import Conversation, Message, TimelineEvent


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ("created_at", "sender_kind", "sender_user", "channel", "is_internal", "text")
    readonly_fields = fields
    can_delete = False


class TimelineInline(admin.TabularInline):
    model = TimelineEvent
    extra = 0
    fields = ("created_at", "kind", "actor", "data")
    readonly_fields = fields
    can_delete = False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    """Read-only audit view: conversations change through the desk and API (actions)."""

    list_display = ["pk", "customer", "team", "assignee", "status", "channel", "last_message_at"]
    list_filter = ["status", "team", "channel"]
    inlines = [MessageInline, TimelineInline]
    readonly_fields = [f.name for f in Conversation._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
