"""WeChat Official Account connector: plain and safe (AES) modes, echostr handshake, answers
through the customer-service message API.

Inbox kind "wechat". Credentials (encrypted): ``token`` (the Token typed into the Official
Account console), ``encoding_aes_key`` (43 characters; set = safe mode, required then) and
``app_secret``. Config: ``app_id`` and ``api_base`` (default https://api.weixin.qq.com; tests point
it at a loopback fake).

Inbound (docs/channels/wechat.md):

- plain mode: ``signature`` = hex SHA-1 of the sorted [token, timestamp, nonce], concatenated.
  That signature does not cover the body, so the timestamp window and the remembered nonces are
  what stop somebody who saw one genuine URL from posting another body with it.
- safe mode: ``msg_signature`` = hex SHA-1 of the sorted [token, timestamp, nonce, Encrypt];
  Encrypt = base64(AES-256-CBC(key = base64-decode(EncodingAESKey + "="), IV = key[:16])) of
  16 random bytes + 4-byte big-endian length + XML + AppID, PKCS#7-padded to 32-byte blocks.
  A message for another AppID is refused.
- both: |now - timestamp| <= 300 s, and a nonce is accepted with one body per window (Django's
  cache): WeChat's retry of the same delivery passes (and is deduplicated by MsgId), another
  body under a seen nonce does not.

WeChat waits 5 seconds for an answer and retries otherwise, so the webhook answers "success"
right after storing the raw event; the processing task parses it, and agents' replies go out
through the customer-service message API (``message/custom/send``), which WeChat accepts only
within 48 hours of the customer's last message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import struct
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

import httpx
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.core.cache import cache
from django.http import HttpResponse

from teamline.conversations.queries import customer_thread

from . import payloads as shape
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
    TransientSendError,
    WebhookRejected,
    WebhookRequest,
    register,
)
from .media import MediaRules, download_media
from .raw_redaction import redact_xml

if TYPE_CHECKING:
    from teamline.conversations.models import Inbox
    from teamline.customers.models import Customer

logger = logging.getLogger(__name__)

PROVIDER = "wechat"
CHANNEL = "wechat"
DEFAULT_API_BASE = "https://api.weixin.qq.com"
# How far a signed timestamp may be from our clock, either way.
TIMESTAMP_TOLERANCE = 300
# A nonce must be remembered for as long as a request carrying it could still pass the
# timestamp check: up to 2 x tolerance after the first time we saw it.
NONCE_TTL = 2 * TIMESTAMP_TOLERANCE
# WeChat accepts customer-service messages only this long after the customer last wrote.
SERVICE_WINDOW = timedelta(hours=48)
# Official Accounts began in August 2012: no message is older.
WECHAT_EPOCH = datetime(2012, 8, 1, tzinfo=UTC)
# Refresh the access token this long before WeChat says it expires.
TOKEN_EARLY_REFRESH = 300
HTTP_TIMEOUT = 10.0
MAX_BODY_BYTES = 256 * 1024
AES_BLOCK = 32  # WeChat pads to 32 bytes, not AES's 16

# errcodes of the customer-service message API
ERR_SYSTEM_BUSY = -1
ERRS_TOKEN_INVALID = (40001, 40014, 42001)  # invalid credential, invalid token, token expired
ERR_WINDOW_CLOSED = 45015
ERR_API_LIMIT = 45009
ERR_UNFOLLOWED = 43004
ERR_TOO_MANY_UNANSWERED = 45047

WINDOW_CLOSED_REASON = "WeChat 48-hour window closed"


class WeChatCryptoError(ValueError):
    """Encrypt could not be decrypted into a message for this AppID."""


# --- Signatures and AES (pure functions, tested against Tencent's sample vectors) ------------


def sha1_signature(*parts: str) -> str:
    """hex SHA-1 of the lexicographically sorted parts, concatenated (both modes' scheme)."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 - WeChat's scheme


def aes_key(encoding_aes_key: str) -> bytes:
    if len(encoding_aes_key) != 43:
        raise WeChatCryptoError("EncodingAESKey must be 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WeChatCryptoError("EncodingAESKey is not base64") from exc
    if len(key) != 32:
        raise WeChatCryptoError("EncodingAESKey does not decode to 32 bytes")
    return key


def encrypt_message(
    encoding_aes_key: str, app_id: str, xml: bytes, *, random16: bytes | None = None
) -> str:
    """What WeChat does to a message in safe mode (used for replies and by the tests)."""
    key = aes_key(encoding_aes_key)
    random16 = os.urandom(16) if random16 is None else random16
    plain = random16 + struct.pack(">I", len(xml)) + xml + app_id.encode()
    pad = AES_BLOCK - len(plain) % AES_BLOCK
    plain += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def decrypt_message(encoding_aes_key: str, app_id: str, encrypted: str) -> bytes:
    """The XML inside a safe-mode Encrypt. Raises WeChatCryptoError on anything malformed and
    when the message was encrypted for another AppID."""
    key = aes_key(encoding_aes_key)
    try:
        cipher = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WeChatCryptoError("Encrypt is not base64") from exc
    if not cipher or len(cipher) % 16:
        raise WeChatCryptoError("Encrypt is not a whole number of AES blocks")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(cipher) + decryptor.finalize()
    pad = plain[-1]
    if not 1 <= pad <= AES_BLOCK or plain[-pad:] != bytes([pad]) * pad:
        raise WeChatCryptoError("bad padding")
    content = plain[16:-pad]
    if len(content) < 4:
        raise WeChatCryptoError("too short")
    (length,) = struct.unpack(">I", content[:4])
    xml, from_app_id = content[4 : 4 + length], content[4 + length :]
    if len(xml) != length:
        raise WeChatCryptoError("bad length")
    if not app_id or not hmac.compare_digest(from_app_id, app_id.encode()):
        raise WeChatCryptoError("the message is for another AppID")
    return xml


# --- XML ------------------------------------------------------------------------------------


def parse_xml(raw: bytes) -> dict[str, str]:
    """A WeChat message: a flat <xml> of text children (CDATA or not), as a dict.

    WeChat never sends a DTD, so any DOCTYPE/ENTITY is refused outright: no entity expansion
    ("billion laughs") and no external entities, whatever the parser would do with them.
    """
    if len(raw) > MAX_BODY_BYTES:
        raise ValueError("message too large")
    lowered = raw.lower()
    if b"<!doctype" in lowered or b"<!entity" in lowered:
        raise ValueError("DTDs and entities are not allowed")
    # Safe after the check above: no DTD means no entity can be declared or expanded.
    root = ElementTree.fromstring(raw)  # noqa: S314
    if root.tag != "xml":
        raise ValueError("not a WeChat message")
    return {child.tag: (child.text or "").strip() for child in root}


# --- The connector --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Settings:
    token: str
    encoding_aes_key: str
    app_secret: str
    app_id: str
    api_base: str

    @property
    def safe_mode(self) -> bool:
        return bool(self.encoding_aes_key)


def _settings(inbox: Inbox) -> _Settings:
    credentials = inbox.credentials or {}
    config = inbox.config or {}
    return _Settings(
        token=str(credentials.get("token") or ""),
        encoding_aes_key=str(credentials.get("encoding_aes_key") or ""),
        app_secret=str(credentials.get("app_secret") or ""),
        app_id=str(config.get("app_id") or ""),
        api_base=str(config.get("api_base") or DEFAULT_API_BASE).rstrip("/"),
    )


def _now() -> float:
    return time.time()


def _check_timestamp(request: WebhookRequest) -> str:
    timestamp = request.param("timestamp")
    try:
        value = int(timestamp)
    except ValueError as exc:
        raise WebhookRejected("missing or invalid timestamp") from exc
    if abs(_now() - value) > TIMESTAMP_TOLERANCE:
        raise WebhookRejected("stale timestamp")
    return timestamp


def _nonce(request: WebhookRequest) -> str:
    nonce = request.param("nonce")
    if not nonce or len(nonce) > 64:
        raise WebhookRejected("missing nonce")
    return nonce


def _remember_nonce(inbox: Inbox, nonce: str, body: bytes) -> None:
    """Accept each nonce once per window with one body. Called only after the signature
    checked out, so a forger cannot burn the nonces of genuine deliveries.

    The same nonce with the same body again is WeChat retrying a delivery whose answer it did
    not get (we were slow, or could not store it): accepted, and the event's unique key (MsgId)
    absorbs it if it was stored. Refusing it would lose a message we never stored. The same
    nonce with another body is what a replay of a seen plain-mode URL looks like: refused."""
    key = f"wechat-nonce:{inbox.pk}:{hashlib.sha256(nonce.encode()).hexdigest()}"
    digest = hashlib.sha256(body).hexdigest()
    if cache.add(key, digest, timeout=NONCE_TTL):
        return
    if not hmac.compare_digest(str(cache.get(key) or ""), digest):
        raise WebhookRejected("replayed nonce with another body")


def _envelope_encrypt(body: bytes) -> str:
    try:
        envelope = parse_xml(body)
    except (ValueError, ElementTree.ParseError) as exc:
        raise WebhookRejected("the body is not a WeChat message") from exc
    encrypted = envelope.get("Encrypt", "")
    if not encrypted:
        raise WebhookRejected("safe mode: the body has no Encrypt")
    return encrypted


@register
class WeChatConnector(Connector):
    provider = PROVIDER
    inbox_kinds = ("wechat",)
    channel_for_kind = {"wechat": CHANNEL}

    # --- inbound ----------------------------------------------------------------------------

    def handshake(self, inbox: Inbox, request: WebhookRequest) -> HttpResponse | None:
        """The console's "verify URL" GET: echo echostr verbatim iff the signature matches.
        (In safe mode too, WeChat signs the set-up GET with the plain `signature`.)"""
        if request.method != "GET":
            return None
        settings = _settings(inbox)
        echostr = request.param("echostr")
        signature = request.param("signature")
        timestamp, nonce = request.param("timestamp"), request.param("nonce")
        if not (settings.token and echostr and signature and timestamp and nonce):
            return HttpResponse("forbidden", status=403, content_type="text/plain")
        expected = sha1_signature(settings.token, timestamp, nonce)
        if not hmac.compare_digest(expected, signature.lower()):
            return HttpResponse("forbidden", status=403, content_type="text/plain")
        return HttpResponse(echostr, content_type="text/plain; charset=utf-8")

    def verify(self, inbox: Inbox, request: WebhookRequest) -> None:
        settings = _settings(inbox)
        if not settings.token:
            raise WebhookRejected("no token configured", status=403)
        if request.method != "POST":
            raise WebhookRejected("WeChat delivers messages with POST", status=405)
        if len(request.body) > MAX_BODY_BYTES:
            raise WebhookRejected("body too large", status=413)
        timestamp = _check_timestamp(request)
        nonce = _nonce(request)
        if settings.safe_mode:
            if not settings.app_id:
                raise WebhookRejected("safe mode needs the AppID configured", status=403)
            signature = request.param("msg_signature")
            if not signature:
                raise WebhookRejected("missing msg_signature")
            encrypted = _envelope_encrypt(request.body)
            expected = sha1_signature(settings.token, timestamp, nonce, encrypted)
            if not hmac.compare_digest(expected, signature.lower()):
                raise WebhookRejected("bad msg_signature")
            try:
                parse_xml(decrypt_message(settings.encoding_aes_key, settings.app_id, encrypted))
            except (ValueError, ElementTree.ParseError) as exc:  # WeChatCryptoError too
                raise WebhookRejected(f"undecryptable message: {exc}") from exc
        else:
            signature = request.param("signature")
            if not signature:
                raise WebhookRejected("missing signature")
            expected = sha1_signature(settings.token, timestamp, nonce)
            if not hmac.compare_digest(expected, signature.lower()):
                raise WebhookRejected("bad signature")
            try:
                parse_xml(request.body)
            except (ValueError, ElementTree.ParseError) as exc:
                raise WebhookRejected("the body is not a WeChat message") from exc
        _remember_nonce(inbox, nonce, request.body)

    def message_fields(self, inbox: Inbox, request: WebhookRequest) -> dict[str, str]:
        """The (decrypted) message of a verified request."""
        settings = _settings(inbox)
        if settings.safe_mode:
            encrypted = _envelope_encrypt(request.body)
            xml = decrypt_message(settings.encoding_aes_key, settings.app_id, encrypted)
            return parse_xml(xml)
        return parse_xml(request.body)

    def event_id(self, inbox: Inbox, request: WebhookRequest) -> str:
        """MsgId for messages; FromUserName + CreateTime for events (WeChat's own advice)."""
        fields = self.message_fields(inbox, request)
        if fields.get("MsgId"):
            return fields["MsgId"]
        return f"{fields.get('FromUserName', '')}:{fields.get('CreateTime', '')}"

    def acknowledge(self, inbox: Inbox, request: WebhookRequest) -> HttpResponse:
        # "success" (or an empty body) tells WeChat not to retry and not to show the customer
        # "this Official Account cannot serve you right now"; the answer comes later through
        # the customer-service message API.
        return HttpResponse("success", content_type="text/plain; charset=utf-8")

    # WeChat delivers again only when it gets no answer within 5 s (3 tries in all); any
    # answer, an error included, ends its tries and shows the customer "this Official Account
    # cannot serve you right now".
    silence_seconds = 5.5
    # No room to store it (connectors/admission.py): wait for room as long as WeChat waits; if
    # none frees up, the 503 comes after WeChat gave up on this try, so it tries again.
    overload_wait_seconds = silence_seconds

    def unavailable(self, started: float) -> HttpResponse:
        """Say nothing until WeChat has given up on this try, so that it tries again."""
        time.sleep(max(0.0, self.silence_seconds - (time.monotonic() - started)))
        return super().unavailable(started)

    def parse(self, inbox: Inbox, request: WebhookRequest) -> ParsedEvent:
        fields = self.message_fields(inbox, request)
        return parse_fields(fields)

    def redact_raw(
        self, inbox: Inbox, body: bytes, headers: dict[str, str], found: list[str]
    ) -> bytes:
        """Safe mode: the message is masked inside Encrypt and encrypted again with the inbox's
        key (parse decrypts it as WeChat's own; msg_signature was checked on the original)."""
        settings = _settings(inbox)
        kinds = inbox.redaction_kinds
        if not settings.safe_mode or not kinds:
            return super().redact_raw(inbox, body, headers, found)
        encrypted = _envelope_encrypt(body)
        xml = decrypt_message(settings.encoding_aes_key, settings.app_id, encrypted)
        masked = redact_xml(xml.decode("utf-8"), kinds, found)
        if masked is None:
            return body
        again = encrypt_message(settings.encoding_aes_key, settings.app_id, masked.encode())
        return body.replace(encrypted.encode(), again.encode(), 1)

    # --- outbound ---------------------------------------------------------------------------

    def send(self, inbox: Inbox, message: OutboundMessage) -> SendResult:
        """One text through message/custom/send. WeChat returns no message id, so the result
        carries a generated one (``wx-`` + 32 hex digits) for our records."""
        settings = _settings(inbox)
        if not settings.app_id or not settings.app_secret:
            raise PermanentSendError("WeChat inbox has no AppID / AppSecret configured")
        if not message.to:
            raise PermanentSendError("no WeChat OpenID to send to")
        body = json.dumps(
            {"touser": message.to, "msgtype": "text", "text": {"content": message.text}},
            ensure_ascii=False,
        ).encode("utf-8")
        with httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=False) as client:
            for attempt in (1, 2):
                token = _access_token(client, inbox, settings, refresh=attempt > 1)
                result = _post_json(
                    client,
                    f"{settings.api_base}/cgi-bin/message/custom/send",
                    params={"access_token": token},
                    body=body,
                )
                code = _errcode(result)
                if code == 0:
                    return SendResult(provider_message_id=f"wx-{uuid.uuid4().hex}")
                if code in ERRS_TOKEN_INVALID and attempt == 1:
                    # Another node refreshed it, or WeChat revoked it early: once more, fresh.
                    cache.delete(_token_cache_key(inbox, settings))
                    continue
                raise _send_error(code, str(result.get("errmsg") or ""))
        raise TransientSendError("WeChat kept rejecting fresh access tokens")  # pragma: no cover

    def fetch_attachment(self, inbox: Inbox, attachment: InboundAttachment) -> bytes:
        """An image's PicUrl directly; other media through media/get with the access token
        (WeChat keeps temporary media for 3 days)."""
        settings = _settings(inbox)
        with httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=True) as client:
            if attachment.url:
                return _download(client, attachment.url, {})
            if not attachment.provider_media_id:
                raise PermanentSendError("The attachment has neither a media id nor a URL.")
            if not settings.app_id or not settings.app_secret:
                raise PermanentSendError("WeChat inbox has no AppID / AppSecret configured")
            token = _access_token(client, inbox, settings)
            return _download(
                client,
                f"{settings.api_base}/cgi-bin/media/get",
                {"access_token": token, "media_id": attachment.provider_media_id},
            )

    def reachability(
        self,
        inbox: Inbox,
        customer: Customer,
        identity_value: str,
        now: datetime,
        *,
        channel: str = "",
    ) -> Reachability:
        """WeChat takes customer-service messages only within 48 hours of the customer's last
        message on WeChat."""
        last = (
            customer_thread(customer.pk)
            .filter(channel=CHANNEL, direction="in")
            .order_by("-created_at")
            .values_list("created_at", flat=True)
            .first()
        )
        if last is None or now - last > SERVICE_WINDOW:
            return Reachability(False, f"{WINDOW_CLOSED_REASON}: the customer has not written")
        return Reachability(True)


