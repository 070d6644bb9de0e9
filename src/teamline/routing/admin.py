from django.contrib import admin
from django.http import HttpRequest

from .models import (
    CustomerRoutingPreference,
    RoutingPolicy,
    RoutingStep,
    ServiceLevelTarget,
    SurgeEpisode,
    WorkItem,
)


class RoutingStepInline(admin.StackedInline):
    model = RoutingStep
    extra = 0
    ordering = ["position"]
    filter_horizontal = ["target_teams"]
    fields = [
        ("position", "kind", "timeout_seconds"),
        ("skip_when_closed", "leave_when_saturated", "only_when_saturated"),
        ("required_skills", "min_proficiency"),
        "target_teams",
    ]


@admin.register(RoutingPolicy)
class RoutingPolicyAdmin(admin.ModelAdmin):
    list_display = ["name", "inbox", "match_language", "offline_grace_seconds"]
    inlines = [RoutingStepInline]


@admin.register(ServiceLevelTarget)
class ServiceLevelTargetAdmin(admin.ModelAdmin):
    list_display = ["channel_kind", "priority", "percent", "seconds"]
    list_editable = ["percent", "seconds"]


@admin.register(CustomerRoutingPreference)
class CustomerRoutingPreferenceAdmin(admin.ModelAdmin):
    list_display = ["customer", "opt_out_of_team", "opt_out_of_bots", "updated_at"]
    raw_id_fields = ["customer"]


@admin.register(SurgeEpisode)
class SurgeEpisodeAdmin(admin.ModelAdmin):
    list_display = ["team", "started_at", "ended_at", "peak_queue_length", "reason"]
    list_filter = ["team"]
    readonly_fields = [f.name for f in SurgeEpisode._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(WorkItem)
class WorkItemAdmin(admin.ModelAdmin):
    """Read-only: routing owns these rows; supervisors look, they do not edit."""

    list_display = ["pk", "kind", "state", "channel_kind", "priority", "home_team", "step_kind"]
    list_filter = ["state", "kind", "channel_kind"]
    readonly_fields = [f.name for f in WorkItem._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
