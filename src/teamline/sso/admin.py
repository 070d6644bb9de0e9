from django.contrib import admin

from .models import GroupMapping


@admin.register(GroupMapping)
class GroupMappingAdmin(admin.ModelAdmin):
    """Admins map provider groups to roles and teams; each change is audited
    `settings.changed` through the admin's change log (audit/receivers.py)."""

    list_display = ["group", "provider", "role"]
    list_filter = ["provider", "role"]
    search_fields = ["group"]
    filter_horizontal = ["member_of", "supervisor_of"]