# --- Parsing --------------------------------------------------------------------------------


def parse_fields(fields: dict[str, str]) -> ParsedEvent:
    msg_type = fields.get("MsgType", "")
    sender = fields.get("FromUserName", "")
    if not sender:
        return ParsedEvent(ignored="WeChat message without FromUserName")
    if msg_type == "event":
        event = fields.get("Event", "")
        key = fields.get("EventKey", "")
        return ParsedEvent(ignored=f"WeChat event {event}" + (f" ({key})" if key else ""))
    sent_at = None
    created = fields.get("CreateTime", "")
    if created.isascii() and created.isdigit():
        try:
            sent_at = shape.unix_time(
                {"CreateTime": int(created)}, "CreateTime", "CreateTime", earliest=WECHAT_EPOCH
            )
        except MalformedPayload as exc:
            raise MalformedPayload(f"malformed WeChat payload: {exc.reason}") from exc
    content: dict[str, Any] = {"type": msg_type, "to": fields.get("ToUserName", "")}
    attachments: tuple[InboundAttachment, ...] = ()
    if msg_type == "text":
        text = fields.get("Content", "")
    elif msg_type == "image":
        text = ""  # the picture is the message (an attachment, fetched by the task)
        content.update(pic_url=fields.get("PicUrl", ""), media_id=fields.get("MediaId", ""))
        attachments = (
            InboundAttachment(
                filename="image.jpg",
                content_type="image/jpeg",
                url=fields.get("PicUrl", ""),
                provider_media_id=fields.get("MediaId", ""),
            ),
        )
    elif msg_type == "voice":
        # With speech recognition switched on, WeChat adds the transcript.
        text = fields.get("Recognition", "")
        content.update(media_id=fields.get("MediaId", ""), format=fields.get("Format", ""))
        attachments = (
            InboundAttachment(
                filename=f"voice.{(fields.get('Format') or 'amr').lower()}",
                content_type="audio/amr",
                provider_media_id=fields.get("MediaId", ""),
            ),
        )
    elif msg_type in ("video", "shortvideo"):
        text = ""
        content.update(
            media_id=fields.get("MediaId", ""), thumb_media_id=fields.get("ThumbMediaId", "")
        )
        attachments = (
            InboundAttachment(
                filename="video.mp4",
                content_type="video/mp4",
                provider_media_id=fields.get("MediaId", ""),
            ),
        )
    elif msg_type == "location":
        label = fields.get("Label", "")
        latitude, longitude = fields.get("Location_X", ""), fields.get("Location_Y", "")
        content.update(
            latitude=latitude, longitude=longitude, scale=fields.get("Scale", ""), label=label
        )
        text = (
            f"[Location] {label} ({latitude}, {longitude})"
            if label
            else (f"[Location] {latitude}, {longitude}")
        )
    elif msg_type == "link":
        title, url = fields.get("Title", ""), fields.get("Url", "")
        content.update(title=title, description=fields.get("Description", ""), url=url)
        text = f"{title}\n{url}".strip()
    else:
        return ParsedEvent(ignored=f"WeChat message type {msg_type or '(none)'} not supported")
    if not text.strip() and not attachments:
        return ParsedEvent(ignored=f"empty WeChat {msg_type} message")
    return ParsedEvent(
        messages=(
            InboundMessage(
                external_id=fields.get("MsgId") or f"{sender}:{fields.get('CreateTime', '')}",
                channel=CHANNEL,
                sender_kind="wechat",
                sender_value=sender,
                sender_verified=True,  # WeChat signs the delivery and names the OpenID
                text=text,
                content=content,
                attachments=attachments,
                sent_at=sent_at,
            ),
        )
    )


