"""Telegram bot through the Bot API.

Inbound:  POST /webhooks/telegram/<inbox-id>/  (one JSON Update per request)
Outbound: POST {api_base}/bot{token}/sendMessage (and sendPhoto / sendDocument for files)

Inbox credentials: {"bot_token", "secret_token"}; the secret token is the one passed to
`setWebhook` (1-256 characters of A-Za-z0-9_-) and Telegram sends it back on every delivery in
X-Telegram-Bot-Api-Secret-Token. Inbox config: optional "api_base" (default
https://api.telegram.org). `set_webhook(inbox)` registers the webhook for an inbox.

Identities: the sender is the Telegram user id (`from.id`), which Telegram proves; the private
chat with a user has the same id, so replies go to chat_id = that identity. Message ids are
unique only within a chat, so a message's external id is "<chat_id>:<message_id>".
"""

from __future__ import annotations

import hmac
import re
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
from django.conf import settings

from teamline.core import jsonsafe
from teamline.core.errors import InvalidInput

from . import payloads as shape
from .base import (
    Connector,
    InboundAttachment,
    InboundMessage,
    MalformedPayload,
    OutboundAttachment,
    OutboundMessage,
    ParsedEvent,
    PermanentSendError,
    SendResult,
    TransientSendError,
    WebhookRejected,
    WebhookRequest,
    register,
)
from .media import MediaRules, download_media

if TYPE_CHECKING:
    from teamline.conversations.models import Inbox

PROVIDER = "telegram"
CHANNEL = "telegram"
DEFAULT_API_BASE = "https://api.telegram.org"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
MAX_TEXT = 4096  # sendMessage text, UTF-16 code units
MAX_CAPTION = 1024
# Files Telegram fetches by URL (sendPhoto / sendDocument with an HTTP URL); larger: uploaded.
URL_PHOTO_MAX_BYTES = 5 * 1024 * 1024
URL_FILE_MAX_BYTES = 20 * 1024 * 1024
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # the Bot API's getFile limit
MEDIA_RULES = MediaRules(
    limit=MAX_DOWNLOAD_BYTES,
    refused="file download: HTTP {status}",
    too_large="file is larger than the download limit",
    unreachable="file download failed: {error}",
)
TIMEOUT = httpx.Timeout(15.0, connect=5.0)
# No Telegram message is older than the Bot API (June 2015; Telegram itself began in 2013).
TELEGRAM_EPOCH = datetime(2013, 8, 1, tzinfo=UTC)

# Update kinds a contact-center bot deliberately does not treat as a customer writing.
_IGNORED_UPDATES = {
    "edited_message": "edited messages are not applied (the original stays as received)",
    "channel_post": "channel posts are not customer messages",
    "edited_channel_post": "channel posts are not customer messages",
    "my_chat_member": "bot membership change (e.g. the user blocked or restarted the bot)",
    "chat_member": "chat membership change",
    "chat_join_request": "chat join request",
    "inline_query": "inline queries are not handled",
    "message_reaction": "reactions are not handled",
}
# Media carried as a file with its own file_id: (message key, default content type, extension).
_FILE_KINDS = (
    ("document", "application/octet-stream", ""),
    ("video", "video/mp4", ".mp4"),
    ("audio", "audio/mpeg", ".mp3"),
    ("voice", "audio/ogg", ".ogg"),
    ("video_note", "video/mp4", ".mp4"),
    ("animation", "video/mp4", ".mp4"),
    ("sticker", "image/webp", ".webp"),
)


def new_secret_token() -> str:
    """A fresh webhook secret in Telegram's alphabet."""
    return secrets.token_urlsafe(48)


def valid_secret_token(value: str) -> bool:
    return bool(SECRET_TOKEN_RE.fullmatch(value or ""))


def webhook_url(inbox: Inbox) -> str:
    return f"{settings.PUBLIC_URL}/webhooks/{PROVIDER}/{inbox.public_id}/"


def _api_base(inbox: Inbox) -> str:
    return str((inbox.config or {}).get("api_base") or DEFAULT_API_BASE).rstrip("/")


def _bot_token(inbox: Inbox) -> str:
    token = str(inbox.credentials.get("bot_token") or "")
    if not token:
        raise PermanentSendError("Telegram inbox has no bot token configured")
    return token


