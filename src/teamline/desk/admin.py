from django.contrib import admin
from django.http import HttpRequest

from .models import SuggestionUse


@admin.register(SuggestionUse)
class SuggestionUseAdmin(admin.ModelAdmin):
    """Which suggested articles agents put into replies (read-only: what happened)."""

    list_display = ("id", "article", "how", "agent", "conversation", "created_at")
    list_filter = ("how",)
    raw_id_fields = ("conversation", "article", "agent")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
