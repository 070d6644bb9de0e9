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

This module is the connector: the webhook's handshake, signature and event id, which channel a
delivery or a reply is for, and the messaging windows. What each channel's payloads hold is in
`meta_whatsapp.py` and `meta_messenger.py`; the Graph calls they share in `meta_graph.py`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db.models import Max
from django.http import HttpResponse
from django.utils import timezone

from teamline.conversations.models import Direction, Message
from teamline.customers.models import Customer, Identity

from .base import (
    Connector,
    InboundAttachment,
    InboundMessage,
    MalformedPayload,
    OutboundMessage,
    ParsedEvent,
    PermanentSendError,
    Reachability,
    SendResult,
    StatusUpdate,
    WebhookRejected,
    WebhookRequest,
    register,
)
from .meta_graph import (
    INSTAGRAM,
    MESSENGER,
    WHATSAPP,
    download,
    graph_call,
    graph_client,
    graph_url,
    load_json,
)
from .meta_messenger import messaging_ids, parse_messaging, send_messaging
from .meta_whatsapp import list_whatsapp_templates, parse_whatsapp, send_whatsapp, whatsapp_ids

if TYPE_CHECKING:
    from teamline.conversations.models import Inbox

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

# Longest event id we emit verbatim (WebhookEvent.external_id is 255 characters).
MAX_EVENT_ID = 200


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
        data = load_json(request.body)
        ids: list[str] = []
        prefix = "mid:"
        if data is not None:
            if data.get("object") == WEBHOOK_OBJECT[WHATSAPP]:
                prefix = "wa:"
                ids = whatsapp_ids(data)
            else:
                ids = messaging_ids(data)
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
        data = load_json(request.body)
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
            parse_whatsapp(inbox, data, messages, statuses, ignored)
        else:
            parse_messaging(inbox, data, messages, statuses, ignored)
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
            return send_whatsapp(inbox, message, template)
        if kind in (MESSENGER, INSTAGRAM):
            if template:
                raise PermanentSendError("Message templates exist only on WhatsApp.")
            tag = str(message.extra.get("message_tag") or "") if message.extra else ""
            self._require_window(
                inbox, message, HUMAN_AGENT_WINDOW if tag == "HUMAN_AGENT" else WINDOW
            )
            return send_messaging(inbox, message, tag)
        raise PermanentSendError(f"The Meta connector does not serve {kind!r} inboxes.")

    def fetch_attachment(self, inbox: Inbox, attachment: InboundAttachment) -> bytes:
        """WhatsApp media: GET /{version}/{media id} → a short-lived URL, fetched with the same
        bearer token. Messenger/Instagram attachments carry a signed CDN URL already."""
        token = str(inbox.credentials.get("access_token") or "")
        with graph_client(inbox) as client:
            if attachment.provider_media_id:
                if not token:
                    raise PermanentSendError("No access token configured for this inbox.")
                headers = {"Authorization": f"Bearer {token}"}
                info = graph_call(
                    client, "GET", graph_url(inbox, attachment.provider_media_id), headers=headers
                )
                url = str(info.get("url") or "")
                if not url:
                    raise PermanentSendError("The Graph API returned no media URL.")
                return download(client, url, headers)
            if attachment.url:
                return download(client, attachment.url, {})
        raise PermanentSendError("The attachment has neither a media id nor a URL.")

    def list_templates(self, inbox: Inbox) -> list[dict[str, Any]]:
        """The WhatsApp Business Account's message templates (every status; meta_whatsapp)."""
        if inbox.kind != WHATSAPP:
            raise PermanentSendError("Message templates exist only on WhatsApp.")
        return list_whatsapp_templates(inbox)

    # ---- helpers ---------------------------------------------------------------------------

    def _require_window(self, inbox: Inbox, message: OutboundMessage, window: timedelta) -> None:
        customer = _customer_of(message, inbox.kind)
        last = _last_inbound_at(customer, inbox.kind) if customer is not None else None
        if last is None or timezone.now() - last > window:
            raise PermanentSendError(WINDOW_CLOSED[inbox.kind])


# ---- windows -------------------------------------------------------------------------------


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
