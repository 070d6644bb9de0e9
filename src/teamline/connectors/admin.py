import json
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from teamline.conversations.models import Inbox, default_redaction

from . import brand_oidc, voice, voice_dialect
from .actions import do_request_template_sync
from .models import WebhookEvent, WhatsAppTemplate

PROVIDER_FOR_KIND = {
    "sms": "twilio",
    "voice": "twilio",  # the call webhook; its status callback is the same URL + "status"
    "whatsapp": "meta",
    "messenger": "meta",
    "instagram": "meta",
    "telegram": "telegram",
    "wechat": "wechat",
}


REDACTION_CHOICES = [
    ("card", _("Card numbers and the security code after them")),
    ("iban", _("IBANs")),
    ("national_id", _("National identity numbers")),
    ("otp", _("One-time codes")),
]


class InboxForm(forms.ModelForm):
    """Credentials are write-only: the form shows which keys are stored, never their values.
    Leave the field empty to keep what is stored; `{}` clears it."""

    redaction = forms.MultipleChoiceField(
        label=_("Mask before storing"),
        choices=REDACTION_CHOICES,
        required=False,
        initial=default_redaction,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "Masked in customer messages, agent replies and raw provider deliveries before "
            "anything is stored; none ticked: stored as typed. See docs/security.md."
        ),
    )

    new_credentials = forms.CharField(
        label="Provider credentials (JSON)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "autocomplete": "off"}),
        help_text='e.g. {"account_sid": "AC…", "auth_token": "…"}; see docs/channels/. '
        "Stored encrypted; never shown again.",
    )

    class Meta:
        model = Inbox
        fields = [
            "name",
            "kind",
            "default_team",
            "greeting",
            "allowed_origins",
            "is_active",
            "redaction",
            "config",
            "secret",
        ]

    def clean_new_credentials(self) -> dict[str, Any] | None:
        raw = self.cleaned_data.get("new_credentials", "").strip()
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from exc
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise forms.ValidationError("Give a JSON object of names to values.")
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("kind") == "voice" and "config" in cleaned:
            config = cleaned["config"]
            for problem in voice.config_problems(config):
                self.add_error("config", problem)
            # The credentials a dialect needs: those given now, else those stored (an inbox
            # saved without any yet is checked when they are given).
            credentials = cleaned.get("new_credentials")
            if credentials is None and "new_credentials" not in self.errors and self.instance.pk:
                credentials = self.instance.credentials or None
            if credentials is not None and isinstance(config, dict):
                dialect = str(config.get("dialect") or voice_dialect.TWILIO)
                for problem in voice_dialect.credential_problems(dialect, credentials):
                    self.add_error("new_credentials", problem)
        config = cleaned.get("config")
        if isinstance(config, dict) and brand_oidc.CONFIG_KEY in config:
            credentials = cleaned.get("new_credentials")
            if credentials is None and "new_credentials" not in self.errors and self.instance.pk:
                try:
                    credentials = self.instance.credentials
                except ValueError:
                    credentials = {}
            for problem in brand_oidc.config_problems(config, credentials or {}):
                self.add_error("config", problem)
        return cleaned

    def save(self, commit: bool = True) -> Any:
        inbox = super().save(commit=False)
        credentials = self.cleaned_data.get("new_credentials")
        if credentials is not None:
            inbox.credentials = credentials
        if commit:
            inbox.save()
        return inbox


@admin.register(Inbox)
class InboxAdmin(admin.ModelAdmin):
    # The secret is deliberately absent from the list and never rendered back into a page
    # other than this inbox's own change form; provider credentials are never rendered.
    form = InboxForm
    list_display = ["name", "kind", "default_team", "is_active"]
    list_filter = ["kind", "is_active"]
    actions = ["sync_whatsapp_templates"]
    readonly_fields = ["public_id", "embed_snippet", "webhook_url", "stored_credentials"]
    fields = [
        "name",
        "kind",
        "default_team",
        "greeting",
        "allowed_origins",
        "is_active",
        "redaction",
        "config",
        "new_credentials",
        "stored_credentials",
        "public_id",
        "webhook_url",
        "embed_snippet",
        "secret",
    ]

    @admin.action(description=_("Sync WhatsApp templates from Meta"))
    def sync_whatsapp_templates(self, request: HttpRequest, queryset: Any) -> None:
        """Queue a template sync (a task) for each selected WhatsApp Cloud API inbox."""
        inboxes = list(queryset.filter(kind="whatsapp"))
        for inbox in inboxes:
            do_request_template_sync(inbox)
        self.message_user(
            request,
            _("Syncing the templates of %(count)d WhatsApp inbox(es); refresh in a moment.")
            % {"count": len(inboxes)},
        )

    @admin.display(description="Embed on the brand's pages")
    def embed_snippet(self, obj: Inbox) -> str:
        if not obj.pk or obj.kind != "webchat":
            return "—"
        return format_html(
            '<code>&lt;script src="{}/static/widget/teamline.js" data-inbox="{}" async&gt;'
            "&lt;/script&gt;</code>",
            settings.PUBLIC_URL,
            obj.public_id,
        )

    @admin.display(description="Webhook URL to paste at the provider")
    def webhook_url(self, obj: Inbox) -> str:
        provider = PROVIDER_FOR_KIND.get(obj.kind)
        if not obj.pk or provider is None:
            return "—"
        return format_html(
            "<code>{}/webhooks/{}/{}/</code>", settings.PUBLIC_URL, provider, obj.public_id
        )

    @admin.display(description="Stored credentials")
    def stored_credentials(self, obj: Inbox) -> str:
        try:
            keys = sorted(obj.credentials)
        except ValueError:
            return "Cannot be decrypted with the configured key."
        return ", ".join(keys) + " (values hidden)" if keys else "none"


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    """Inspect raw provider deliveries; replay failed ones with `teamline webhooks replay`."""

    list_display = ["received_at", "provider", "inbox", "external_id", "status", "attempts"]
    list_filter = ["provider", "status"]
    search_fields = ["external_id"]
    exclude = ["body"]
    readonly_fields = [
        "provider",
        "inbox",
        "external_id",
        "received_at",
        "headers",
        "status",
        "attempts",
        "error",
        "processed_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(WhatsAppTemplate)
class WhatsAppTemplateAdmin(admin.ModelAdmin):
    """Synced from Meta (the inbox list's "Sync WhatsApp templates" action): read-only here."""

    list_display = ["name", "language", "status", "category", "inbox", "synced_at"]
    list_filter = ["status", "inbox"]
    search_fields = ["name"]
    readonly_fields = [f.name for f in WhatsAppTemplate._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
