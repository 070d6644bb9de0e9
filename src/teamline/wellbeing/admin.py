from django.contrib import admin

from .models import WellbeingAlert, WellbeingSettings


@admin.register(WellbeingSettings)
class WellbeingSettingsAdmin(admin.ModelAdmin):
    list_display = ("team", "enabled", "negative_run", "break_minutes", "handle_factor")


@admin.register(WellbeingAlert)
class WellbeingAlertAdmin(admin.ModelAdmin):
    # Read-only: alerts are raised by the evaluation, not typed in.
    list_display = ("agent", "signal", "value", "threshold", "created_at", "dismissed_at")
    readonly_fields = (*list_display, "acknowledged_at", "acknowledged_by")

    def has_add_permission(self, request: object) -> bool:
        return False
