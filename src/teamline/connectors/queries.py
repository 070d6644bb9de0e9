"""Reads of inboxes."""

from __future__ import annotations

import uuid

from teamline.core.errors import NotFound

from .models import Inbox


def public_inbox(public_id: object) -> Inbox:
    """An active inbox by the public id a widget or webhook URL carries."""
    try:
        value = uuid.UUID(str(public_id))
    except ValueError as exc:
        raise NotFound("No such inbox.") from exc
    inbox = Inbox.objects.select_related("default_team").filter(public_id=value, is_active=True)
    found = inbox.first()
    if found is None:
        raise NotFound("No such inbox.")
    return found
