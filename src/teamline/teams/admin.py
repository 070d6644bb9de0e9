from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from teamline.accounts.models import User
from teamline.core.errors import InvalidInput

from .actions import do_import_team_calendar
from .calendar_import import MAX_CALENDAR_BYTES
from .models import BusinessHours, CalendarEntry, Holiday, Team


class BusinessHoursInline(admin.TabularInline):
    model = BusinessHours
    extra = 0


class HolidayInline(admin.TabularInline):
    model = Holiday
    extra = 0


class CalendarEntryInline(admin.TabularInline):
    model = CalendarEntry
    extra = 0
    fields = ["kind", "name", "first_day", "last_day", "hours_of", "source", "uid"]
    readonly_fields = ["source"]


class OfficialCalendarForm(forms.Form):
    file = forms.FileField(
        label="Official calendar (ICS file)",
        help_text=(
            "Holidays and make-up working days, one all-day event each (re-importing the same "
            "file changes nothing). A working day is an event marked X-TEAMLINE-KIND:WORKING-DAY "
            "or whose summary or category says “working day”, “make-up day”, “补班” or “上班”."
        ),
    )

    def clean_file(self) -> bytes:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_CALENDAR_BYTES:
            raise forms.ValidationError(f"The file is larger than {MAX_CALENDAR_BYTES // 1000} kB.")
        return bytes(upload.read())


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
    inlines = [BusinessHoursInline, HolidayInline, CalendarEntryInline]
    actions = ["import_official_calendar"]

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<path:object_id>/import-calendar/",
                self.admin_site.admin_view(self.import_calendar_view),
                name="teams_team_import_calendar",
            ),
            *super().get_urls(),
        ]

    @admin.action(description="Import an official calendar (ICS) for the selected team")
    def import_official_calendar(
        self, request: HttpRequest, queryset: QuerySet[Team]
    ) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(
                request, "Select exactly one team to import its calendar.", messages.WARNING
            )
            return None
        team = queryset.get()
        return HttpResponseRedirect(reverse("admin:teams_team_import_calendar", args=[team.pk]))

    def import_calendar_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Upload form → do_import_team_calendar → back to the team with a summary. A file that
        is not a calendar is shown as a form error, never a server error."""
        team = self.get_object(request, object_id)
        if team is None or not self.has_change_permission(request, team):
            return HttpResponseRedirect(reverse("admin:teams_team_changelist"))
        form = OfficialCalendarForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            name = str(getattr(request.FILES.get("file"), "name", "") or "")
            actor = request.user if isinstance(request.user, User) else None
            try:
                result = do_import_team_calendar(
                    team, form.cleaned_data["file"], actor=actor, source=name
                )
            except InvalidInput as exc:
                form.add_error("file", exc.message)
            else:
                level = messages.WARNING if result.skipped else messages.SUCCESS
                self.message_user(request, result.summary(), level)
                return HttpResponseRedirect(reverse("admin:teams_team_change", args=[team.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": team,
            "title": f"Import an official calendar for {team}",
            "form": form,
        }
        return TemplateResponse(request, "admin/teams/team/import_calendar.html", context)