# --- Access token and API calls -------------------------------------------------------------


def _token_cache_key(inbox: Inbox, settings: _Settings) -> str:
    # Keyed by AppID too, so changing the inbox's credentials never reuses the old token.
    return f"wechat-token:{inbox.pk}:{settings.app_id}"


def _access_token(
    client: httpx.Client, inbox: Inbox, settings: _Settings, *, refresh: bool = False
) -> str:
    """The inbox's access token, from the cache until 5 minutes before it expires.

    Note: WeChat invalidates the previous token when a new one is fetched (after a short grace
    period), so every node must share the cache (Redis at scale) instead of fetching its own.
    """
    key = _token_cache_key(inbox, settings)
    if not refresh:
        cached = cache.get(key)
        if cached:
            return str(cached)
    try:
        response = client.get(
            f"{settings.api_base}/cgi-bin/token",
            params={
                "grant_type": "client_credential",
                "appid": settings.app_id,
                "secret": settings.app_secret,
            },
        )
    except httpx.HTTPError as exc:
        raise TransientSendError(
            f"WeChat token endpoint unreachable: {type(exc).__name__}"
        ) from exc
    result = _json_of(response)
    token = result.get("access_token")
    if not isinstance(token, str) or not token:
        code = _errcode(result)
        if code == ERR_SYSTEM_BUSY or response.status_code >= 500:
            raise TransientSendError(f"WeChat token endpoint busy ({code})")
        # 40013 invalid AppID, 40125 invalid secret, 40164 server IP not allow-listed…
        raise PermanentSendError(
            f"WeChat refused the access token request: {code} {result.get('errmsg', '')}".strip()
        )
    try:
        expires_in = int(result.get("expires_in") or 7200)
    except (TypeError, ValueError):
        expires_in = 7200
    cache.set(key, token, timeout=max(expires_in - TOKEN_EARLY_REFRESH, 60))
    return token


