"""What the audit log asks of other apps' admin pages."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from .receivers import audited_by_action


class AuditedByActionAdmin(admin.ModelAdmin):
    """For a model whose admin saves and deletes through an action that writes its own audit
    entry (the MFA requirement, retention, proactive rules). Every other admin change becomes a
    `settings.changed` entry from Django's change log (audit/receivers.py); here that would say
    the same change twice. The change log itself (the object's History page) is kept."""

    def log_addition(self, request: HttpRequest, obj: Model, message: Any) -> Any:
        with audited_by_action():
            return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Model, message: Any) -> Any:
        with audited_by_action():
            return super().log_change(request, obj, message)

    def log_deletions(self, request: HttpRequest, queryset: QuerySet[Any]) -> Any:
        with audited_by_action():
            return super().log_deletions(request, queryset)
