"""Surveys in the admin: each team's settings (Surveys → Survey settings → Add), and the
surveys and answers as a read-only record."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from teamline.core.errors import InvalidInput

from .actions import do_set_survey_settings
from .models import SURVEY_CHANNELS, Survey, SurveyResponse, SurveySettings


class SurveySettingsForm(forms.ModelForm):
    channels = forms.MultipleChoiceField(
        choices=[(c, c) for c in SURVEY_CHANNELS],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="The channels surveys are sent on (the channel the customer used last).",
    )

    class Meta:
        model = SurveySettings
        fields = [
            "team",
            "csat_enabled",
            "nps_enabled",
            "channels",
            "delay_minutes",
            "period_days",
            "answer_hours",
        ]
        help_texts = {
            "delay_minutes": "Minutes after the conversation is resolved.",
            "period_days": "At most one survey per customer in this many days.",
            "answer_hours": "How long a survey takes answers.",
            "nps_enabled": "With CSAT on too, a customer's surveys take turns (CSAT, then NPS).",
        }


@admin.register(SurveySettings)
class SurveySettingsAdmin(admin.ModelAdmin):
    form = SurveySettingsForm
    list_display = ["team", "csat_enabled", "nps_enabled", "delay_minutes", "period_days"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        try:
            saved = do_set_survey_settings(
                data["team"],
                csat_enabled=data["csat_enabled"],
                nps_enabled=data["nps_enabled"],
                channels=list(data["channels"]),
                delay_minutes=data["delay_minutes"],
                period_days=data["period_days"],
                answer_hours=data["answer_hours"],
                actor=request.user,  # type: ignore[arg-type]
            )
        except InvalidInput as exc:
            raise forms.ValidationError(exc.message) from exc
        obj.pk = saved.pk


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Survey)
class SurveyAdmin(ReadOnlyAdmin):
    list_display = ["pk", "conversation", "kind", "channel", "state", "reason", "created_at"]
    list_filter = ["state", "kind", "channel"]
    exclude = ["token"]


@admin.register(SurveyResponse)
class SurveyResponseAdmin(ReadOnlyAdmin):
    list_display = ["pk", "conversation", "kind", "score", "channel", "created_at"]
    list_filter = ["kind", "channel", "team"]