def _update(request: WebhookRequest) -> dict[str, Any]:
    try:
        # Cleaned, not refused: NUL and lone surrogates in a signed update must not lose it.
        data = jsonsafe.loads(request.body, repair=True)
    except InvalidInput as exc:  # not JSON, or nested too deep: not an Update
        raise WebhookRejected(f"body is not a Telegram Update: {exc.message}", status=400) from exc
    if not isinstance(data, dict):
        raise WebhookRejected("body is not a Telegram Update", status=400)
    return data


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _call(
    client: httpx.Client,
    url: str,
    *,
    json_body: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    files: dict[str, tuple[str, bytes, str]] | None = None,
    params: dict[str, str] | None = None,
) -> Any:
    """One Bot API call; returns `result` or raises Transient/PermanentSendError."""
    try:
        if json_body is None and data is None and files is None:
            response = client.get(url, params=params)
        else:
            response = client.post(url, json=json_body, data=data, files=files)
    except httpx.TimeoutException as exc:
        raise TransientSendError("Telegram did not answer in time") from exc
    except httpx.HTTPError as exc:
        raise TransientSendError(f"Telegram unreachable: {type(exc).__name__}") from exc
    try:
        payload = response.json()
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    description = str(payload.get("description") or f"HTTP {response.status_code}")
    if response.status_code == 429:
        retry_after = (payload.get("parameters") or {}).get("retry_after")
        error = TransientSendError(f"Telegram rate limit: {description}")
        error.retry_after = retry_after  # type: ignore[attr-defined]
        raise error
    if response.status_code >= 500:
        raise TransientSendError(f"Telegram HTTP {response.status_code}: {description}")
    if response.status_code >= 400 or not payload.get("ok"):
        # 400 bad request / chat not found, 403 bot was blocked by the user, 401 bad token.
        raise PermanentSendError(f"Telegram {response.status_code}: {description}")
    return payload.get("result")


