"""The one small interface every channel connector implements.

A connector module (`connectors/<name>.py`) defines a subclass of `Connector` and registers it
with `@register`. The webhook pipeline (connectors/views.py + tasks.py) and the outbox
(conversations → connectors.tasks.deliver_message) only ever talk to this interface:

    inbound:  handshake? → verify(raw request) → event_id → [stored raw, committed, 2xx]
              → parse(stored event) in a task → normalised InboundMessage / StatusUpdate,
                or ParsedEvent(ignored=why), or raises MalformedPayload (ignored with why)
    outbound: send(inbox, OutboundMessage) → SendResult(provider_id), or raises
              TransientSendError (retried with backoff) / PermanentSendError (marked failed)

Everything here is provider-neutral; provider facts (signature schemes, payload shapes, API
URLs) live only in the connector modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from django.http import HttpResponse

# Conversations defines what "reachable" means (its reply channels ask); connectors answer.
from teamline.conversations.hooks import Reachability
from teamline.core.availability import RETRY_AFTER_SECONDS

from .raw_redaction import redact_body

if TYPE_CHECKING:
    from teamline.conversations.models import Inbox
    from teamline.customers.models import Customer


class WebhookRejected(Exception):
    """The request is not a genuine delivery for this inbox (nothing is stored)."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class MalformedPayload(Exception):
    """A verified delivery whose payload is not what the provider documents (a field of the
    wrong type, an impossible date, a sender that is no address on this channel). Raised by
    parse(): processing the same stored bytes again can never succeed, so the event is marked
    ignored with this reason (kept raw, shown to admins) instead of failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientSendError(Exception):
    """The provider may accept it later (timeouts, 429, 5xx): the outbox retries with backoff."""


class PermanentSendError(Exception):
    """The provider refused it for good (invalid number, window closed, opted out…)."""


@dataclass(frozen=True)
class WebhookRequest:
    """The raw request as the provider sent it. Verify on `body` bytes, never re-serialised."""

    method: str
    url: str  # the full URL as the provider called it (scheme, host, path, query)
    path_suffix: str  # what follows /webhooks/<provider>/<inbox-id>/ (e.g. "status")
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    remote_addr: str = ""

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    def param(self, name: str) -> str:
        values = self.query.get(name) or [""]
        return values[0]


@dataclass(frozen=True)
class InboundAttachment:
    filename: str
    content_type: str
    data: bytes | None = None  # inline content (email MIME parts)
    url: str = ""  # or where to fetch it from (provider media), with the inbox's credentials
    provider_media_id: str = ""


@dataclass(frozen=True)
class InboundMessage:
    """A message from a customer, normalised."""

    # The provider's message id: the dedupe key, unique per inbox (a provider account) and
    # channel. It need not be global: two bots or two mailboxes may reuse one.
    external_id: str
    channel: str  # sms, whatsapp, messenger, instagram, telegram, wechat, email, app
    sender_kind: str  # an IdentityKind: phone, email, telegram, messenger, instagram, wechat…
    sender_value: str  # raw; normalised by customers.identities.normalize_identity
    # True when the provider proved the sender (an SMS came from that number); False for claims
    # anyone can forge (an email From: header). Unverified identities never merge customers.
    sender_verified: bool
    text: str = ""
    sender_name: str = ""
    content: dict[str, Any] = field(default_factory=dict)  # media, location, interactive, headers
    attachments: tuple[InboundAttachment, ...] = ()
    sent_at: datetime | None = None
    # Auto-replies, bounces, delivery reports: recorded, never treated as the customer writing.
    automated: bool = False
    # Language tags the provider gave for the sender (Telegram's language_code, an email's
    # Content-Language / Accept-Language), most preferred first: customers.actions.
    # do_capture_language weighs them against what the text itself is written in.
    languages: tuple[str, ...] = ()


@dataclass(frozen=True)
class StatusUpdate:
    """A delivery receipt for one of our outbound messages."""

    provider_message_id: str  # looked up among the messages sent through this inbox
    status: str  # a conversations.models.DeliveryStatus value
    error: str = ""
    at: datetime | None = None
    # The message channel when the inbox serves several (WhatsApp through a Twilio number);
    # empty: the inbox's own channel.
    channel: str = ""


@dataclass(frozen=True)
class ParsedEvent:
    messages: tuple[InboundMessage, ...] = ()
    statuses: tuple[StatusUpdate, ...] = ()
    # Things the connector recognised and deliberately ignores (e.g. a Telegram edited_message),
    # with why: the stored event is marked ignored with this note instead of failing.
    ignored: str = ""


@dataclass(frozen=True)
class OutboundAttachment:
    filename: str
    content_type: str
    data: bytes
    # A signed public URL the provider can fetch (connectors/media.py), valid for a while
    # (TEAMLINE_MEDIA_URL_SECONDS) from this delivery attempt.
    url: str = ""


@dataclass(frozen=True)
class OutboundMessage:
    """One message to deliver. `to` is the normalised identity value on this channel."""

    message_id: int
    to: str
    text: str
    attachments: tuple[OutboundAttachment, ...] = ()
    # Channel-specific extras: email subject + threading headers, WhatsApp template name, the
    # message's "channel" (for inboxes serving several, like WhatsApp through Twilio)…
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str
    status: str = "sent"  # DeliveryStatus after the API call (queued / sent)
    segments: int | None = None  # SMS segments billed


class Connector:
    """Base class; override what the provider needs."""

    provider: ClassVar[str]  # URL segment: /webhooks/<provider>/<inbox-id>/…
    inbox_kinds: ClassVar[tuple[str, ...]]  # InboxKind values this connector serves
    channel_for_kind: ClassVar[dict[str, str]] = {}  # inbox kind → message channel
    # A delivery that finds this process at its webhook limit (connectors/admission.py): 0 =
    # answered 503 + Retry-After at once, for providers that retry a 5xx later; N > 0 = it waits
    # up to N seconds for a slot first, for providers that do not retry a 5xx.
    overload_wait_seconds: ClassVar[float] = 0.0
    # A person is on the line while the request is answered (a phone call's TwiML): admitted
    # under the process's call budget (TEAMLINE_CALL_MAX_INFLIGHT), apart from the webhooks
    # that are only stored, so neither kind of traffic queues behind the other.
    caller_on_line: ClassVar[bool] = False
    # send() delivers OutboundMessage.attachments as files (fetched by the provider from each
    # attachment's signed `url`, or uploaded from `data`). False: the outbox sends the
    # attachments as links in the text instead (connectors/media.py), and none reach send().
    carries_media: ClassVar[bool] = False

    def handshake(self, inbox: Inbox, request: WebhookRequest) -> HttpResponse | None:
        """Answer a provider's set-up challenge (GET verify token, echostr…), or None if this
        request is not one. Must verify whatever the provider signs before echoing."""
        return None

    def verify(self, inbox: Inbox, request: WebhookRequest) -> None:
        """Raise WebhookRejected unless the request is genuine. Fail closed: a missing header,
        an empty configured secret or a stale timestamp is a rejection."""
        raise NotImplementedError

    def event_id(self, inbox: Inbox, request: WebhookRequest) -> str:
        """The provider's id for this delivery (dedupe key of the stored raw event)."""
        raise NotImplementedError

    def acknowledge(self, inbox: Inbox, request: WebhookRequest) -> HttpResponse:
        """What to answer once the raw event is stored (also for duplicates)."""
        return HttpResponse(status=200)

    def answered_in_request(self, inbox: Inbox, request: WebhookRequest) -> str:
        """Why this delivery needs no processing task, or "" (the default: it is processed in a
        task). A connector whose `acknowledge` does all the work in the request (voice: the
        provider waits for the TwiML) returns the reason; the event is then stored as already
        ignored with it, and no task is queued only to say so."""
        return ""

    def unavailable(self, started: float) -> HttpResponse:
        """What to answer when a delivery cannot be stored now (the database is unreachable;
        `started` is the request's time.monotonic()): whatever makes this provider deliver it
        again. Meta and Telegram retry any 5xx (Meta for days); Twilio retries a 5xx only
        with a retry policy in the webhook URL (docs/channels/sms.md)."""
        response = HttpResponse(
            "Temporarily unavailable", status=503, content_type="text/plain; charset=utf-8"
        )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    def redact_raw(
        self, inbox: Inbox, body: bytes, headers: dict[str, str], found: list[str]
    ) -> bytes:
        """The body as it may be stored: what the customer wrote masked by the inbox's
        redaction (connectors.raw_redaction reads forms, JSON, XML and email), everything else
        byte for byte. Runs after verify(); parse() must accept what it returns. A connector
        whose payload hides the text (WeChat's safe mode encrypts it) overrides this."""
        return redact_body(self.provider, body, headers, inbox.redaction_kinds, found)

    def parse(self, inbox: Inbox, request: WebhookRequest) -> ParsedEvent:
        """Normalise a stored (already verified) event. Runs in a task, not in the request.
        Check the shape of every field used (connectors.payloads) and raise MalformedPayload
        with the field's path when it is wrong; any other exception marks the event failed
        (to be replayed once the cause — an outage, a bug — is fixed)."""
        raise NotImplementedError

    def send(self, inbox: Inbox, message: OutboundMessage) -> SendResult:
        raise NotImplementedError

    def reachability(
        self,
        inbox: Inbox,
        customer: Customer,
        identity_value: str,
        now: datetime,
        *,
        channel: str = "",
    ) -> Reachability:
        """`channel`: the message channel the reply would use, when the inbox serves several
        (WhatsApp through a Twilio number); empty for the inbox's own channel."""
        return Reachability(True)

    def fetch_attachment(self, inbox: Inbox, attachment: InboundAttachment) -> bytes:
        """Download provider-hosted media (runs in the processing task)."""
        raise PermanentSendError("this connector cannot fetch media")


