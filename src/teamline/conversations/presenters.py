"""One presenter per entity: the payloads websockets (and later webhooks) carry.

`viewer` is the staff member a payload is for, when there is one (the JSON API): a remote
agent's has the customer's phone numbers and addresses masked (customers/masking.py). Live
pushes are presented once for many sockets, without a viewer; the desk socket masks them for
a remote agent (desk/consumers.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from teamline.customers import verification
from teamline.customers.masking import Sensitive, mask_data, masks_for, shown, shown_text

from .attachments import signed_path
from .models import Conversation, Message


def _user(user: Any) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.pk, "name": user.name}


def level_of(conversation: Conversation, now: datetime | None = None) -> verification.Level:
    return verification.current_level(
        conversation.verification_level, conversation.verified_at, now or timezone.now()
    )


def present_level(conversation: Conversation, now: datetime | None = None) -> dict[str, Any]:
    """The conversation's level for the API and staff events (method and time only while the
    level holds)."""
    level = level_of(conversation, now)
    held = level > verification.Level.NONE
    return {
        "level": level.key,
        "method": conversation.verification_method if held else "",
        "verified_at": conversation.verified_at.isoformat()
        if held and conversation.verified_at
        else None,
        "expires_at": (conversation.verified_at + verification.VERIFIED_FOR).isoformat()
        if held and conversation.verified_at
        else None,
        "allows": [c.key for c in verification.allowed(level)],
    }


def present_label(label: Any) -> dict[str, Any]:
    return {"id": label.pk, "name": label.name, "colour": label.colour}


def present_labels(conversation: Conversation) -> list[dict[str, Any]] | None:
    """The conversation's labels when they were loaded with it (prefetch_related("labels"):
    the API's pages, the label and priority actions' events), else None — presenting never
    costs a query of its own on the hot paths (a customer message, an assignment)."""
    cache = getattr(conversation, "_prefetched_objects_cache", {})
    if "labels" not in cache:
        return None
    return [present_label(label) for label in cache["labels"]]


def present_conversation(conversation: Conversation, viewer: Any = None) -> dict[str, Any]:
    presented = _present_conversation(conversation, viewer)
    labels = present_labels(conversation)
    if labels is not None:
        presented["labels"] = labels
    return presented


def _present_conversation(conversation: Conversation, viewer: Any = None) -> dict[str, Any]:
    return {
        "id": conversation.pk,
        "status": conversation.status,
        "priority": conversation.priority,
        "channel": conversation.channel,
        "team": {"id": conversation.team_id, "name": conversation.team.name},
        "assignee": _user(conversation.assignee),
        "customer": {
            "id": conversation.customer_id,
            "name": shown(viewer, Sensitive.NAME, conversation.customer.display_name),
        },
        "unread_count": conversation.unread_count,
        "created_at": conversation.created_at.isoformat(),
        "last_message_at": conversation.last_message_at.isoformat()
        if conversation.last_message_at
        else None,
        "waiting_since": conversation.waiting_since.isoformat()
        if conversation.waiting_since
        else None,
        "verification": present_level(conversation),
    }


def present_message(message: Message, viewer: Any = None) -> dict[str, Any]:
    """For staff: everything, including internal notes; the content's addresses and numbers
    (an email's From and Cc, a shared contact) masked for a remote agent."""
    return {
        "id": message.pk,
        "conversation_id": message.conversation_id,
        "direction": message.direction,
        "sender_kind": message.sender_kind,
        "sender": _user(message.sender_user),
        "channel": message.channel,
        "text": shown_text(viewer, message.text),
        "content": mask_data(message.content) if masks_for(viewer) else message.content,
        "is_internal": message.is_internal,
        "delivery_status": message.delivery_status,
        "delivery_error": message.delivery_error,
        "segments": message.segments,
        "automated": message.automated,
        "inbox_id": message.inbox_id,
        "created_at": message.created_at.isoformat(),
    }


def present_message_to_customer(message: Message) -> dict[str, Any]:
    """What the customer may see: never internal notes, never staff ids or usernames."""
    if message.is_internal:
        raise ValueError("internal notes are never presented to customers")
    client_id = None
    if message.sender_kind == "customer" and message.external_id:
        client_id = message.external_id.split(":", 1)[-1]
    sender_name = None
    if message.sender_user is not None:
        sender_name = message.sender_user.name
    presented = {
        "id": message.pk,
        "conversation_id": message.conversation_id,
        "from": "customer" if message.sender_kind == "customer" else message.sender_kind,
        "sender_name": sender_name,
        "text": message.text,
        "client_id": client_id,
        "created_at": message.created_at.isoformat(),
    }
    files = (message.content or {}).get("attachments")
    if message.direction == "out" and isinstance(files, list) and files:
        # An agent's files: signed links the chat opens on Teamline's origin (no session).
        seconds = int(settings.TEAMLINE["MEDIA_LINK_SECONDS"])
        presented["attachments"] = [
            {
                "filename": str(item.get("filename") or ""),
                "url": signed_path(
                    int(item["id"]), str(item.get("filename") or ""), seconds=seconds
                ),
            }
            for item in files
            if isinstance(item, dict) and isinstance(item.get("id"), int)
        ]
    survey = (message.content or {}).get("survey") if message.sender_kind == "system" else None
    if isinstance(survey, dict) and message.channel == "webchat":
        # A satisfaction survey (surveys app): the widget shows its rating form.
        presented["survey"] = {
            key: survey.get(key) for key in ("token", "kind", "min", "max", "words")
        }
    invite = (message.content or {}).get("call_invite") if message.sender_kind == "system" else None
    if isinstance(invite, dict) and invite.get("medium") in ("audio", "video"):
        # An agent's invitation to a browser call (calls/browser.py): the widget offers a button.
        presented["call_invite"] = {"medium": invite["medium"]}
    return presented
