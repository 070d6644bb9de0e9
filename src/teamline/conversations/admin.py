from django.contrib import admin

from .models import Conversation, Message, TimelineEvent


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ["created_at", "sender_kind", "sender_user", "channel", "is_internal", "text"]
    readonly_fields = fields
    can_delete = False


class TimelineInline(admin.TabularInline):
    model = TimelineEvent
    extra = 0
    fields = ["created_at", "kind", "actor", "data"]
    readonly_fields = fields
    can_delete = False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    """Read-only audit view: conversations change through the desk and API (actions)."""

    list_display = ["pk", "customer", "team", "assignee", "status", "channel", "last_message_at"]
    list_filter = ["status", "team", "channel"]
    inlines = [MessageInline, TimelineInline]
    readonly_fields = [f.name for f in Conversation._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
