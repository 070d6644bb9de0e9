"""Meta connector: WhatsApp Cloud API, Messenger and Instagram direct messages.

One provider ("meta", URLs /webhooks/meta/<inbox public id>/) serves the three inbox kinds; the
message channel is the inbox kind. Facts this module relies on (shared/reference/webhooks.md and
Meta's Graph API docs):

- Set-up handshake: GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=… → echo the
  challenge (200, text/plain) when the token matches the inbox's `verify_token`, else 403.
- Every POST carries `X-Hub-Signature-256: sha256=<lowercase hex HMAC-SHA256(app secret, raw
  body)>`. Verified on the raw bytes; a missing/malformed header or an empty app secret fails.
- Deliveries are at least once, retried for days, and one POST may batch several messages and
  receipts. `event_id` is built from the ids in the payload (see there); each message keeps its
  own provider id as well, so the message store absorbs a re-batched retry too.
- WhatsApp's customer-service window (and Messenger/Instagram's standard messaging window): free
  text only within 24 h of the customer's last message; WhatsApp templates are allowed anytime.

Credentials (encrypted): {"app_secret", "access_token", "verify_token"}.
Config: {"phone_number_id" (WhatsApp), "page_id" (Messenger/Instagram), "instagram_account_id"
(optional, Instagram), "api_base" (default https://graph.facebook.com), "api_version" (default
v21.0), "timeout" (seconds, default 15)}.
"""

from __future__ import annotations

import hashlib
import hmac
import mimetypes
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
from django.db.models import Max
from django.http import HttpResponse
from django.utils import timezone

from teamline.conversations.models import Direction, Message
from teamline.core import jsonsafe
from teamline.core.errors import InvalidInput
from teamline.customers.models import Customer, Identity

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
    Reachability,
    SendResult,
    StatusUpdate,
    TransientSendError,
    WebhookRejected,
    WebhookRequest,
    register,
)

if TYPE_CHECKING:
    from teamline.conversations.models import Inbox
    from teamline.customers.models import Customer

WHATSAPP = "whatsapp"
MESSENGER = "messenger"
INSTAGRAM = "instagram"

DEFAULT_API_BASE = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v21.0"
DEFAULT_TIMEOUT = 15.0
MAX_MEDIA_BYTES = 100 * 1024 * 1024  # WhatsApp's largest media (documents) is 100 MB

SIGNATURE_HEADER = "X-Hub-Signature-256"
_SIGNATURE_RE = re.compile(r"sha256=([0-9a-f]{64})")

# The standard messaging window of all three channels.
WINDOW = timedelta(hours=24)
# Messenger/Instagram: the HUMAN_AGENT message tag lets a person answer for 7 days.
HUMAN_AGENT_WINDOW = timedelta(days=7)
WINDOW_CLOSED = {
    WHATSAPP: "WhatsApp 24-hour window closed: only approved templates can be sent",
    MESSENGER: "Messenger 24-hour window closed: the customer has to write first",
    INSTAGRAM: "Instagram 24-hour window closed: the customer has to write first",
}

# The `object` of a webhook payload for each inbox kind.
WEBHOOK_OBJECT = {
    WHATSAPP: "whatsapp_business_account",
    MESSENGER: "page",
    INSTAGRAM: "instagram",
}

WHATSAPP_MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")
MESSENGER_MEDIA_TYPES = ("image", "video", "audio", "file", "sticker")
WHATSAPP_STATUSES = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
}
# Graph error codes that mean "slow down / try later" even when the HTTP status is 400:
# 1/2 (unknown/service), 4/17/32/613 (rate limits), 80007 (WhatsApp account rate limit),
# 130429 (throughput), 131000 (something went wrong), 131016 (service unavailable),
# 131048 (spam rate limit), 131056 (pair rate limit), 133004 (server temporarily unavailable).
TRANSIENT_ERROR_CODES = frozenset(
    {1, 2, 4, 17, 32, 613, 80007, 130429, 131000, 131016, 131048, 131056, 133004}
)
# Longest event id we emit verbatim (WebhookEvent.external_id is 255 characters).
MAX_EVENT_ID = 200