@register
class TelegramConnector(Connector):
    carries_media = True
    provider = PROVIDER
    inbox_kinds = ("telegram",)
    channel_for_kind = {"telegram": CHANNEL}

    # -- inbound -------------------------------------------------------------------------------

    def verify(self, inbox: Inbox, request: WebhookRequest) -> None:
        secret = str(inbox.credentials.get("secret_token") or "")
        if not secret:
            raise WebhookRejected("inbox has no Telegram secret token configured", status=401)
        given = request.header(SECRET_HEADER)
        if not given:
            raise WebhookRejected(f"missing {SECRET_HEADER}", status=401)
        if not hmac.compare_digest(secret.encode(), given.encode()):
            raise WebhookRejected(f"{SECRET_HEADER} mismatch", status=401)

    def event_id(self, inbox: Inbox, request: WebhookRequest) -> str:
        update_id = _update(request).get("update_id")
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            raise WebhookRejected("no update_id in the Update", status=400)
        return str(update_id)

    def parse(self, inbox: Inbox, request: WebhookRequest) -> ParsedEvent:
        update = _update(request)
        if update.get("message") is None and isinstance(update.get("callback_query"), dict):
            try:
                return self._parse_callback(update["callback_query"])
            except MalformedPayload as exc:
                raise MalformedPayload(f"malformed Telegram payload: {exc.reason}") from exc
        if update.get("message") is None:
            for key, reason in _IGNORED_UPDATES.items():
                if key in update:
                    return ParsedEvent(ignored=f"Telegram {key}: {reason}")
            kinds = sorted(k for k in update if k != "update_id")
            return ParsedEvent(ignored=f"Telegram update {', '.join(kinds) or '(empty)'} ignored")
        try:
            return self._parse_message(shape.obj(update, "message", "message", required=True))
        except MalformedPayload as exc:
            raise MalformedPayload(f"malformed Telegram payload: {exc.reason}") from exc

    def _parse_callback(self, query: dict[str, Any]) -> ParsedEvent:
        """A tap on an inline keyboard button (a survey's score): a message whose content
        carries the button's data, from the user who tapped, in their private chat with the
        bot. Its id is the callback query's, apart from message ids ("cb:<id>")."""
        query_id = shape.text(query, "id", "callback_query.id", required=True)
        sender = shape.obj(query, "from", "callback_query.from", required=True) or {}
        sender_id = shape.integer(sender, "id", "callback_query.from.id", required=True)
        is_bot = shape.flag(sender, "is_bot", "callback_query.from.is_bot")
        data = shape.text(query, "data", "callback_query.data")
        message = shape.obj(query, "message", "callback_query.message") or {}
        chat = shape.obj(message, "chat", "callback_query.message.chat") or {}
        chat_type = shape.text(chat, "type", "callback_query.message.chat.type")
        if is_bot or not sender_id:
            return ParsedEvent(ignored="Telegram callback not from a user")
        if chat_type and chat_type != "private":
            return ParsedEvent(ignored=f"Telegram callback in a {chat_type} chat ignored")
        if not data:
            return ParsedEvent(ignored="Telegram callback without data (a game) ignored")
        content: dict[str, Any] = {"callback": {"id": query_id, "data": data}}
        language = shape.text(sender, "language_code", "callback_query.from.language_code")
        first_name = shape.text(sender, "first_name", "callback_query.from.first_name")
        last_name = shape.text(sender, "last_name", "callback_query.from.last_name")
        return ParsedEvent(
            messages=(
                InboundMessage(
                    external_id=f"cb:{query_id}",
                    channel=CHANNEL,
                    sender_kind="telegram",
                    sender_value=str(sender_id),
                    sender_verified=True,
                    sender_name=" ".join(p for p in (first_name, last_name) if p),
                    text="",
                    content=content,
                    languages=(language,) if language else (),
                ),
            )
        )

    def _parse_message(self, message: dict[str, Any]) -> ParsedEvent:
        """Every field used is checked against the Bot API's types (a wrong one is a
        MalformedPayload naming it); fields Teamline does not use are not looked at."""
        message_id = shape.integer(message, "message_id", "message.message_id", required=True)
        chat = shape.obj(message, "chat", "message.chat", required=True)
        chat_id = shape.integer(chat, "id", "message.chat.id", required=True)
        chat_type = shape.text(chat, "type", "message.chat.type")
        sender = shape.obj(message, "from", "message.from") or {}
        sender_id = shape.integer(sender, "id", "message.from.id")
        is_bot = shape.flag(sender, "is_bot", "message.from.is_bot")
        sent_at = shape.unix_time(message, "date", "message.date", earliest=TELEGRAM_EPOCH)
        if chat_type != "private":
            return ParsedEvent(ignored=f"Telegram {chat_type or 'unknown'} chat ignored")
        if not sender_id or is_bot:
            return ParsedEvent(ignored="Telegram message not from a user")
        body = shape.text(message, "text", "message.text")
        caption = shape.text(message, "caption", "message.caption")
        text = body or caption or ""
        content: dict[str, Any] = {}
        for key in ("username", "language_code"):
            if value := shape.text(sender, key, f"message.from.{key}"):
                content[key] = value
        if body and body.startswith("/"):
            content["command"] = body[1:].split(maxsplit=1)[0].split("@")[0].lower()
        reply_to = shape.obj(message, "reply_to_message", "message.reply_to_message") or {}
        reply_id = shape.integer(reply_to, "message_id", "message.reply_to_message.message_id")
        if reply_id:
            content["reply_to"] = f"{chat_id}:{reply_id}"
        location = shape.obj(message, "location", "message.location")
        if location is not None:
            content["location"] = {
                "latitude": shape.number(
                    location, "latitude", "message.location.latitude", low=-90, high=90
                ),
                "longitude": shape.number(
                    location, "longitude", "message.location.longitude", low=-180, high=180
                ),
            }
        contact = shape.obj(message, "contact", "message.contact")
        if contact is not None:
            first = shape.text(contact, "first_name", "message.contact.first_name")
            last = shape.text(contact, "last_name", "message.contact.last_name")
            content["contact"] = {
                "phone_number": shape.text(contact, "phone_number", "message.contact.phone_number")
                or "",
                "name": " ".join(p for p in (first, last) if p),
                # Telegram only vouches for a shared contact that is the sender's own.
                "is_sender": shape.integer(contact, "user_id", "message.contact.user_id")
                == sender_id,
            }
        attachments = self._attachments(message)
        if not text and not attachments and not content.keys() & {"location", "contact"}:
            return ParsedEvent(ignored="Telegram message without customer content")
        first_name = shape.text(sender, "first_name", "message.from.first_name")
        last_name = shape.text(sender, "last_name", "message.from.last_name")
        name = " ".join(p for p in (first_name, last_name) if p)
        return ParsedEvent(
            messages=(
                InboundMessage(
                    external_id=f"{chat_id}:{message_id}",
                    channel=CHANNEL,
                    sender_kind="telegram",
                    sender_value=str(sender_id),
                    sender_verified=True,
                    sender_name=name,
                    text=text,
                    content=content,
                    attachments=tuple(attachments),
                    sent_at=sent_at,
                    languages=(content["language_code"],) if "language_code" in content else (),
                ),
            )
        )

    def _attachments(self, message: dict[str, Any]) -> list[InboundAttachment]:
        found = []
        photos = []
        for index, size in enumerate(shape.array(message, "photo", "message.photo") or []):
            where = f"message.photo[{index}]"
            if not isinstance(size, dict):
                raise shape.malformed(where, "an object", size)
            file_id = shape.text(size, "file_id", f"{where}.file_id", required=True)
            area = (shape.integer(size, "width", f"{where}.width") or 0) * (
                shape.integer(size, "height", f"{where}.height") or 0
            )
            byte_size = shape.integer(size, "file_size", f"{where}.file_size") or 0
            unique = shape.text(size, "file_unique_id", f"{where}.file_unique_id")
            photos.append((area, byte_size, str(file_id), unique or str(file_id)[:16]))
        if photos:
            _, _, file_id, unique = max(photos, key=lambda p: (p[0], p[1]))
            found.append(
                InboundAttachment(
                    filename=f"photo_{unique}.jpg",
                    content_type="image/jpeg",
                    provider_media_id=file_id,
                )
            )
        for key, default_type, extension in _FILE_KINDS:
            item = shape.obj(message, key, f"message.{key}")
            if item is None:
                continue
            where = f"message.{key}"
            file_id = str(shape.text(item, "file_id", f"{where}.file_id", required=True))
            unique = shape.text(item, "file_unique_id", f"{where}.file_unique_id") or file_id[:16]
            file_name = shape.text(item, "file_name", f"{where}.file_name")
            mime_type = shape.text(item, "mime_type", f"{where}.mime_type")
            found.append(
                InboundAttachment(
                    filename=file_name or f"{key}_{unique}{extension}",
                    content_type=mime_type or default_type,
                    provider_media_id=file_id,
                )
            )
        return found

    def fetch_attachment(self, inbox: Inbox, attachment: InboundAttachment) -> bytes:
        """getFile, then download {api_base}/file/bot{token}/{file_path} (Bot API: up to 20 MB)."""
        token = _bot_token(inbox)
        base = _api_base(inbox)
        if not attachment.provider_media_id:
            raise PermanentSendError("Telegram attachment without a file_id")
        with httpx.Client(timeout=TIMEOUT) as client:
            result = _call(
                client,
                f"{base}/bot{token}/getFile",
                params={"file_id": attachment.provider_media_id},
            )
            file_path = (result or {}).get("file_path") if isinstance(result, dict) else None
            if not file_path:
                raise PermanentSendError("Telegram returned no file_path for the file")
            return download_media(client, f"{base}/file/bot{token}/{file_path}", MEDIA_RULES).data

    # -- outbound ------------------------------------------------------------------------------

    def send(self, inbox: Inbox, message: OutboundMessage) -> SendResult:
        """sendMessage (text), or sendPhoto / sendDocument per attachment with the text as the
        first caption when it fits. The provider id is "<chat_id>:<message_id>" of the first
        message sent. If a later part fails, the error is permanent (with what went out), so a
        retry never sends the earlier parts twice."""
        token = _bot_token(inbox)
        chat_id = message.to.strip()
        if not re.fullmatch(r"-?\d{1,20}", chat_id):
            raise PermanentSendError(f"not a Telegram chat id: {chat_id!r}")
        text = message.text
        if _utf16_len(text) > MAX_TEXT:
            raise PermanentSendError(f"message too long for Telegram (max {MAX_TEXT} characters)")
        if not text and not message.attachments:
            raise PermanentSendError("nothing to send: empty message")
        base = f"{_api_base(inbox)}/bot{token}"
        caption_fits = bool(message.attachments) and _utf16_len(text) <= MAX_CAPTION
        sent: list[str] = []
        with httpx.Client(timeout=TIMEOUT) as client:
            try:
                if text and not caption_fits:
                    body: dict[str, Any] = {"chat_id": chat_id, "text": text}
                    if keyboard := _keyboard(message):
                        body["reply_markup"] = keyboard
                    result = _call(client, f"{base}/sendMessage", json_body=body)
                    sent.append(self._provider_id(chat_id, result))
                for index, attachment in enumerate(message.attachments):
                    caption = text if caption_fits and index == 0 else ""
                    result = self._send_file(client, base, chat_id, attachment, caption)
                    sent.append(self._provider_id(chat_id, result))
            except TransientSendError as exc:
                if sent:
                    raise PermanentSendError(
                        f"partly delivered ({len(sent)} part(s) sent), then: {exc}"
                    ) from exc
                raise
        return SendResult(provider_message_id=sent[0], status="sent")

    @staticmethod
    def _provider_id(chat_id: str, result: Any) -> str:
        message_id = result.get("message_id") if isinstance(result, dict) else None
        if message_id is None:
            raise PermanentSendError("Telegram answered without a message_id")
        chat = (result.get("chat") or {}).get("id", chat_id)
        return f"{chat}:{message_id}"

    @staticmethod
    def _send_file(
        client: httpx.Client, base: str, chat_id: str, attachment: OutboundAttachment, caption: str
    ) -> Any:
        """By its signed public URL when Telegram fetches files that large (photos 5 MB, other
        files 20 MB), else uploaded (multipart, up to 50 MB)."""
        is_photo = attachment.content_type in ("image/jpeg", "image/png")
        method, field = ("sendPhoto", "photo") if is_photo else ("sendDocument", "document")
        fetch_limit = URL_PHOTO_MAX_BYTES if is_photo else URL_FILE_MAX_BYTES
        if attachment.url and len(attachment.data) <= fetch_limit:
            body: dict[str, Any] = {"chat_id": chat_id, field: attachment.url}
            if caption:
                body["caption"] = caption
            return _call(client, f"{base}/{method}", json_body=body)
        data = {"chat_id": chat_id}
        if caption:
            data["caption"] = caption
        files = {field: (attachment.filename or field, attachment.data, attachment.content_type)}
        return _call(client, f"{base}/{method}", data=data, files=files)


