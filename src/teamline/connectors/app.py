"""In-app (API channel) connector: the operator's own mobile apps.

Inbound is not a provider webhook: the app's users write through the REST API under
/api/v1/app/ (connectors/app_api.py) as HMAC-verified users, and receive live on the widget's
socket (/ws/widget/) with the same session token. Outbound, for apps that prefer push, every
agent reply on channel "app" is POSTed to ``Inbox.config["webhook_url"]``, signed:

    X-Teamline-Timestamp: <unix seconds>
    X-Teamline-Signature: v1=<hex HMAC-SHA256(inbox secret, f"{timestamp}.{raw body}")>

Apps check it with `verify_outgoing_signature` (or its few lines in their own language; worked
example in docs/channels/app.md). Network errors, 5xx and 429 are transient (the outbox retries
with backoff), other 4xx permanent. Without a webhook URL the reply is simply "sent": the app
gets it through the socket or by polling the thread.

A one-time code for a customer step-up goes the same way, signed the same, but at once and
never through the outbox (connectors/direct.py): ``{"type": "verification.code", "user_id",
"code", "text", "expires_in", "sent_at"}``, for the app to show in a notification. It needs the
webhook URL: an in-app inbox without one cannot carry codes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING

import httpx
from django.utils import timezone

from teamline.conversations.models import Message
from teamline.conversations.presenters import present_message_to_customer

from .base import (
    Connector,
    OutboundMessage,
    ParsedEvent,
    PermanentSendError,
    SendResult,
    TransientSendError,
    WebhookRejected,
    WebhookRequest,
    register,
)

if TYPE_CHECKING:
    from teamline.conversations.models import Inbox

PROVIDER = "app"
CHANNEL = "app"
SIGNATURE_VERSION = "v1"
SIGNATURE_HEADER = "X-Teamline-Signature"
TIMESTAMP_HEADER = "X-Teamline-Timestamp"
DEFAULT_TOLERANCE = 300
HTTP_TIMEOUT = 10.0


def outgoing_signature(secret: str, timestamp: str | int, body: bytes | str) -> str:
    """The X-Teamline-Signature value: "v1=" + hex HMAC-SHA256(secret, f"{timestamp}.{body}")."""
    raw = body.encode() if isinstance(body, str) else body
    signed = str(timestamp).encode() + b"." + raw
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def verify_outgoing_signature(
    secret: str,
    timestamp: str | int,
    body: bytes | str,
    header: str,
    tolerance: int = DEFAULT_TOLERANCE,
    *,
    now: float | None = None,
) -> bool:
    """For app developers: is this webhook from Teamline, and recent?

    `body` is the raw request body as received (bytes, before any JSON parsing), `timestamp`
    the X-Teamline-Timestamp header, `header` the X-Teamline-Signature header. The header may
    carry several comma-separated signatures (e.g. while a secret is rotated); one valid v1
    signature suffices. Fails closed on an empty secret, a missing header or a timestamp more
    than `tolerance` seconds away from now.
    """
    if not secret or not header:
        return False
    try:
        sent_at = int(str(timestamp).strip())
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance:
        return False
    expected = outgoing_signature(secret, sent_at, body)
    candidates = [part.strip() for part in header.split(",")]
    return any(
        hmac.compare_digest(expected.encode(), candidate.encode())
        for candidate in candidates
        if candidate.startswith(f"{SIGNATURE_VERSION}=")
    )


def webhook_payload(message_id: int) -> dict[str, object]:
    """{type, message (the customer's presentation), delivered_at} for one stored message."""
    message = Message.objects.select_related("sender_user").filter(pk=message_id).first()
    if message is None or message.is_internal:
        # Internal notes never leave Teamline; a deleted message has nothing to deliver.
        raise PermanentSendError("nothing to deliver to the app for this message")
    return {
        "type": "message.created",
        "message": present_message_to_customer(message),
        "delivered_at": timezone.now().isoformat(),
    }


def direct_payload(message: OutboundMessage) -> dict[str, object]:
    """What the app's backend gets for a code sent at once (connectors/direct.py)."""
    return {
        "type": "verification.code",
        "id": message.extra.get("idempotency_key", ""),
        "user_id": message.to,
        "code": message.extra.get("code", ""),
        "text": message.text,
        "expires_in": message.extra.get("expires_in"),
        "sent_at": timezone.now().isoformat(),
    }


@register
class AppConnector(Connector):
    provider = PROVIDER
    inbox_kinds = ("app",)
    channel_for_kind = {"app": CHANNEL}

    def verify(self, inbox: Inbox, request: WebhookRequest) -> None:
        # Apps write through the authenticated REST API, never through /webhooks/.
        raise WebhookRejected("the in-app channel takes no webhooks; use /api/v1/app/", 404)

    def event_id(self, inbox: Inbox, request: WebhookRequest) -> str:  # pragma: no cover
        raise WebhookRejected("the in-app channel takes no webhooks", 404)

    def parse(self, inbox: Inbox, request: WebhookRequest) -> ParsedEvent:  # pragma: no cover
        return ParsedEvent(ignored="the in-app channel takes no webhooks")

    def send(self, inbox: Inbox, message: OutboundMessage) -> SendResult:
        """Push one reply to the app's backend, signed. The message id doubles as the
        provider id, and as the app's dedupe key when the outbox retries a delivery. A direct
        text (a step-up code) is pushed as `verification.code` and needs the webhook URL."""
        direct = bool(message.extra.get("direct"))
        provider_id = (
            str(message.extra.get("idempotency_key") or "")
            if direct
            else f"app-{message.message_id}"
        )
        url = str((inbox.config or {}).get("webhook_url") or "").strip()
        if not url:
            if direct:
                raise PermanentSendError("the in-app inbox has no webhook URL to push a code to")
            return SendResult(provider_message_id=provider_id, status="sent")
        if not inbox.secret:
            raise PermanentSendError("the inbox has no secret to sign webhooks with")
        payload = direct_payload(message) if direct else webhook_payload(message.message_id)
        body = json.dumps(payload, ensure_ascii=False).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Teamline-Webhooks/1",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: outgoing_signature(inbox.secret, timestamp, body),
        }
        try:
            with httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=False) as client:
                response = client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise TransientSendError(f"app webhook unreachable: {type(exc).__name__}") from exc
        status = response.status_code
        if 200 <= status < 300:
            return SendResult(provider_message_id=provider_id, status="sent")
        if status == 429 or status >= 500:
            raise TransientSendError(f"app webhook answered HTTP {status}")
        raise PermanentSendError(f"app webhook answered HTTP {status}")
