from django.contrib import admin

from .models import BusinessHours, Holiday, Team


class BusinessHoursInline(admin.TabularInline):
    model = BusinessHours
    extra = 0


class HolidayInline(admin.TabularInline):
    model = Holiday
    extra = 0


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "region", "timezone", "country", "service_mode", "fallback_team"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["members", "supervisors"]
    search_fields = ["name", "region"]
    fieldsets = (
        (None, {"fields": ["name", "slug", "region", "photo", "members", "supervisors"]}),
        (
            "Hours, holidays and service",
            {
                "fields": [
                    "timezone",
                    "country",
                    "subdivision",
                    "holiday_mode",
                    "service_mode",
                    "service_mode_until",
                    "fallback_team",
                ]
            },
        ),
        ("Surge", {"fields": ["surge_queue_length", "surge_wait_seconds"]}),
    )
    inlines = [BusinessHoursInline, HolidayInline]
