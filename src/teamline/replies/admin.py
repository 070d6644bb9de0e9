from typing import Any

from django import forms
from django.contrib import admin

from teamline.core.errors import InvalidInput

from .actions import clean_texts
from .models import CannedReply


class CannedReplyForm(forms.ModelForm):
    """The actions' rules for the texts: known languages and variables only."""

    class Meta:
        model = CannedReply
        fields = ["scope", "owner", "team", "title", "shortcut", "texts"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            data["texts"] = clean_texts(data.get("texts"))
        except InvalidInput as exc:
            raise forms.ValidationError(exc.message) from exc
        return data


@admin.register(CannedReply)
class CannedReplyAdmin(admin.ModelAdmin):
    """Every canned reply (the desk and the API show each person theirs)."""

    form = CannedReplyForm
    list_display = ["title", "shortcut", "scope", "team", "owner", "updated_at"]
    list_filter = ["scope", "team"]
    search_fields = ["title", "shortcut"]
