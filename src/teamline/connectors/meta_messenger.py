"""Messenger and Instagram direct messages: the `messaging[]` events their webhooks carry
(messages, postbacks, delivery and read receipts, watermarks included) and what Teamline sends
(a text, then each file by its public link). The Graph calls are in `meta_graph.py`, the
connector in `meta.py`."""

from __future__ import annotations

import mimetypes
from datetime import datetime
from typing import TYPE_CHECKING, Any

from teamline.conversations.models import Direction, Message

from . import payloads as shape
from .base import (
    InboundAttachment,
    InboundMessage,
    OutboundMessage,
    PermanentSendError,
    SendResult,
    StatusUpdate,
)
from .meta_graph import INSTAGRAM, as_dict, dicts, media_filename, post_parts, timestamp

if TYPE_CHECKING:
    from teamline.conversations.models import Inbox

MESSENGER_MEDIA_TYPES = ("image", "video", "audio", "file", "sticker")


# ---- inbound -----------------------------------------------------------------------------


def _messaging_events(data: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [
        (entry, event)
        for entry in dicts(data.get("entry"))
        for event in dicts(entry.get("messaging"))
    ]


def messaging_ids(data: dict[str, Any]) -> list[str]:
    ids: list[str] = []
    for _entry, event in _messaging_events(data):
        message = as_dict(event.get("message"))
        sender = str(as_dict(event.get("sender")).get("id") or "")
        if message.get("mid"):
            ids.append(str(message["mid"]))
        elif as_dict(event.get("postback")).get("mid"):
            ids.append(str(event["postback"]["mid"]))
        delivery = as_dict(event.get("delivery"))
        if delivery:
            listed = delivery.get("mids")
            # Only the id of the stored event here; parse() refuses a mids of the wrong type.
            mids = [str(mid) for mid in listed if mid] if isinstance(listed, list) else []
            ids += [f"delivery:{mid}" for mid in mids] or [
                f"delivery:{sender}:{delivery.get('watermark')}"
            ]
        read = as_dict(event.get("read"))
        if read:
            mid = read.get("mid")
            ids.append(f"read:{mid}" if mid else f"read:{sender}:{read.get('watermark')}")
    return ids


def parse_messaging(
    inbox: Inbox,
    data: dict[str, Any],
    messages: list[InboundMessage],
    statuses: list[StatusUpdate],
    ignored: list[str],
) -> None:
    kind = inbox.kind
    own_id = str(inbox.config.get("instagram_account_id" if kind == INSTAGRAM else "page_id") or "")
    for entry, event in _messaging_events(data):
        entry_id = str(entry.get("id") or "")
        if own_id and entry_id and entry_id != own_id:
            ignored.append(f"for account {entry_id}, not this inbox's")
            continue
        sender = str(as_dict(event.get("sender")).get("id") or "")
        at = timestamp(event.get("timestamp"), millis=True)
        if "message" in event:
            parsed = _messaging_message(kind, sender, as_dict(event.get("message")), at)
            if isinstance(parsed, str):
                ignored.append(parsed)
            else:
                messages.append(parsed)
        elif "postback" in event:
            postback = as_dict(event.get("postback"))
            if not postback.get("mid") or not sender:
                ignored.append("postback without mid")
                continue
            messages.append(
                InboundMessage(
                    external_id=str(postback["mid"]),
                    channel=kind,
                    sender_kind=kind,
                    sender_value=sender,
                    sender_verified=True,
                    text=str(postback.get("title") or postback.get("payload") or ""),
                    content={"type": "postback", "postback": postback},
                    sent_at=at,
                )
            )
        elif "delivery" in event:
            delivery = as_dict(event.get("delivery"))
            listed = shape.array(delivery, "mids", f"{kind} delivery.mids")
            mids = [str(mid) for mid in listed or [] if mid]
            if not mids:
                mids = sent_before(kind, sender, delivery.get("watermark"), ("sent",))
            statuses += [StatusUpdate(mid, "delivered", at=at) for mid in mids]
            if not mids:
                ignored.append("delivery receipt matched no sent message")
        elif "read" in event:
            read = as_dict(event.get("read"))
            if read.get("mid"):
                mids = [str(read["mid"])]
            else:
                mids = sent_before(kind, sender, read.get("watermark"), ("sent", "delivered"))
            statuses += [StatusUpdate(mid, "read", at=at) for mid in mids]
            if not mids:
                ignored.append("read receipt matched no unread message")
        else:
            names = sorted(set(event) - {"sender", "recipient", "timestamp"})
            ignored.append(f"{kind} event {','.join(names) or 'empty'} not supported")


def _messaging_message(
    kind: str, sender: str, message: dict[str, Any], at: datetime | None
) -> InboundMessage | str:
    mid = str(message.get("mid") or "")
    if message.get("is_echo"):
        return "echo of our own outbound message"
    if message.get("is_deleted"):
        return "the customer deleted a message"
    if message.get("is_unsupported"):
        return f"{kind} message type not supported by the API"
    if not mid or not sender:
        return f"{kind} message without mid or sender"
    text = str(message.get("text") or "")
    content: dict[str, Any] = {"type": "text"}
    attachments: list[InboundAttachment] = []
    media_types: list[str] = []
    shared: list[dict[str, Any]] = []
    for index, attachment in enumerate(dicts(message.get("attachments"))):
        attachment_type = str(attachment.get("type") or "")
        payload = as_dict(attachment.get("payload"))
        url = str(payload.get("url") or "")
        if attachment_type in MESSENGER_MEDIA_TYPES and url:
            guessed = mimetypes.guess_type(url.split("?")[0])[0] or "application/octet-stream"
            attachments.append(
                InboundAttachment(
                    filename=media_filename(attachment_type, f"{mid[-12:]}-{index}", guessed),
                    content_type=guessed,
                    url=url,
                )
            )
            media_types.append(attachment_type)
        else:
            # share, story_mention, ig_reel, reel, fallback, template…: kept for the agent.
            shared.append({"type": attachment_type, "payload": payload})
    if attachments:
        content["type"] = media_types[0]
        content["media"] = [{"url": a.url, "filename": a.filename} for a in attachments]
    if shared:
        content["shared"] = shared
        if not text:
            text = ", ".join(str(item["type"]).replace("_", " ") for item in shared)
    if message.get("quick_reply"):
        content["quick_reply"] = message["quick_reply"]
    reply_to = as_dict(message.get("reply_to"))
    if reply_to.get("mid"):
        content["reply_to"] = str(reply_to["mid"])
    if not text and not attachments:
        return f"{kind} message with nothing we can show"
    return InboundMessage(
        external_id=mid,
        channel=kind,
        sender_kind=kind,  # IdentityKind messenger / instagram: page- or Instagram-scoped id
        sender_value=sender,
        sender_verified=True,  # Meta proves the scoped id
        text=text,
        content=content,
        attachments=tuple(attachments),
        sent_at=at,
    )


def sent_before(kind: str, sender: str, watermark: Any, states: tuple[str, ...]) -> list[str]:
    """Messenger receipts without mids say "everything sent before `watermark` (ms)": our
    outbound messages on this channel to this customer, still in `states`, sent before it."""
    at = timestamp(watermark, millis=True)
    if at is None or not sender:
        return []
    ids = (
        Message.objects.filter(
            channel=kind,
            direction=Direction.OUTBOUND,
            delivery_status__in=states,
            created_at__lte=at,
            conversation__customer__identities__kind=kind,
            conversation__customer__identities__value=sender,
        )
        .exclude(provider_message_id="")
        .order_by("-created_at")
        .values_list("provider_message_id", flat=True)[:100]
    )
    return [str(i) for i in ids if i]


# ---- outbound ----------------------------------------------------------------------------


def _messaging_media_type(content_type: str) -> str:
    for kind in ("image", "video", "audio"):
        if content_type.startswith(f"{kind}/"):
            return kind
    return "file"


def send_messaging(inbox: Inbox, message: OutboundMessage, tag: str) -> SendResult:
    """The text, then each file by its public link, one Send API call each (`tag`: its tag;
    meta_graph.post_parts)."""
    page_id = str(inbox.config.get("page_id") or "")
    if not page_id:
        raise PermanentSendError(f"No page_id configured for this {inbox.kind} inbox.")
    if not message.text.strip() and not message.attachments:
        raise PermanentSendError("The message is empty.")
    # Messenger and Instagram carry a text or one attachment per message: the text first,
    # then each file by its public URL.
    parts: list[dict[str, Any]] = [{"text": message.text}] if message.text.strip() else []
    parts += [
        {
            "attachment": {
                "type": _messaging_media_type(a.content_type),
                "payload": {"url": a.url, "is_reusable": False},
            }
        }
        for a in message.attachments
    ]
    messaging_type = "MESSAGE_TAG" if tag else "RESPONSE"
    payloads: list[dict[str, Any]] = [
        {"recipient": {"id": message.to}, "messaging_type": messaging_type, "message": part}
        | ({"tag": tag} if tag else {})
        for part in parts
    ]
    return post_parts(
        inbox, f"{page_id}/messages", payloads, lambda answer: str(answer.get("message_id") or "")
    )