# Inline keyboard: callback_data is 1-64 bytes; the scores go in rows of at most 6 buttons
# (NPS's 0-10 in two rows), best first.
MAX_CALLBACK_BYTES = 64
BUTTONS_PER_ROW = 6


def _keyboard(message: OutboundMessage) -> dict[str, Any] | None:
    """Answers to tap (OutboundMessage.extra["choices"], e.g. a survey's scores) as an inline
    keyboard: one button per row when the titles are long, else rows of up to six."""
    choices = [
        c
        for c in (message.extra or {}).get("choices") or []
        if 0 < len(c["id"].encode()) <= MAX_CALLBACK_BYTES and c["title"]
    ]
    if not choices:
        return None
    buttons = [{"text": c["title"], "callback_data": c["id"]} for c in choices]
    if any(len(c["title"]) > 4 for c in choices):
        return {"inline_keyboard": [[button] for button in buttons]}
    rows = [buttons[i : i + BUTTONS_PER_ROW] for i in range(0, len(buttons), BUTTONS_PER_ROW)]
    return {"inline_keyboard": rows}


def set_webhook(inbox: Inbox, url: str | None = None) -> Any:
    """Register this inbox's webhook with Telegram (setWebhook with the inbox's secret token).
    Run from a Django shell: `from teamline.connectors.telegram import set_webhook`."""
    secret = str(inbox.credentials.get("secret_token") or "")
    if not valid_secret_token(secret):
        raise ValueError("the inbox's secret_token must be 1-256 characters of A-Za-z0-9_-")
    with httpx.Client(timeout=TIMEOUT) as client:
        return _call(
            client,
            f"{_api_base(inbox)}/bot{_bot_token(inbox)}/setWebhook",
            json_body={
                "url": url or webhook_url(inbox),
                "secret_token": secret,
                "allowed_updates": ["message", "callback_query"],
            },
        )
