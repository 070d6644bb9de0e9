"""Retention per inbox in the admin; erasures are listed (read-only: they are the record)."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin
from django.http import HttpRequest

from teamline.accounts.models import User
from teamline.audit.admin import AuditedByActionAdmin

from .actions import do_set_retention
from .models import Erasure, RetentionPolicy


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(AuditedByActionAdmin):
    list_display = ("inbox", "message_body_days", "updated_at")
    autocomplete_fields = ()

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        do_set_retention(obj.inbox, obj.message_body_days, actor=cast(User, request.user))

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        do_set_retention(obj.inbox, None, actor=cast(User, request.user))


@admin.register(Erasure)
class ErasureAdmin(admin.ModelAdmin):
    list_display = ("customer_id_copy", "state", "requested_by", "requested_at", "completed_at")
    readonly_fields = (
        "customer_id_copy",
        "state",
        "requested_by_id",
        "requested_by",
        "requested_at",
        "completed_at",
        "attempts",
        "removed",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
