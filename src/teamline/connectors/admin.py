from django.conf import settings
from django.contrib import admin
from django.utils.html import format_html

from .models import Inbox


@admin.register(Inbox)
class InboxAdmin(admin.ModelAdmin):
    # The secret is deliberately absent from the list and never rendered back into a page
    # other than this inbox's own change form.
    list_display = ["name", "kind", "default_team", "is_active"]
    list_filter = ["kind", "is_active"]
    readonly_fields = ["public_id", "embed_snippet"]
    fields = [
        "name",
        "kind",
        "default_team",
        "greeting",
        "allowed_origins",
        "is_active",
        "public_id",
        "embed_snippet",
        "secret",
    ]

    @admin.display(description="Embed on the brand's pages")
    def embed_snippet(self, obj: Inbox) -> str:
        if not obj.pk:
            return "Save the inbox first."
        return format_html(
            '<code>&lt;script src="{}/static/widget/teamline.js" data-inbox="{}" async&gt;'
            "&lt;/script&gt;</code>",
            settings.PUBLIC_URL,
            obj.public_id,
        )
