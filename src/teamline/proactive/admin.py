from django.contrib import admin

from .models import Event, IntegrationKey


@admin.register(IntegrationKey)
class IntegrationKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "key_id", "created_at", "last_used_at", "revoked_at"]
    # The secret is shown once, when the key is made (`teamline` API / actions); never here.
    exclude = ["secret_encrypted"]
    readonly_fields = ["key_id", "created_by", "created_at", "last_used_at", "revoked_at"]

    def has_add_permission(self, request: object) -> bool:
        return False  # keys are made by proactive.actions.do_create_integration_key


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["external_id", "type", "occurred_at", "customer", "region", "evaluated_at"]
    list_filter = ["type"]
    search_fields = ["external_id", "identity_value"]
    raw_id_fields = ["customer"]
    readonly_fields = [f.name for f in Event._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False  # events arrive through POST /api/v1/events
