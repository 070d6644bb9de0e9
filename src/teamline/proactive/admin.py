from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from teamline.accounts.models import User
from teamline.audit.admin import AuditedByActionAdmin
from teamline.core.errors import InvalidInput

from .actions import (
    RULE_FIELDS,
    check_rule,
    do_create_integration_key,
    do_create_rule,
    do_delete_rule,
    do_revoke_integration_key,
    do_update_rule,
)
from .deadletter import do_replay_failed_batch
from .engine import preview
from .expressions import ConditionError
from .models import Event, FailedBatch, IntegrationKey, Rule
from .queries import held_event_ids, rule_counts


class IntegrationKeyForm(forms.ModelForm):
    """Making a key asks only its name; the public id and the secret are generated."""

    class Meta:
        model = IntegrationKey
        fields = ["name"]


@admin.register(IntegrationKey)
class IntegrationKeyAdmin(admin.ModelAdmin):
    """Keys operators' systems sign event batches with (docs/proactive.md, "Keys and signing").
    Made and revoked through proactive.actions (admins only, audited); the secret is shown once,
    on the page that answers the creation, and never again (only its encrypted copy is kept)."""

    form = IntegrationKeyForm
    list_display = ["name", "key_id", "state", "created_by", "created_at", "last_used_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "key_id"]
    readonly_fields = ["key_id", "created_by", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke_keys"]

    @admin.display(description="state")
    def state(self, key: IntegrationKey) -> str:
        return "revoked" if key.revoked_at else "active"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # A key's name is what made it; a stored key is revoked, never edited.
        return ["name", *self.readonly_fields] if obj is not None else []

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _is_admin(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_admin(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: the key stays the sender its events' ids belong to

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            return  # nothing of a stored key is edited here
        made = do_create_integration_key(
            form.cleaned_data["name"], actor=cast(User, request.user), request=request
        )
        obj.pk = made.key.pk
        obj.key_id = made.key.key_id
        request._integration_key_secret = made.secret  # type: ignore[attr-defined]

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: Any = None) -> Any:
        """The one page that shows the secret: rendered in answer to the creation, never
        stored in a message, the session or a cookie, and not cached."""
        secret = getattr(request, "_integration_key_secret", None)
        if secret is None:  # pragma: no cover - save_model always sets it
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Integration key {obj.name} created",
            "key": obj,
            "secret": secret,
            "window": settings.TEAMLINE["EVENT_SIGNATURE_WINDOW_SECONDS"],
        }
        response = TemplateResponse(request, "admin/proactive/integrationkey/created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke the selected keys (they sign nothing from now on)")
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[IntegrationKey]) -> None:
        actor = cast(User, request.user)
        revoked = 0
        for key in queryset.filter(revoked_at__isnull=True).order_by("pk"):
            do_revoke_integration_key(key, actor=actor, request=request)
            revoked += 1
        self.message_user(request, f"{revoked} key(s) revoked.", messages.SUCCESS)


def _is_admin(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and getattr(user, "is_admin", False))


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["external_id", "type", "occurred_at", "customer", "region", "evaluated_at"]
    list_filter = ["type"]
    search_fields = ["external_id", "identity_value"]
    raw_id_fields = ["customer"]
    readonly_fields = [f.name for f in Event._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False  # events arrive through POST /api/v1/events


@admin.register(FailedBatch)
class FailedBatchAdmin(admin.ModelAdmin):
    """The dead letter of rule evaluation (proactive/deadletter.py): batches whose evaluation
    failed, retried with backoff, then parked with their failing events until replayed."""

    list_display = [
        "id", "state", "events_count", "attempts", "short_error", "last_failed_at",
        "next_attempt_at", "replayed_at",
    ]  # fmt: skip
    list_filter = ["state"]
    readonly_fields = [
        "state", "events_count", "held_events", "attempts", "error", "first_failed_at",
        "last_failed_at", "next_attempt_at", "parked_at", "resolved_at", "replayed_by",
        "replayed_at",
    ]  # fmt: skip
    actions = ["replay"]

    @admin.display(description="error")
    def short_error(self, batch: FailedBatch) -> str:
        return batch.error[:120]

    @admin.display(description="held events (senders' ids)")
    def held_events(self, batch: FailedBatch) -> str:
        return ", ".join(held_event_ids(batch)) or "—"

    @admin.action(description="Replay: evaluate their events now")
    def replay(self, request: HttpRequest, queryset: QuerySet[FailedBatch]) -> None:
        actor = cast(User, request.user)
        for batch in queryset.order_by("pk"):
            result = do_replay_failed_batch(batch, actor=actor)
            if result.still_failing:
                self.message_user(
                    request,
                    f"Batch {batch.pk}: {result.evaluated} evaluated, {result.still_failing} "
                    f"still failing ({result.error[:200]}).",
                    messages.ERROR,
                )
            else:
                self.message_user(
                    request, f"Batch {batch.pk}: {result.evaluated} evaluated.", messages.SUCCESS
                )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # made by evaluation when a batch fails

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_admin(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # its events would be released unevaluated: replay instead


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
class RuleAdmin(AuditedByActionAdmin):
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