def _timestamp(value: Any, *, millis: bool = False) -> datetime | None:
    """Meta sends Unix seconds as strings (WhatsApp) or milliseconds as numbers (Messenger)."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer past a float
        return None
    if millis:
        number /= 1000
    try:
        return datetime.fromtimestamp(number, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The dict items of a JSON list (anything else in a payload is skipped, never trusted)."""
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _load(body: bytes) -> dict[str, Any] | None:
    try:
        # Cleaned, not refused (NUL, lone surrogates); not JSON or nested too deep → None, and
        # the event is stored under the body's hash and ignored with a reason.
        data = jsonsafe.loads(body, repair=True)
    except InvalidInput:
        return None
    return data if isinstance(data, dict) else None


def _filename(kind: str, media_id: str, mime_type: str) -> str:
    extension = mimetypes.guess_extension(mime_type.split(";")[0].strip()) if mime_type else None
    return f"{kind}-{media_id or 'attachment'}{extension or ''}"


@register
class MetaConnector(Connector):
    carries_media = True
    provider = "meta"
    inbox_kinds = (WHATSAPP, MESSENGER, INSTAGRAM)
    channel_for_kind = {WHATSAPP: WHATSAPP, MESSENGER: MESSENGER, INSTAGRAM: INSTAGRAM}

    # ---- inbound: handshake, verification, dedupe ------------------------------------------

    def handshake(self, inbox: Inbox, request: WebhookRequest) -> HttpResponse | None:
        if request.method.upper() != "GET":
            return None
        mode = request.param("hub.mode")
        token = request.param("hub.verify_token")
        if not mode and not token:
            return None
        expected = str(inbox.credentials.get("verify_token") or "")
        if (
            mode == "subscribe"
            and expected
            and hmac.compare_digest(token.encode(), expected.encode())
        ):
            response = HttpResponse(
                request.param("hub.challenge"), content_type="text/plain; charset=utf-8"
            )
        else:
            response = HttpResponse(
                "verify token mismatch", status=403, content_type="text/plain; charset=utf-8"
            )
        response["X-Content-Type-Options"] = "nosniff"
        return response

    def verify(self, inbox: Inbox, request: WebhookRequest) -> None:
        secret = str(inbox.credentials.get("app_secret") or "")
        if not secret:
            raise WebhookRejected("no app secret configured for this inbox", status=403)
        header = request.header(SIGNATURE_HEADER).strip()
        if not header:
            raise WebhookRejected(f"missing {SIGNATURE_HEADER}", status=401)
        match = _SIGNATURE_RE.fullmatch(header.lower())
        if match is None:
            raise WebhookRejected(f"malformed {SIGNATURE_HEADER}", status=401)
        expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, match.group(1)):
            raise WebhookRejected("signature mismatch", status=401)

    def event_id(self, inbox: Inbox, request: WebhookRequest) -> str:
        """A stable id for one delivery, equal on Meta's retries.

        WhatsApp: the message ids (`wamid…`) and `<status id>:<status>` pairs in payload order,
        joined with "," and prefixed "wa:" (a status id alone is the message's id, so its status
        is needed to tell "delivered" from "read"). Messenger/Instagram: the `mid`s of messages
        and echoes, `delivery:<mid>`, `read:<mid>` or `read:<sender>:<watermark>` for receipts
        without ids, prefixed "mid:". When the ids would not fit (a large batch) the id is
        "<prefix>sha256:" + hex SHA-256 of the joined ids; a payload with no ids at all uses
        "sha256:" + hex SHA-256 of the raw body.
        """
        data = _load(request.body)
        ids: list[str] = []
        prefix = "mid:"
        if data is not None:
            if data.get("object") == WEBHOOK_OBJECT[WHATSAPP]:
                prefix = "wa:"
                ids = _whatsapp_ids(data)
            else:
                ids = _messaging_ids(data)
        if not ids:
            return "sha256:" + hashlib.sha256(request.body).hexdigest()
        joined = ",".join(ids)
        if len(prefix) + len(joined) > MAX_EVENT_ID:
            return prefix + "sha256:" + hashlib.sha256(joined.encode()).hexdigest()
        return prefix + joined

    # ---- inbound: parsing ------------------------------------------------------------------

    def parse(self, inbox: Inbox, request: WebhookRequest) -> ParsedEvent:
        """Everything in one delivery: several messages and receipts may arrive together.

        `ignored` is set (with the reasons) only when nothing in the delivery is usable, so an
        event that carries one message and one reaction still delivers the message. Items of
        the wrong type inside lists are skipped; a field whose type makes the delivery
        unreadable raises MalformedPayload (the event is ignored with it).
        """
        try:
            return self._parse(inbox, request)
        except MalformedPayload as exc:
            raise MalformedPayload(f"malformed Meta payload: {exc.reason}") from exc

    def _parse(self, inbox: Inbox, request: WebhookRequest) -> ParsedEvent:
        data = _load(request.body)
        if data is None:
            return ParsedEvent(ignored="body is not a JSON object")
        kind = inbox.kind
        expected_object = WEBHOOK_OBJECT.get(kind)
        if data.get("object") != expected_object:
            return ParsedEvent(
                ignored=f"object {data.get('object')!r} is not for a {kind} inbox"
                f" (expected {expected_object!r})"
            )
        messages: list[InboundMessage] = []
        statuses: list[StatusUpdate] = []
        ignored: list[str] = []
        if kind == WHATSAPP:
            _parse_whatsapp(inbox, data, messages, statuses, ignored)
        else:
            _parse_messaging(inbox, data, messages, statuses, ignored)
        if messages or statuses:
            return ParsedEvent(messages=tuple(messages), statuses=tuple(statuses))
        return ParsedEvent(ignored="; ".join(ignored) or "no messages or statuses in the payload")

    # ---- outbound --------------------------------------------------------------------------

    def reachability(
        self,
        inbox: Inbox,
        customer: Customer,
        identity_value: str,
        now: datetime,
        *,
        channel: str = "",
    ) -> Reachability:
        last = _last_inbound_at(customer, inbox.kind)
        if last is not None and now - last <= WINDOW:
            return Reachability(True)
        return Reachability(False, WINDOW_CLOSED.get(inbox.kind, "24-hour window closed"))

    def send(self, inbox: Inbox, message: OutboundMessage) -> SendResult:
        kind = inbox.kind
        template = (message.extra or {}).get("template") or _stored_template(message)
        if template and message.attachments:
            raise PermanentSendError("A WhatsApp template cannot carry attachments.")
        if any(not a.url for a in message.attachments):
            # Meta fetches outbound media from a public link (connectors/media.py).
            raise PermanentSendError("Meta can only send attachments that have a public URL.")
        if kind == WHATSAPP:
            if not template:
                self._require_window(inbox, message, WINDOW)
            return self._send_whatsapp(inbox, message, template)
        if kind in (MESSENGER, INSTAGRAM):
            if template:
                raise PermanentSendError("Message templates exist only on WhatsApp.")
            tag = str(message.extra.get("message_tag") or "") if message.extra else ""
            self._require_window(
                inbox, message, HUMAN_AGENT_WINDOW if tag == "HUMAN_AGENT" else WINDOW
            )
            return self._send_messaging(inbox, message, tag)
        raise PermanentSendError(f"The Meta connector does not serve {kind!r} inboxes.")

    def fetch_attachment(self, inbox: Inbox, attachment: InboundAttachment) -> bytes:
        """WhatsApp media: GET /{version}/{media id} → a short-lived URL, fetched with the same
        bearer token. Messenger/Instagram attachments carry a signed CDN URL already."""
        token = str(inbox.credentials.get("access_token") or "")
        with self._client(inbox) as client:
            if attachment.provider_media_id:
                if not token:
                    raise PermanentSendError("No access token configured for this inbox.")
                headers = {"Authorization": f"Bearer {token}"}
                info = self._call(
                    client, "GET", self._url(inbox, attachment.provider_media_id), headers=headers
                )
                url = str(info.get("url") or "")
                if not url:
                    raise PermanentSendError("The Graph API returned no media URL.")
                return self._download(client, url, headers)
            if attachment.url:
                return self._download(client, attachment.url, {})
        raise PermanentSendError("The attachment has neither a media id nor a URL.")

    def list_templates(self, inbox: Inbox) -> list[dict[str, Any]]:
        """The WhatsApp Business Account's message templates (every status), following Graph's
        `paging.next` — only on the configured API host, where the token may go."""
        if inbox.kind != WHATSAPP:
            raise PermanentSendError("Message templates exist only on WhatsApp.")
        account = str(inbox.config.get("business_account_id") or "").strip()
        if not account:
            raise PermanentSendError(
                "No business_account_id (WhatsApp Business Account id) configured for this inbox."
            )
        token = str(inbox.credentials.get("access_token") or "")
        if not token:
            raise PermanentSendError("No access token configured for this inbox.")
        headers = {"Authorization": f"Bearer {token}"}
        base = self._url(inbox, "")
        url = self._url(inbox, f"{account}/message_templates") + "?" + TEMPLATE_QUERY
        found: list[dict[str, Any]] = []
        with self._client(inbox) as client:
            for _page in range(MAX_TEMPLATE_PAGES):
                data = self._call(client, "GET", url, headers=headers)
                found += _dicts(data.get("data"))
                following = str(_dict(data.get("paging")).get("next") or "")
                if not following or not following.startswith(base):
                    break
                url = following
        return found

    # ---- helpers ---------------------------------------------------------------------------

    def _require_window(self, inbox: Inbox, message: OutboundMessage, window: timedelta) -> None:
        customer = _customer_of(message, inbox.kind)
        last = _last_inbound_at(customer, inbox.kind) if customer is not None else None
        if last is None or timezone.now() - last > window:
            raise PermanentSendError(WINDOW_CLOSED[inbox.kind])

    def _send_whatsapp(self, inbox: Inbox, message: OutboundMessage, template: Any) -> SendResult:
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
            bodies = _whatsapp_bodies(message)
        ids: list[str] = []
        for body in bodies:
            try:
                data = self._post(inbox, f"{phone_number_id}/messages", {**payload, **body})
            except TransientSendError as exc:
                if ids:  # a retry would send the parts already delivered again
                    raise PermanentSendError(
                        f"Partly delivered ({len(ids)} part(s) sent), then: {exc}"
                    ) from exc
                raise
            sent = _dicts(data.get("messages"))
            provider_id = str(sent[0].get("id") or "") if sent else ""
            if not provider_id:
                if ids:
                    raise PermanentSendError("Partly delivered: the Graph API gave no message id.")
                raise TransientSendError("The Graph API answered without a message id.")
            ids.append(provider_id)
        # The first part carries the text (or the caption): its receipts update the message.
        return SendResult(provider_message_id=ids[0], status="sent")

    def _send_messaging(self, inbox: Inbox, message: OutboundMessage, tag: str) -> SendResult:
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
        ids: list[str] = []
        for part in parts:
            payload: dict[str, Any] = {
                "recipient": {"id": message.to},
                "messaging_type": "MESSAGE_TAG" if tag else "RESPONSE",
                "message": part,
            }
            if tag:
                payload["tag"] = tag
            try:
                data = self._post(inbox, f"{page_id}/messages", payload)
            except TransientSendError as exc:
                if ids:
                    raise PermanentSendError(
                        f"Partly delivered ({len(ids)} part(s) sent), then: {exc}"
                    ) from exc
                raise
            provider_id = str(data.get("message_id") or "")
            if not provider_id:
                if ids:
                    raise PermanentSendError("Partly delivered: the Graph API gave no message id.")
                raise TransientSendError("The Graph API answered without a message id.")
            ids.append(provider_id)
        return SendResult(provider_message_id=ids[0], status="sent")

    def _url(self, inbox: Inbox, path: str) -> str:
        base = str(inbox.config.get("api_base") or DEFAULT_API_BASE).rstrip("/")
        version = str(inbox.config.get("api_version") or DEFAULT_API_VERSION).strip("/")
        return f"{base}/{version}/{path.lstrip('/')}"

    def _client(self, inbox: Inbox) -> httpx.Client:
        try:
            seconds = float(inbox.config.get("timeout") or DEFAULT_TIMEOUT)
        except (TypeError, ValueError):
            seconds = DEFAULT_TIMEOUT
        # Never follow redirects with a bearer token attached; Graph does not redirect the API.
        return httpx.Client(timeout=httpx.Timeout(seconds), follow_redirects=False)

    def _post(self, inbox: Inbox, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        token = str(inbox.credentials.get("access_token") or "")
        if not token:
            raise PermanentSendError("No access token configured for this inbox.")
        with self._client(inbox) as client:
            return self._call(
                client,
                "POST",
                self._url(inbox, path),
                headers={"Authorization": f"Bearer {token}"},
                payload=payload,
            )

    def _call(
        self,
        client: httpx.Client,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        payload: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        try:
            response = client.request(method, url, headers=headers, json=payload)
        except httpx.TimeoutException as exc:
            raise TransientSendError(f"Graph API timed out: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise TransientSendError(f"Graph API unreachable: {type(exc).__name__}") from exc
        try:
            data = response.json()
        except ValueError:
            data = None
        body = data if isinstance(data, dict) else {}
        if response.is_success:
            return body
        raise _graph_error(response.status_code, body)

    def _download(self, client: httpx.Client, url: str, headers: dict[str, str]) -> bytes:
        if not url.lower().startswith(("https://", "http://")):
            raise PermanentSendError("Attachment URL is not http(s).")
        try:
            with client.stream("GET", url, headers=headers) as response:
                if response.status_code == 429 or response.status_code >= 500:
                    raise TransientSendError(f"Media download failed: HTTP {response.status_code}")
                if not response.is_success:
                    raise PermanentSendError(f"Media download failed: HTTP {response.status_code}")
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_MEDIA_BYTES:
                        raise PermanentSendError("Media is larger than 100 MB.")
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.TimeoutException as exc:
            raise TransientSendError(f"Media download timed out: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise TransientSendError(f"Media download failed: {type(exc).__name__}") from exc


def _graph_error(status: int, body: dict[str, Any]) -> Exception:
    """Graph errors look like {"error": {"message", "type", "code", "error_subcode",
    "error_data": {"details"}, "fbtrace_id"}}. 429/5xx and throttling codes are transient."""
    error = _dict(body.get("error"))
    code = error.get("code")
    message = str(error.get("message") or f"HTTP {status}")
    details = _dict(error.get("error_data")).get("details")
    if details and str(details) not in message:
        message = f"{message} ({details})"
    reason = f"{message} [code {code}]" if code is not None else message
    try:
        transient_code = int(str(code)) in TRANSIENT_ERROR_CODES
    except (TypeError, ValueError):
        transient_code = False
    if status == 429 or status >= 500 or transient_code:
        return TransientSendError(f"Graph API HTTP {status}: {reason}")
    return PermanentSendError(reason)


# ---- WhatsApp payloads ---------------------------------------------------------------------


def _whatsapp_values(data: dict[str, Any]) -> list[dict[str, Any]]:
    values = []
    for entry in _dicts(data.get("entry")):
        for change in _dicts(entry.get("changes")):
            value = _dict(change.get("value"))
            if value.get("messaging_product", "whatsapp") == "whatsapp":
                values.append(value)
    return values


def _whatsapp_ids(data: dict[str, Any]) -> list[str]:
    ids: list[str] = []
    for value in _whatsapp_values(data):
        ids += [str(m["id"]) for m in _dicts(value.get("messages")) if m.get("id")]
        ids += [
            f"{s['id']}:{s.get('status', '')}" for s in _dicts(value.get("statuses")) if s.get("id")
        ]
    return ids


def _parse_whatsapp(
    inbox: Inbox,
    data: dict[str, Any],
    messages: list[InboundMessage],
    statuses: list[StatusUpdate],
    ignored: list[str],
) -> None:
    own_number = str(inbox.config.get("phone_number_id") or "")
    for value in _whatsapp_values(data):
        number = str(_dict(value.get("metadata")).get("phone_number_id") or "")
        if own_number and number and number != own_number:
            # One Meta app can have several numbers: only this inbox's number belongs here.
            ignored.append(f"for phone number id {number}, not this inbox's")
            continue
        names = {
            str(c.get("wa_id")): str(_dict(c.get("profile")).get("name") or "")
            for c in _dicts(value.get("contacts"))
        }
        for raw in _dicts(value.get("messages")):
            parsed = _whatsapp_message(raw, names)
            if isinstance(parsed, str):
                ignored.append(parsed)
            else:
                messages.append(parsed)
        for raw in _dicts(value.get("statuses")):
            status = WHATSAPP_STATUSES.get(str(raw.get("status") or ""))
            if status is None or not raw.get("id"):
                ignored.append(f"status {raw.get('status')!r} not tracked")
                continue
            statuses.append(
                StatusUpdate(
                    provider_message_id=str(raw["id"]),
                    status=status,
                    error=_whatsapp_errors(raw.get("errors")) if status == "failed" else "",
                    at=_timestamp(raw.get("timestamp")),
                )
            )
        if value.get("errors") and not value.get("messages") and not value.get("statuses"):
            ignored.append("WhatsApp system error: " + _whatsapp_errors(value.get("errors")))


def _whatsapp_errors(errors: Any) -> str:
    parts = []
    for error in _dicts(errors):
        details = _dict(error.get("error_data")).get("details")
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
        text = str(_dict(raw.get("text")).get("body") or "")
    elif kind in WHATSAPP_MEDIA_TYPES:
        media = _dict(raw.get(kind))
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
                filename=str(media.get("filename") or _filename(kind, media_id, mime_type)),
                content_type=mime_type,
                provider_media_id=media_id,
            ),
        )
    elif kind == "location":
        location = _dict(raw.get("location"))
        content["location"] = {
            "lat": location.get("latitude"),
            "lng": location.get("longitude"),
            "name": str(location.get("name") or ""),
            "address": str(location.get("address") or ""),
        }
        text = _location_text(content["location"])
    elif kind == "interactive":
        interactive = _dict(raw.get("interactive"))
        reply = _dict(interactive.get(str(interactive.get("type") or "")))
        if not reply:
            return f"WhatsApp interactive {interactive.get('type')!r} not supported"
        content["interactive"] = interactive
        text = str(reply.get("title") or reply.get("id") or "")
    elif kind == "button":
        button = _dict(raw.get("button"))
        content["button"] = button
        text = str(button.get("text") or button.get("payload") or "")
    else:
        # reaction, contacts, order, system, unsupported, request_welcome…
        return f"WhatsApp message type {kind!r} not supported"
    context = _dict(raw.get("context"))
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
        sent_at=_timestamp(raw.get("timestamp")),
    )


def _location_text(location: dict[str, Any]) -> str:
    label = ", ".join(part for part in (location["name"], location["address"]) if part)
    where = f"{location['lat']}, {location['lng']}"
    return f"📍 {label} ({where})" if label else f"📍 {where}"


TEMPLATE_QUERY = "fields=id,name,language,status,category,parameter_format,components&limit=100"
MAX_TEMPLATE_PAGES = 50  # 5,000 templates: more than a business account may hold

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


def _whatsapp_bodies(message: OutboundMessage) -> list[dict[str, Any]]:
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


def _messaging_media_type(content_type: str) -> str:
    for kind in ("image", "video", "audio"):
        if content_type.startswith(f"{kind}/"):
            return kind
    return "file"


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


# ---- Messenger / Instagram payloads --------------------------------------------------------


def _messaging_events(data: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [
        (entry, event)
        for entry in _dicts(data.get("entry"))
        for event in _dicts(entry.get("messaging"))
    ]


def _messaging_ids(data: dict[str, Any]) -> list[str]:
    ids: list[str] = []
    for _entry, event in _messaging_events(data):
        message = _dict(event.get("message"))
        sender = str(_dict(event.get("sender")).get("id") or "")
        if message.get("mid"):
            ids.append(str(message["mid"]))
        elif _dict(event.get("postback")).get("mid"):
            ids.append(str(event["postback"]["mid"]))
        delivery = _dict(event.get("delivery"))
        if delivery:
            listed = delivery.get("mids")
            # Only the id of the stored event here; parse() refuses a mids of the wrong type.
            mids = [str(mid) for mid in listed if mid] if isinstance(listed, list) else []
            ids += [f"delivery:{mid}" for mid in mids] or [
                f"delivery:{sender}:{delivery.get('watermark')}"
            ]
        read = _dict(event.get("read"))
        if read:
            mid = read.get("mid")
            ids.append(f"read:{mid}" if mid else f"read:{sender}:{read.get('watermark')}")
    return ids


def _parse_messaging(
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
        sender = str(_dict(event.get("sender")).get("id") or "")
        at = _timestamp(event.get("timestamp"), millis=True)
        if "message" in event:
            parsed = _messaging_message(kind, sender, _dict(event.get("message")), at)
            if isinstance(parsed, str):
                ignored.append(parsed)
            else:
                messages.append(parsed)
        elif "postback" in event:
            postback = _dict(event.get("postback"))
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
            delivery = _dict(event.get("delivery"))
            listed = shape.array(delivery, "mids", f"{kind} delivery.mids")
            mids = [str(mid) for mid in listed or [] if mid]
            if not mids:
                mids = _sent_before(kind, sender, delivery.get("watermark"), ("sent",))
            statuses += [StatusUpdate(mid, "delivered", at=at) for mid in mids]
            if not mids:
                ignored.append("delivery receipt matched no sent message")
        elif "read" in event:
            read = _dict(event.get("read"))
            if read.get("mid"):
                mids = [str(read["mid"])]
            else:
                mids = _sent_before(kind, sender, read.get("watermark"), ("sent", "delivered"))
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
    for index, attachment in enumerate(_dicts(message.get("attachments"))):
        attachment_type = str(attachment.get("type") or "")
        payload = _dict(attachment.get("payload"))
        url = str(payload.get("url") or "")
        if attachment_type in MESSENGER_MEDIA_TYPES and url:
            guessed = mimetypes.guess_type(url.split("?")[0])[0] or "application/octet-stream"
            attachments.append(
                InboundAttachment(
                    filename=_filename(attachment_type, f"{mid[-12:]}-{index}", guessed),
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
    reply_to = _dict(message.get("reply_to"))
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


# ---- windows and watermarks ----------------------------------------------------------------


def _last_inbound_at(customer: Customer, channel: str) -> datetime | None:
    result = Message.objects.filter(
        conversation__customer=customer, channel=channel, direction=Direction.INBOUND
    ).aggregate(last=Max("created_at"))
    last: datetime | None = result["last"]
    return last


def _customer_of(message: OutboundMessage, channel: str) -> Customer | None:
    """The customer an outbound message goes to: through its stored message, else the identity."""
    stored = (
        Message.objects.select_related("conversation__customer")
        .filter(pk=message.message_id)
        .first()
    )
    if stored is not None:
        return stored.conversation.customer
    identity_kind = "phone" if channel == WHATSAPP else channel
    identity = Identity.objects.filter(kind=identity_kind, value=message.to).first()
    return Customer.objects.filter(pk=identity.customer_id).first() if identity else None


def _stored_template(message: OutboundMessage) -> Any:
    """A template chosen in the desk may live on the stored message (content["template"])
    rather than in the outbox's `extra`."""
    stored = Message.objects.filter(pk=message.message_id).values_list("content", flat=True)
    content = stored.first()
    return content.get("template") if isinstance(content, dict) else None


def _sent_before(kind: str, sender: str, watermark: Any, states: tuple[str, ...]) -> list[str]:
    """Messenger receipts without mids say "everything sent before `watermark` (ms)": our
    outbound messages on this channel to this customer, still in `states`, sent before it."""
    at = _timestamp(watermark, millis=True)
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
