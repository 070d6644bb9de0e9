from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext as _

from teamline.core.errors import InvalidInput

from .labels import clean_label
from .models import Conversation, Label, Message, TimelineEvent


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ("created_at", "sender_kind", "sender_user", "channel", "is_internal", "text")
    readonly_fields = fields
    can_delete = False


class TimelineInline(admin.TabularInline):
    model = TimelineEvent
    extra = 0
    fields = ("created_at", "kind", "actor", "data")
    readonly_fields = fields
    can_delete = False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    """Read-only audit view: conversations change through the desk and API (actions)."""

    list_display = ["pk", "customer", "team", "assignee", "status", "channel", "last_message_at"]
    list_filter = ["status", "team", "channel"]
    inlines = [MessageInline, TimelineInline]
    readonly_fields = [f.name for f in Conversation._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class LabelForm(forms.ModelForm):
    """The action's rules (conversations.labels): a hex colour, a name unique in any case."""

    class Meta:
        model = Label
        fields = ["name", "colour", "description"]
        widgets = {"colour": forms.TextInput(attrs={"type": "color"})}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            name, colour, description = clean_label(
                data.get("name", ""), data.get("colour", ""), data.get("description", "")
            )
        except InvalidInput as exc:
            raise forms.ValidationError(exc.message) from exc
        clash = Label.objects.filter(name__iexact=name)
        if self.instance.pk:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise forms.ValidationError(
                _("A label named %(name)s exists already.") % {"name": name}
            )
        data.update(name=name, colour=colour, description=description)
        return data


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    """Labels agents put on conversations: the name always shows next to the colour."""

    form = LabelForm
    list_display = ["name", "colour", "description"]
    search_fields = ["name"]