def _media_rules() -> MediaRules:
    """WeChat's media is capped at the attachment limit, read at each download."""
    from django.conf import settings as django_settings

    return MediaRules(
        limit=int(django_settings.TEAMLINE.get("ATTACHMENT_MAX_BYTES", 25 * 1024 * 1024)),
        refused="WeChat media answered HTTP {status}",
        too_large="The attachment is larger than the limit.",
        unreachable="WeChat media unreachable: {error}",
    )


def _download(client: httpx.Client, url: str, params: dict[str, str]) -> bytes:
    """Media bytes, capped at the attachment limit (connectors/media.py). WeChat answers an
    error with a 200 whose body is JSON, which is never the media."""
    media = download_media(client, url, _media_rules(), params=params)
    data = media.data
    if media.content_type.startswith(("application/json", "text/plain")) and data.startswith(b"{"):
        try:
            result = json.loads(data)
        except ValueError:
            return data
        if isinstance(result, dict) and "errcode" in result:
            code = _errcode(result)
            if code == ERR_SYSTEM_BUSY:
                raise TransientSendError(f"WeChat media busy ({code})")
            raise PermanentSendError(f"WeChat media error {code}: {result.get('errmsg', '')}")
    return data


def _post_json(
    client: httpx.Client, url: str, *, params: dict[str, str], body: bytes
) -> dict[str, Any]:
    try:
        response = client.post(
            url,
            params=params,
            content=body,
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
    except httpx.HTTPError as exc:
        raise TransientSendError(f"WeChat API unreachable: {type(exc).__name__}") from exc
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientSendError(f"WeChat API answered HTTP {response.status_code}")
    if response.status_code >= 400:
        raise PermanentSendError(f"WeChat API answered HTTP {response.status_code}")
    return _json_of(response)


def _json_of(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        if response.status_code >= 500:
            raise TransientSendError(f"WeChat API answered HTTP {response.status_code}") from None
        raise PermanentSendError("WeChat API answered something that is not JSON") from None
    return data if isinstance(data, dict) else {}


def _errcode(result: dict[str, Any]) -> int:
    try:
        return int(result.get("errcode") or 0)
    except (TypeError, ValueError):
        return ERR_SYSTEM_BUSY


def _send_error(code: int, errmsg: str) -> Exception:
    if code == ERR_WINDOW_CLOSED:
        return PermanentSendError(WINDOW_CLOSED_REASON)
    if code in (ERR_SYSTEM_BUSY, ERR_API_LIMIT):
        return TransientSendError(f"WeChat is busy ({code}): {errmsg}")
    if code in ERRS_TOKEN_INVALID:
        return TransientSendError(f"WeChat rejected a fresh access token ({code})")
    if code == ERR_UNFOLLOWED:
        return PermanentSendError("The customer no longer follows the Official Account")
    if code == ERR_TOO_MANY_UNANSWERED:
        return PermanentSendError(
            "WeChat limit reached: too many messages since the customer wrote"
        )
    return PermanentSendError(f"WeChat error {code}: {errmsg}")