# One provider may serve several inbox kinds through different connectors (Twilio: SMS and
# voice share /webhooks/twilio/…): the first registered is the provider's default.
_registry: dict[str, list[Connector]] = {}


def register(cls: type[Connector]) -> type[Connector]:
    """Class decorator: make a connector reachable by its provider name and inbox kinds."""
    instance = cls()
    connectors = _registry.setdefault(cls.provider, [])
    connectors[:] = [c for c in connectors if type(c).__name__ != cls.__name__] + [instance]
    return cls


def connector_for_provider(provider: str, kind: str = "") -> Connector | None:
    """The connector of `provider` serving inboxes of `kind` (without a kind: the provider's
    first connector), or None."""
    _load_all()
    connectors = _registry.get(provider) or []
    if not kind:
        return connectors[0] if connectors else None
    return next((c for c in connectors if kind in c.inbox_kinds), None)


def connector_for_inbox(inbox: Inbox) -> Connector | None:
    _load_all()
    for connectors in _registry.values():
        for connector in connectors:
            if inbox.kind in connector.inbox_kinds:
                return connector
    return None


_loaded = False
CONNECTOR_MODULES = (
    "teamline.connectors.sms",
    "teamline.connectors.meta",
    "teamline.connectors.telegram",
    "teamline.connectors.wechat",
    "teamline.connectors.email",
    "teamline.connectors.app",
    "teamline.connectors.voice",
)


def _load_all(importer: Callable[[str], object] | None = None) -> None:
    """Import every connector module once so each registers itself."""
    global _loaded
    if _loaded:
        return
    import importlib

    for name in CONNECTOR_MODULES:
        try:
            (importer or importlib.import_module)(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real missing dependency inside the module
                raise
    _loaded = True
