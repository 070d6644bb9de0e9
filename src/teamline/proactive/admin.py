from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from teamline.accounts.models import User
from teamline.core.errors import InvalidInput

from .actions import RULE_FIELDS, check_rule, do_create_rule, do_delete_rule, do_update_rule
from .engine import preview
from .expressions import ConditionError
from .models import Event, IntegrationKey, Rule
from .queries import rule_counts


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


class RuleForm(forms.ModelForm):
    class Meta:
        model = Rule
        fields = list(RULE_FIELDS)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        fields = {k: v for k, v in data.items() if k in RULE_FIELDS}
        if self.instance.builtin:
            fields.pop("message", None)
        try:
            check_rule(fields, builtin=bool(self.instance.builtin))
        except InvalidInput as exc:
            raise ValidationError(exc.message) from None
        return data


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    """Rules are written through proactive.actions (validated, audited) like the API does."""

    form = RuleForm
    list_display = ["name", "enabled", "event_type", "topic", "builtin", "counts"]
    actions = ["preview_last_30_days"]

    @admin.action(description="Try on the last 30 days of events (sends nothing)")
    def preview_last_30_days(self, request: HttpRequest, queryset: Any) -> None:
        for rule in queryset:
            try:
                found = preview(rule, days=30)
            except ConditionError as exc:
                self.message_user(request, f"{rule.name}: {exc}", level=messages.ERROR)
                continue
            names = ", ".join(str(e["customer_name"]) for e in found.examples)
            self.message_user(
                request,
                f"{rule.name} would have fired for {found.customers} customers "
                f"({found.events_scanned} events read)" + (f", e.g. {names}." if names else "."),
            )

    list_filter = ["enabled", "topic"]
    search_fields = ["name", "condition"]

    @admin.display(description="fired / sent / deferred / suppressed / failed / replies")
    def counts(self, rule: Rule) -> str:
        c = rule_counts([rule.pk])[rule.pk]
        suppressed = c.suppressed_consent + c.suppressed_cap
        return f"{c.fired} / {c.sent} / {c.deferred} / {suppressed} / {c.failed} / {c.replies}"

    def get_readonly_fields(self, request: HttpRequest, obj: Rule | None = None) -> list[str]:
        return ["message"] if obj is not None and obj.builtin else []

    def save_model(self, request: HttpRequest, obj: Rule, form: Any, change: bool) -> None:
        actor = cast(User, request.user)
        fields = {k: form.cleaned_data[k] for k in RULE_FIELDS if k in form.cleaned_data}
        if change:
            stored = Rule.objects.get(pk=obj.pk)
            if stored.builtin:
                fields.pop("message", None)
            saved = do_update_rule(stored, fields, actor=actor)
        else:
            saved = do_create_rule(fields, actor=actor)
        obj.pk = saved.pk

    def has_delete_permission(self, request: HttpRequest, obj: Rule | None = None) -> bool:
        return obj is None or not obj.builtin

    def delete_model(self, request: HttpRequest, obj: Rule) -> None:
        do_delete_rule(obj, actor=cast(User, request.user))
