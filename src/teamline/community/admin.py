from django.contrib import admin

from .models import Post, Report


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):
    """Read-mostly: moderation happens on the community's own pages (hide, lock, dismiss),
    through the actions, so every change resolves reports and updates search."""

    list_display = ["__str__", "kind", "language", "author_name", "hidden", "open_reports"]
    list_filter = ["kind", "language", "hidden", "locked", "official"]
    search_fields = ["title", "body"]
    readonly_fields = [f.name for f in Post._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = ["post", "reason", "created_at", "resolution"]
    list_filter = ["reason", "resolution"]
    readonly_fields = [f.name for f in Report._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False
