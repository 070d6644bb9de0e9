"""The WhatsApp template panel's context, for the conversation page and its own partial."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from teamline.connectors.queries import conversation_templates, whatsapp_inboxes
from teamline.connectors.templates import describe
from teamline.conversations.models import Conversation, InboxKind
from teamline.conversations.queries import ReplyChannel


def template_context(
    conversation: Conversation,
    options: Sequence[ReplyChannel],
    *,
    selected: str = "",
    values: dict[str, str] | None = None,
    error: str = "",
) -> dict[str, Any]:
    """The template panel: shown when the customer has WhatsApp (Cloud API); says when the
    24-hour window is closed; lists the synced templates, the chosen one with its fields."""
    whatsapp = [o for o in options if o.inbox is not None and o.inbox.kind == InboxKind.WHATSAPP]
    if not whatsapp:
        return {"wa_inboxes": []}
    views = [describe(t) for t in conversation_templates(conversation, options=options)]
    chosen = next((v for v in views if str(v.id) == selected and v.sendable), None)
    fields = []
    if chosen is not None:
        fields = [
            {"parameter": p, "value": (values or {}).get(p.key, ""), "index": i}
            for i, p in enumerate(chosen.parameters, start=1)
        ]
    return {
        "wa_inboxes": whatsapp_inboxes(options),
        "wa_window_closed": not any(o.reachability.reachable for o in whatsapp),
        "wa_templates": views,
        "wa_selected": chosen,
        "wa_fields": fields,
        "wa_error": error,
        "template_client_id": uuid.uuid4().hex,
    }
