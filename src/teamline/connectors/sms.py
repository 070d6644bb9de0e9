"""SMS through a Twilio-compatible provider.

Inbound:  POST /webhooks/twilio/<inbox-id>/        incoming messages (form posts)
          POST /webhooks/twilio/<inbox-id>/status  status callbacks of our outbound messages
Outbound: POST {api_base}/2010-04-01/Accounts/{AccountSid}/Messages.json (basic auth)

Inbox credentials: {"account_sid", "auth_token"}. Inbox config: {"from_number": "+4712345678"}
or {"messaging_service_sid": "MG…"}, optional "api_base" (default https://api.twilio.com) and
"keyword_replies" ({"help": "…", "stop": "…", "start": "…"}: answered in the webhook's TwiML;
leave unset when Twilio's own Advanced Opt-Out already answers keywords, or customers get two).

Opt-outs follow the one rule in customers.sms_opt_out: `keyword_of` recognises STOP/START/HELP;
parse puts it on the message as content["keyword"], the webhook's answer may reply to it, and
the pipeline persists STOP/START in customer.attributes["sms_opt_out"]
(customers.actions.do_record_sms_keyword). This module only reads that list, to report
reachability and to refuse sending to an opted-out number.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import mimetypes
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from xml.sax.saxutils import escape

import httpx
from django.conf import settings
from django.db.models import Max
from django.http import HttpResponse

from teamline.conversations.models import Direction, Message
from teamline.core.errors import InvalidInput
from teamline.core.redaction import OTP_MASK, Kind
from teamline.customers import sms_opt_out
from teamline.customers.identities import normalize_identity
from teamline.customers.models import Identity, IdentityKind
from teamline.customers.sms_opt_out import keyword_of

from . import stepup
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
    TransientSendError,
    WebhookRejected,
    WebhookRequest,
    register,
)
from .media import MediaRules, download_media

if TYPE_CHECKING:
    from teamline.conversations.models import Inbox
    from teamline.customers.models import Customer

PROVIDER = "twilio"
CHANNEL = "sms"
# Why a delivery was not processed: it answered a customer step-up (connectors/stepup.py).
STEP_UP_ANSWERED = "a customer step-up code, checked on receipt and not stored"
WHATSAPP_CHANNEL = "whatsapp"  # WhatsApp through Twilio reaches the same webhook
WHATSAPP_WINDOW = timedelta(hours=24)  # WhatsApp's customer service window
DEFAULT_API_BASE = "https://api.twilio.com"
# Twilio refuses bodies over 1,600 characters (error 21617).
MAX_BODY_CHARS = 1600
# Provider media larger than this is not downloaded (Twilio MMS caps at 5 MB per message).
MAX_MEDIA_BYTES = 20 * 1024 * 1024
MEDIA_RULES = MediaRules(
    limit=MAX_MEDIA_BYTES,
    refused="media download: HTTP {status}",
    too_large="media is larger than the download limit",
    unreachable="media download failed: {error}",
)
TIMEOUT = httpx.Timeout(15.0, connect=5.0)

# ---------------------------------------------------------------------------------------------
# Segment counting (GSM 03.38)
# ---------------------------------------------------------------------------------------------

# The GSM 7-bit default alphabet, in code order 0x00-0x7F; 0x1B (ESC) introduces the extension
# table and is not a character of its own.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table characters: sent as ESC + char, so each costs two septets.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_MULTI = 160, 153  # septets; a concatenated part loses 7 to its UDH
UCS2_SINGLE, UCS2_MULTI = 70, 67  # UTF-16 code units


def _units(text: str) -> tuple[str, list[int]]:
    """The encoding a text needs and the cost of each character in that encoding's units."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        return "GSM-7", [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    # UCS-2 on the wire is UTF-16 in practice: characters outside the BMP (most emoji) take a
    # surrogate pair, i.e. two units.
    return "UCS-2", [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def sms_segments(text: str) -> tuple[str, int, int]:
    """(encoding "GSM-7" | "UCS-2", segments, chars) for an SMS body.

    `chars` counts what the limits count: septets for GSM-7 (an extension character such as
    € or [ is two) and UTF-16 code units for UCS-2 (an emoji is usually two). One segment holds
    160 / 70; a longer message is split into parts of 153 / 67, and a part never splits an
    escape sequence or a surrogate pair, so a part may hold one unit less.
    """
    encoding, units = _units(text)
    total = sum(units)
    if total == 0:
        return encoding, 0, 0
    single, multi = (GSM7_SINGLE, GSM7_MULTI) if encoding == "GSM-7" else (UCS2_SINGLE, UCS2_MULTI)
    if total <= single:
        return encoding, 1, total
    segments, used = 1, 0
    for cost in units:
        if used + cost > multi:
            segments += 1
            used = 0
        used += cost
    return encoding, segments, total


# ---------------------------------------------------------------------------------------------
# Keywords and opt-outs
# ---------------------------------------------------------------------------------------------


def is_opted_out(customer: Customer, number: str) -> bool:
    return sms_opt_out.is_opted_out(customer.attributes, number)


# ---------------------------------------------------------------------------------------------
# Signature (X-Twilio-Signature)
# ---------------------------------------------------------------------------------------------


def _with_and_without_port(url: str) -> list[str]:
    """The URL as called, plus the variant with the default port added or the port removed:
    Twilio's own validators accept either, since proxies and Twilio disagree about ports."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    try:
        port = parts.port
    except ValueError:
        return [url]
    if port is None:
        default = 443 if parts.scheme == "https" else 80
        other = urlunsplit(parts._replace(netloc=f"{prefix}{host}:{default}"))
    else:
        other = urlunsplit(parts._replace(netloc=f"{prefix}{host}"))
    return [url, other]


def twilio_signature(auth_token: str, url: str, params: list[tuple[str, str]]) -> str:
    """base64 HMAC-SHA1(auth token, URL + each POST parameter as name+value, sorted by name;
    a repeated name contributes one name+value per value, values sorted)."""
    data = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _signature_candidates(auth_token: str, request: WebhookRequest) -> list[str]:
    urls = _with_and_without_port(request.url)
    if request.param("bodySHA256"):
        # JSON body: the URL (which carries the body's SHA-256) is signed alone.
        return [twilio_signature(auth_token, url, []) for url in urls]
    params = _form(request)
    # The official SDKs de-duplicate identical repeated values; accept that form too.
    deduped = sorted(set(params))
    variants = [params] if deduped == sorted(params) else [params, deduped]
    return [twilio_signature(auth_token, url, p) for url in urls for p in variants]


def _form(request: WebhookRequest) -> list[tuple[str, str]]:
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WebhookRejected("form body is not UTF-8", status=403) from exc
    return parse_qsl(text, keep_blank_values=True)


def fields_of(request: WebhookRequest) -> dict[str, str]:
    """The form as a dict (first value per name)."""
    fields: dict[str, str] = {}
    for name, value in _form(request):
        fields.setdefault(name, value)
    return fields


def verify_twilio_request(
    inbox: Inbox,
    request: WebhookRequest,
    *,
    key_name: str = "auth_token",
    header: str = "X-Twilio-Signature",
) -> None:
    """Raise WebhookRejected (403) unless `request` carries a valid X-Twilio-Signature made with
    the inbox's auth token. Every Twilio webhook (SMS, WhatsApp, voice calls and their status
    callbacks) is signed this one way, so every Twilio inbox verifies with this function.
    Providers that sign the same way with another key and header (SignalWire: its signing key,
    X-SignalWire-Signature) name them."""
    auth_token = str(inbox.credentials.get(key_name) or "")
    if not auth_token:
        raise WebhookRejected(f"inbox has no {key_name} configured", status=403)
    signature = request.header(header).strip()
    if not signature:
        raise WebhookRejected(f"missing {header}", status=403)
    if request.method.upper() != "POST":
        raise WebhookRejected("Twilio webhooks must be POSTed", status=403)
    if body_hash := request.param("bodySHA256"):
        expected = hashlib.sha256(request.body).hexdigest()
        if not hmac.compare_digest(expected.encode(), body_hash.lower().encode()):
            raise WebhookRejected("body does not match bodySHA256", status=403)
    given = signature.encode()
    # Compare against every candidate (no early exit) so timing says nothing.
    matches = [
        hmac.compare_digest(candidate.encode(), given)
        for candidate in _signature_candidates(auth_token, request)
    ]
    if not any(matches):
        raise WebhookRejected(f"{header} mismatch", status=403)


def _is_status_callback(request: WebhookRequest, fields: dict[str, str]) -> bool:
    """A status callback: posted to …/status, or (when an admin pasted the base URL as a
    Messaging Service's delivery status callback) a post without a Body that reports a status.
    Incoming messages always carry Body, empty for a picture-only MMS."""
    if request.path_suffix.strip("/") == "status":
        return True
    return "Body" not in fields and bool(fields.get("MessageStatus") or fields.get("SmsStatus"))


# ---------------------------------------------------------------------------------------------
# Statuses and errors
# ---------------------------------------------------------------------------------------------

STATUS_MAP = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "queued",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
    "undelivered": "failed",
    "canceled": "failed",
}

# The common delivery errors, worded for the agent who sees them on the message.
ERROR_HINTS = {
    "21211": "invalid 'To' phone number",
    "21408": "sending to this region is not enabled on the account",
    "21610": "recipient opted out (STOP)",
    "21614": "'To' number is not a mobile number",
    "30003": "unreachable destination handset",
    "30004": "message blocked",
    "30005": "unknown destination handset",
    "30006": "landline or unreachable carrier",
    "30007": "message filtered by the carrier",
    "30008": "unknown error",
}


def _error_text(code: str, message: str = "") -> str:
    code = (code or "").strip()
    message = (message or "").strip() or ERROR_HINTS.get(code, "")
    if code and message:
        return f"{code}: {message}"
    return code or message


# ---------------------------------------------------------------------------------------------
# The connector
# ---------------------------------------------------------------------------------------------


# What Twilio puts in `From` (its incoming-message webhook): "+<E.164>" for SMS/MMS from a
# phone; "whatsapp:+<E.164>" for WhatsApp (with WaId, the sender's WhatsApp id: the same digits
# without "+", and ProfileName); "<channel>:<address>" for its other channels (messenger:, rcs:
# …); a short code ("26777") or an alphanumeric sender ID ("NORDLYS", up to 11 letters, digits,
# spaces, "-" or "_") for messages from services, which cannot be answered.
_ALPHANUMERIC_SENDER = re.compile(r"[A-Za-z0-9 _.&+-]{1,11}")
_SHORT_CODE = re.compile(r"\d{3,8}")


def _last_whatsapp_at(inbox: Inbox, customer: Customer) -> datetime | None:
    last: datetime | None = (
        Message.objects.filter(
            inbox=inbox,
            channel=WHATSAPP_CHANNEL,
            direction=Direction.INBOUND,
            conversation__customer=customer,
        )
        .aggregate(last=Max("created_at"))
        .get("last")
    )
    return last


def _sender(fields: dict[str, str]) -> tuple[str, str] | str:
    """(channel, E.164 phone) of an incoming message's sender, or the reason it is ignored
    (a sender that is no customer's phone). Raises MalformedPayload for a From that is none of
    Twilio's documented shapes."""
    sender = fields.get("From", "").strip()
    if not sender:
        raise MalformedPayload("From is missing")
    channel = CHANNEL
    prefix, colon, address = sender.partition(":")
    if colon:
        if prefix != "whatsapp":
            return f"'{prefix}' through Twilio is not handled by the SMS inbox (From {sender!r})"
        channel, sender = WHATSAPP_CHANNEL, address.strip()
    elif not sender.startswith("+") and _SHORT_CODE.fullmatch(sender):
        return f"message from the short code {sender!r}: a service, not a customer to answer"
    elif not sender.startswith("+") and re.search(r"[A-Za-z]", sender):
        if _ALPHANUMERIC_SENDER.fullmatch(sender):
            return (
                f"message from the alphanumeric sender ID {sender!r}: a one-way business "
                "sender, not a customer; it cannot be answered"
            )
        raise MalformedPayload(f"From {sender!r} is not a phone number nor a sender ID")
    try:
        phone = normalize_identity(IdentityKind.PHONE, sender)
    except InvalidInput as exc:
        raise MalformedPayload(f"From: {exc.message}") from exc
    wa_id = fields.get("WaId", "").strip()
    if channel == WHATSAPP_CHANNEL and wa_id and wa_id != phone.removeprefix("+"):
        raise MalformedPayload(f"WaId {wa_id!r} is not the sender's number {phone}")
    return channel, phone


def status_callback_url(inbox: Inbox) -> str:
    return f"{settings.PUBLIC_URL}/webhooks/{PROVIDER}/{inbox.public_id}/status"


def _api_base(inbox: Inbox) -> str:
    return str((inbox.config or {}).get("api_base") or DEFAULT_API_BASE).rstrip("/")


def _response_json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


@register
class TwilioSmsConnector(Connector):
    carries_media = True
    provider = PROVIDER
    inbox_kinds = ("sms",)
    channel_for_kind = {"sms": CHANNEL}
    # Twilio does not retry a messaging webhook answered 5xx (it logs error 11200/11217 and
    # does not support rate limiting): rather wait, within its 15 s request timeout.
    overload_wait_seconds = 10.0

    # -- inbound -------------------------------------------------------------------------------

    def verify(self, inbox: Inbox, request: WebhookRequest) -> None:
        verify_twilio_request(inbox, request)

    def event_id(self, inbox: Inbox, request: WebhookRequest) -> str:
        fields = fields_of(request)
        sid = fields.get("MessageSid") or fields.get("SmsMessageSid") or fields.get("SmsSid")
        if not sid:
            raise WebhookRejected("no MessageSid in the delivery", status=400)
        if _is_status_callback(request, fields):
            status = fields.get("MessageStatus") or fields.get("SmsStatus") or ""
            return f"{sid}:{status}"
        return sid

    def answered_in_request(self, inbox: Inbox, request: WebhookRequest) -> str:
        """An SMS that only holds a code answering a customer step-up is checked here, in the
        request (connectors/stepup.py), and never becomes a message: the code must not be
        stored, logged or sent to a webhook."""
        fields = fields_of(request)
        if _is_status_callback(request, fields) or fields.get("From", "").startswith("whatsapp:"):
            return ""
        if stepup.do_answer_sms_reply(fields.get("From", ""), fields.get("Body", "")):
            return STEP_UP_ANSWERED
        return ""

    def redact_raw(
        self, inbox: Inbox, body: bytes, headers: dict[str, str], found: list[str]
    ) -> bytes:
        """As every connector, and a step-up code replied by SMS masked whatever the inbox's
        redaction setting: the stored delivery keeps no code."""
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            pairs = []
        fields = dict(pairs)
        if stepup.sms_reply_step_up(fields.get("From", ""), fields.get("Body", "")) is not None:
            pairs = [(k, OTP_MASK if k == "Body" else v) for k, v in pairs]
            body = urlencode(pairs).encode()
            found.append(Kind.OTP)
        return super().redact_raw(inbox, body, headers, found)

    def acknowledge(self, inbox: Inbox, request: WebhookRequest) -> HttpResponse:
        """Empty TwiML, or a configured keyword reply (HELP text, STOP confirmation)."""
        reply = ""
        fields = fields_of(request)
        whatsapp = fields.get("From", "").startswith("whatsapp:")
        if not _is_status_callback(request, fields) and not whatsapp:
            keyword = keyword_of(fields.get("Body", ""))
            replies = (inbox.config or {}).get("keyword_replies") or {}
            if keyword and isinstance(replies, dict):
                reply = str(replies.get(keyword) or "")
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{escape(reply)}'
            "</Message></Response>"
            if reply
            else '<?xml version="1.0" encoding="UTF-8"?><Response/>'
        )
        return HttpResponse(body, content_type="text/xml; charset=utf-8")

    def parse(self, inbox: Inbox, request: WebhookRequest) -> ParsedEvent:
        if request.param("bodySHA256"):
            return ParsedEvent(ignored="Twilio JSON-body webhooks are not handled by the SMS inbox")
        fields = fields_of(request)
        sid = fields.get("MessageSid") or fields.get("SmsMessageSid") or fields.get("SmsSid") or ""
        if _is_status_callback(request, fields):
            return self._parse_status(sid, fields)
        return self._parse_message(sid, fields)

    def _parse_status(self, sid: str, fields: dict[str, str]) -> ParsedEvent:
        raw = (fields.get("MessageStatus") or fields.get("SmsStatus") or "").lower()
        status = STATUS_MAP.get(raw)
        if status is None:
            return ParsedEvent(ignored=f"Twilio status {raw or '(none)'!r} is not a delivery state")
        error = ""
        if status == "failed":
            detail = _error_text(fields.get("ErrorCode", ""), fields.get("ErrorMessage", ""))
            error = f"{raw}: {detail}" if detail else raw
        whatsapp = fields.get("To", "").startswith("whatsapp:")
        return ParsedEvent(
            statuses=(
                StatusUpdate(
                    provider_message_id=sid,
                    status=status,
                    error=error,
                    channel=WHATSAPP_CHANNEL if whatsapp else CHANNEL,
                ),
            )
        )

    def _parse_message(self, sid: str, fields: dict[str, str]) -> ParsedEvent:
        try:
            sender = _sender(fields)
        except MalformedPayload as exc:
            raise MalformedPayload(f"malformed Twilio payload: {exc.reason}") from exc
        if isinstance(sender, str):
            return ParsedEvent(ignored=sender)
        channel, sender_value = sender
        content: dict[str, Any] = {"to": fields.get("To", "")}
        if channel == WHATSAPP_CHANNEL:
            content["via"] = "whatsapp"
        for name, key in (
            ("MessagingServiceSid", "messaging_service_sid"),
            ("NumSegments", "segments"),
            ("FromCountry", "from_country"),
        ):
            if fields.get(name):
                content[key] = fields[name]
        text = fields.get("Body", "")
        # Carrier keywords are an SMS rule: "STOP" on WhatsApp is just a word.
        keyword = keyword_of(text) if channel == CHANNEL else None
        if keyword:
            content["keyword"] = keyword
        attachments = []
        try:
            num_media = max(0, min(int(fields.get("NumMedia") or 0), 10))
        except ValueError:
            num_media = 0
        for i in range(num_media):
            url = fields.get(f"MediaUrl{i}", "")
            if not url:
                continue
            content_type = fields.get(f"MediaContentType{i}", "") or "application/octet-stream"
            media_sid = url.rstrip("/").rsplit("/", 1)[-1]
            extension = mimetypes.guess_extension(content_type) or ""
            attachments.append(
                InboundAttachment(
                    filename=f"{media_sid}{extension}",
                    content_type=content_type,
                    url=url,
                    provider_media_id=media_sid,
                )
            )
        return ParsedEvent(
            messages=(
                InboundMessage(
                    external_id=sid,
                    channel=channel,
                    sender_kind="phone",
                    sender_value=sender_value,
                    sender_verified=True,
                    sender_name=fields.get("ProfileName", "") if channel != CHANNEL else "",
                    text=text,
                    content=content,
                    attachments=tuple(attachments),
                ),
            )
        )

    def fetch_attachment(self, inbox: Inbox, attachment: InboundAttachment) -> bytes:
        """Download MMS media. Credentials go only to the configured API host (Twilio then
        redirects to its media CDN; httpx drops the Authorization header across origins)."""
        base = urlsplit(_api_base(inbox))
        url = urlsplit(attachment.url)
        if (url.scheme, url.netloc) != (base.scheme, base.netloc):
            raise PermanentSendError("media URL is not on the provider's API host")
        auth = (
            str(inbox.credentials.get("account_sid") or ""),
            str(inbox.credentials.get("auth_token") or ""),
        )
        with httpx.Client(timeout=TIMEOUT, follow_redirects=True) as client:
            return download_media(client, attachment.url, MEDIA_RULES, auth=auth).data

    # -- outbound ------------------------------------------------------------------------------

    def reachability(
        self,
        inbox: Inbox,
        customer: Customer,
        identity_value: str,
        now: datetime,
        *,
        channel: str = "",
    ) -> Reachability:
        if channel == WHATSAPP_CHANNEL:
            # WhatsApp's rules, not the carrier's: free-form replies only within 24 hours of
            # the customer's last WhatsApp message on this number; an SMS STOP does not apply.
            last = _last_whatsapp_at(inbox, customer)
            if last is not None and now - last <= WHATSAPP_WINDOW:
                return Reachability(True)
            return Reachability(False, "WhatsApp 24-hour window closed")
        if is_opted_out(customer, identity_value):
            return Reachability(False, "opted out (STOP)")
        return Reachability(True)

    def _recipient_opted_out(self, number: str) -> bool:
        identity = (
            Identity.objects.select_related("customer")
            .filter(kind=IdentityKind.PHONE, value=number.strip())
            .first()
        )
        return identity is not None and is_opted_out(identity.customer, number)

    def send(self, inbox: Inbox, message: OutboundMessage) -> SendResult:
        credentials = inbox.credentials
        account_sid = str(credentials.get("account_sid") or "")
        auth_token = str(credentials.get("auth_token") or "")
        if not account_sid or not auth_token:
            raise PermanentSendError("SMS inbox is missing its Twilio account SID or auth token")
        config = inbox.config or {}
        to = message.to.strip()
        if not re.fullmatch(r"\+[1-9]\d{1,14}", to):
            raise PermanentSendError(f"not an E.164 phone number: {to!r}")
        # A reply to a customer who wrote on WhatsApp through this number goes back there.
        whatsapp = message.extra.get("channel") == WHATSAPP_CHANNEL
        if not whatsapp and self._recipient_opted_out(to):
            raise PermanentSendError("recipient opted out")
        if len(message.text) > MAX_BODY_CHARS:
            raise PermanentSendError(
                f"message too long for SMS: {len(message.text)} characters (max {MAX_BODY_CHARS})"
            )
        media_urls = [a.url for a in message.attachments if a.url]
        if len(media_urls) != len(message.attachments):
            raise PermanentSendError("SMS can only carry attachments that have a public URL")
        if not message.text and not media_urls:
            raise PermanentSendError("nothing to send: empty message")

        prefix = "whatsapp:" if whatsapp else ""
        form: list[tuple[str, str]] = [("To", f"{prefix}{to}")]
        if config.get("messaging_service_sid"):
            form.append(("MessagingServiceSid", str(config["messaging_service_sid"])))
        elif config.get("from_number"):
            form.append(("From", f"{prefix}{config['from_number']}"))
        else:
            raise PermanentSendError("SMS inbox has neither a from_number nor a messaging service")
        if message.text:
            form.append(("Body", message.text))
        form.extend(("MediaUrl", url) for url in media_urls)
        form.append(("StatusCallback", status_callback_url(inbox)))

        url = f"{_api_base(inbox)}/2010-04-01/Accounts/{account_sid}/Messages.json"
        try:
            with httpx.Client(timeout=TIMEOUT) as client:
                response = client.post(url, data=_group(form), auth=(account_sid, auth_token))
        except httpx.TimeoutException as exc:
            raise TransientSendError("Twilio did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise TransientSendError(f"Twilio unreachable: {type(exc).__name__}") from exc

        data = _response_json(response)
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientSendError(
                f"Twilio HTTP {response.status_code}: {data.get('message') or 'try again later'}"
            )
        if response.status_code >= 400:
            code = str(data.get("code") or "")
            if code == "21610":
                raise PermanentSendError("recipient opted out (STOP) — refused by Twilio (21610)")
            reason = _error_text(code, str(data.get("message") or "")) or "request refused"
            raise PermanentSendError(f"Twilio HTTP {response.status_code}: {reason}")
        sid = str(data.get("sid") or "")
        if not sid:
            # The provider may have accepted it: retrying could text the customer twice.
            raise PermanentSendError("Twilio answered without a message SID")
        status = STATUS_MAP.get(str(data.get("status") or "queued").lower(), "queued")
        segments: int | None
        try:
            segments = int(data["num_segments"])
        except (KeyError, TypeError, ValueError):
            segments = sms_segments(message.text)[1] or None
        return SendResult(provider_message_id=sid, status=status, segments=segments)


def _group(pairs: list[tuple[str, str]]) -> dict[str, str | list[str]]:
    """Form fields for httpx: a repeated name (MediaUrl) becomes a list."""
    grouped: dict[str, str | list[str]] = {}
    for name, value in pairs:
        if name in grouped:
            existing = grouped[name]
            grouped[name] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            grouped[name] = value
    return grouped
