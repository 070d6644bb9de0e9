"""WhatsApp Cloud API: what its webhooks carry (messages, receipts, errors) and what Teamline
sends (text, media by link, interactive answers, templates) — the Graph calls themselves are in
`meta_graph.py`, the connector in `meta.py`."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .base import (
    InboundAttachment,
    InboundMessage,
    OutboundAttachment,
    OutboundMessage,
    PermanentSendError,
    SendResult,
    StatusUpdate,
)
from .meta_graph import (
    MAX_MEDIA_BYTES,
    WHATSAPP,
    as_dict,
    dicts,
    graph_call,
    graph_client,
    graph_url,
    media_filename,
    post_parts,
    timestamp,
)

if TYPE_CHECKING:
    from teamline.conversations.models import Inbox

WHATSAPP_MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")
WHATSAPP_STATUSES = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
}


# ---- inbound -----------------------------------------------------------------------------


def _whatsapp_values(data: dict[str, Any]) -> list[dict[str, Any]]:
    values = []
    for entry in dicts(data.get("entry")):
        for change in dicts(entry.get("changes")):
            value = as_dict(change.get("value"))
            if value.get("messaging_product", "whatsapp") == "whatsapp":
                values.append(value)
    return values


def whatsapp_ids(data: dict[str, Any]) -> list[str]:
    ids: list[str] = []
    for value in _whatsapp_values(data):
        ids += [str(m["id"]) for m in dicts(value.get("messages")) if m.get("id")]
        ids += [
            f"{s['id']}:{s.get('status', '')}" for s in dicts(value.get("statuses")) if s.get("id")
        ]
    return ids


def parse_whatsapp(
    inbox: Inbox,
    data: dict[str, Any],
    messages: list[InboundMessage],
    statuses: list[StatusUpdate],
    ignored: list[str],
) -> None:
    own_number = str(inbox.config.get("phone_number_id") or "")
    for value in _whatsapp_values(data):
        number = str(as_dict(value.get("metadata")).get("phone_number_id") or "")
        if own_number and number and number != own_number:
            # One Meta app can have several numbers: only this inbox's number belongs here.
            ignored.append(f"for phone number id {number}, not this inbox's")
            continue
        names = {
            str(c.get("wa_id")): str(as_dict(c.get("profile")).get("name") or "")
            for c in dicts(value.get("contacts"))
        }
        for raw in dicts(value.get("messages")):
            parsed = _whatsapp_message(raw, names)
            if isinstance(parsed, str):
                ignored.append(parsed)
            else:
                messages.append(parsed)
        for raw in dicts(value.get("statuses")):
            status = WHATSAPP_STATUSES.get(str(raw.get("status") or ""))
            if status is None or not raw.get("id"):
                ignored.append(f"status {raw.get('status')!r} not tracked")
                continue
            statuses.append(
                StatusUpdate(
                    provider_message_id=str(raw["id"]),
                    status=status,
                    error=_whatsapp_errors(raw.get("errors")) if status == "failed" else "",
                    at=timestamp(raw.get("timestamp")),
                )
            )
        if value.get("errors") and not value.get("messages") and not value.get("statuses"):
            ignored.append("WhatsApp system error: " + _whatsapp_errors(value.get("errors")))


def _whatsapp_errors(errors: Any) -> str:
    parts = []
    for error in dicts(errors):
        details = as_dict(error.get("error_data")).get("details")
        text = str(error.get("message") or error.get("title") or "unknown error")
        title = str(error.get("title") or "")
        if title and title != text:
            text = f"{title}: {text}"
        if details and str(details) not in text:
            text = f"{text} ({details})"
        if error.get("code"):
            text = f"{text} [code {error['code']}]"
        parts.append(text)
    return "; ".join(parts) or "failed"


def _whatsapp_message(raw: dict[str, Any], names: dict[str, str]) -> InboundMessage | str:
    """One `messages[]` item → an InboundMessage, or the reason it is ignored."""
    message_id = str(raw.get("id") or "")
    wa_id = re.sub(r"\D", "", str(raw.get("from") or ""))
    kind = str(raw.get("type") or "")
    if not message_id or not wa_id:
        return f"WhatsApp {kind or 'message'} without id or sender"
    text = ""
    content: dict[str, Any] = {"type": kind}
    attachments: tuple[InboundAttachment, ...] = ()
    if kind == "text":
        text = str(as_dict(raw.get("text")).get("body") or "")
    elif kind in WHATSAPP_MEDIA_TYPES:
        media = as_dict(raw.get(kind))
        media_id = str(media.get("id") or "")
        mime_type = str(media.get("mime_type") or "application/octet-stream")
        text = str(media.get("caption") or "")
        content["media"] = {
            key: media[key]
            for key in ("id", "mime_type", "sha256", "caption", "filename", "voice", "animated")
            if key in media
        }
        attachments = (
            InboundAttachment(
                filename=str(media.get("filename") or media_filename(kind, media_id, mime_type)),
                content_type=mime_type,
                provider_media_id=media_id,
            ),
        )
    elif kind == "location":
        location = as_dict(raw.get("location"))
        content["location"] = {
            "lat": location.get("latitude"),
            "lng": location.get("longitude"),
            "name": str(location.get("name") or ""),
            "address": str(location.get("address") or ""),
        }
        text = _location_text(content["location"])
    elif kind == "interactive":
        interactive = as_dict(raw.get("interactive"))
        reply = as_dict(interactive.get(str(interactive.get("type") or "")))
        if not reply:
            return f"WhatsApp interactive {interactive.get('type')!r} not supported"
        content["interactive"] = interactive
        text = str(reply.get("title") or reply.get("id") or "")
    elif kind == "button":
        button = as_dict(raw.get("button"))
        content["button"] = button
        text = str(button.get("text") or button.get("payload") or "")
    else:
        # reaction, contacts, order, system, unsupported, request_welcome…
        return f"WhatsApp message type {kind!r} not supported"
    context = as_dict(raw.get("context"))
    if context.get("id"):
        content["reply_to"] = str(context["id"])
    if raw.get("referral"):
        content["referral"] = raw["referral"]
    return InboundMessage(
        external_id=message_id,
        channel=WHATSAPP,
        sender_kind="phone",
        sender_value=f"+{wa_id}",
        sender_verified=True,  # Meta proves the sender's WhatsApp number
        text=text,
        sender_name=names.get(wa_id, ""),
        content=content,
        attachments=attachments,
        sent_at=timestamp(raw.get("timestamp")),
    )


def _location_text(location: dict[str, Any]) -> str:
    label = ", ".join(part for part in (location["name"], location["address"]) if part)
    where = f"{location['lat']}, {location['lng']}"
    return f"📍 {label} ({where})" if label else f"📍 {where}"


# ---- templates ---------------------------------------------------------------------------

TEMPLATE_QUERY = "fields=id,name,language,status,category,parameter_format,components&limit=100"
MAX_TEMPLATE_PAGES = 50  # 5,000 templates: more than a business account may hold


def list_whatsapp_templates(inbox: Inbox) -> list[dict[str, Any]]:
    """The WhatsApp Business Account's message templates (every status), following Graph's
    `paging.next` — only on the configured API host, where the token may go."""
    account = str(inbox.config.get("business_account_id") or "").strip()
    if not account:
        raise PermanentSendError(
            "No business_account_id (WhatsApp Business Account id) configured for this inbox."
        )
    token = str(inbox.credentials.get("access_token") or "")
    if not token:
        raise PermanentSendError("No access token configured for this inbox.")
    headers = {"Authorization": f"Bearer {token}"}
    base = graph_url(inbox, "")
    url = graph_url(inbox, f"{account}/message_templates") + "?" + TEMPLATE_QUERY
    found: list[dict[str, Any]] = []
    with graph_client(inbox) as client:
        for _page in range(MAX_TEMPLATE_PAGES):
            data = graph_call(client, "GET", url, headers=headers)
            found += dicts(data.get("data"))
            following = str(as_dict(data.get("paging")).get("next") or "")
            if not following or not following.startswith(base):
                break
            url = following
    return found


def _template_object(template: Any) -> dict[str, Any]:
    if not isinstance(template, dict) or not template.get("name"):
        raise PermanentSendError("A WhatsApp template needs a name.")
    language = template.get("language") or "en_US"
    result: dict[str, Any] = {
        "name": str(template["name"]),
        "language": language if isinstance(language, dict) else {"code": str(language)},
    }
    if template.get("components"):
        result["components"] = template["components"]
    return result


# ---- outbound ----------------------------------------------------------------------------

# WhatsApp media by MIME type, with each kind's size limit (Cloud API "Supported media types");
# anything else, or larger, goes as a document (up to 100 MB).
WHATSAPP_MEDIA: dict[str, tuple[str, int]] = {
    "image/jpeg": ("image", 5 * 1024 * 1024),
    "image/png": ("image", 5 * 1024 * 1024),
    "video/mp4": ("video", 16 * 1024 * 1024),
    "video/3gpp": ("video", 16 * 1024 * 1024),
    "audio/aac": ("audio", 16 * 1024 * 1024),
    "audio/amr": ("audio", 16 * 1024 * 1024),
    "audio/mpeg": ("audio", 16 * 1024 * 1024),
    "audio/mp4": ("audio", 16 * 1024 * 1024),
    "audio/ogg": ("audio", 16 * 1024 * 1024),
}
MAX_CAPTION = 1024  # characters, for image, video and document captions


def _whatsapp_kind(attachment: OutboundAttachment) -> str:
    kind, limit = WHATSAPP_MEDIA.get(attachment.content_type, ("document", MAX_MEDIA_BYTES))
    return kind if len(attachment.data) <= limit else "document"


# Interactive messages (Cloud API "Interactive messages"): up to 3 reply buttons (titles of 20
# characters) or a list of up to 10 rows (titles of 24, descriptions of 72; the button that
# opens it 20); the body text at most 1024 characters with buttons, 4096 with a list.
MAX_REPLY_BUTTONS = 3
MAX_LIST_ROWS = 10


def _interactive_body(message: OutboundMessage) -> dict[str, Any] | None:
    """Answers to tap (OutboundMessage.extra["choices"], e.g. a survey's scores) as reply
    buttons or a list; None when there are none, too many, or attachments to send."""
    choices = (message.extra or {}).get("choices") or []
    text = message.text.strip()
    if not choices or message.attachments or len(choices) > MAX_LIST_ROWS or not text:
        return None
    if len(choices) <= MAX_REPLY_BUTTONS and all(len(c["title"]) <= 20 for c in choices):
        if len(text) > 1024:
            return None
        buttons = [
            {"type": "reply", "reply": {"id": c["id"], "title": c["title"]}} for c in choices
        ]
        return {
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": {"text": text},
                "action": {"buttons": buttons},
            },
        }
    rows = []
    for choice in choices:
        title = choice["title"]
        if len(title) <= 24:
            rows.append({"id": choice["id"], "title": title})
        else:  # "3 – Neither satisfied nor dissatisfied": its first word, the whole below
            rows.append(
                {"id": choice["id"], "title": title.split()[0][:24], "description": title[:72]}
            )
    button = str((message.extra or {}).get("choices_button") or "") or "Choose"
    return {
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": text[:4096]},
            "action": {"button": button[:20], "sections": [{"rows": rows}]},
        },
    }


def whatsapp_bodies(message: OutboundMessage) -> list[dict[str, Any]]:
    """One Cloud API message per attachment (media by `link`: the signed URL Meta fetches),
    the text as the first one's caption when it can carry it, else a text message first; a
    message with answers to tap is one interactive message (_interactive_body)."""
    interactive = _interactive_body(message)
    if interactive is not None:
        return [interactive]
    text = message.text.strip()
    kinds = [_whatsapp_kind(a) for a in message.attachments]
    caption_fits = bool(kinds) and kinds[0] != "audio" and len(text) <= MAX_CAPTION
    bodies: list[dict[str, Any]] = []
    if text and not caption_fits:
        bodies.append({"type": "text", "text": {"body": message.text, "preview_url": False}})
    for index, (attachment, kind) in enumerate(zip(message.attachments, kinds, strict=True)):
        media: dict[str, Any] = {"link": attachment.url}
        if kind == "document":
            media["filename"] = attachment.filename
        if index == 0 and caption_fits and text:
            media["caption"] = text
        bodies.append({"type": kind, kind: media})
    return bodies


def send_whatsapp(inbox: Inbox, message: OutboundMessage, template: Any) -> SendResult:
    """A template, else whatsapp_bodies, sent part by part (meta_graph.post_parts)."""
    phone_number_id = str(inbox.config.get("phone_number_id") or "")
    if not phone_number_id:
        raise PermanentSendError("No phone_number_id configured for this WhatsApp inbox.")
    to = re.sub(r"\D", "", message.to)
    if not to:
        raise PermanentSendError(f"Not a WhatsApp number: {message.to!r}")
    payload: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
    }
    bodies: list[dict[str, Any]] = []
    if template:
        bodies.append({"type": "template", "template": _template_object(template)})
    else:
        if not message.text.strip() and not message.attachments:
            raise PermanentSendError("The message is empty.")
        bodies = whatsapp_bodies(message)
    return post_parts(
        inbox,
        f"{phone_number_id}/messages",
        [{**payload, **body} for body in bodies],
        _message_id,
    )


def _message_id(answer: dict[str, Any]) -> str:
    sent = dicts(answer.get("messages"))
    return str(sent[0].get("id") or "") if sent else ""
