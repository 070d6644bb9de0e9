"""Email: inbound over SMTP (`teamline smtpd`), IMAP polling (`teamline imap_poll`) or an MTA
pipe (`teamline email_pipe`); outbound over SMTP with threading headers.

Email is not a webhook, but it feeds the same pipeline: every inbound path hands the raw
RFC 5322 bytes to `ingest_raw_email`, which stores them with the webhooks' own action
(connectors.actions.do_store_webhook_event) as a WebhookEvent (provider "email", external id =
the Message-ID, or sha256:<hex> of the bytes when there is none) and, in the same
transaction, enqueues the pipeline's processing task; that task calls `EmailConnector.parse`
like for any provider. A duplicate (an MTA retry, an IMAP re-fetch after a UIDVALIDITY change)
hits the unique key and changes nothing. The key is per inbox: one email sent to two of our
mailboxes is a message in each.

Inbox config (not secret):
    address         support@brand.example — what customers write to, our From:
    aliases         other addresses delivered to this inbox (optional)
    display_name    From: display name (default: the inbox name)
    smtp_host, smtp_port, use_tls (implicit TLS, port 465), starttls (default true),
    smtp_timeout    outbound relay
    imap_host, imap_port, imap_security ("ssl" | "starttls"), imap_mailbox (default INBOX)
    default_subject subject of a first email when the conversation started on another channel
Inbox credentials (encrypted): smtp_username, smtp_password, imap_username, imap_password.

`From:` proves nothing, so senders are never verified (sender_verified False). Mail no person
wrote (auto-replies, bounces, delivery reports, our own mail coming back) is flagged
`automated` and is never answered automatically; we never send to our own inbox addresses.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from teamline.conversations.models import Direction, Inbox, Message, SenderKind
from teamline.customers.models import Identity, IdentityKind
from teamline.customers.queries import customer_language

from .actions import do_store_webhook_event
from .base import (
    Connector,
    InboundAttachment,
    InboundMessage,
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
from .email_parts.parsing import (
    ParsedEmail,
    email_event_id,
    normalize_message_id,
    parse_email,
)

if TYPE_CHECKING:
    from datetime import datetime

    from teamline.customers.models import Customer

    from .models import WebhookEvent

PROVIDER = "email"
CHANNEL = "email"
INBOX_KIND = "email"
SOURCES = ("smtp", "imap", "pipe")
MAX_SHOWN_TEXT = 10_000  # conversations.actions.MAX_TEXT
MAX_REFERENCES = 20
SMTP_TIMEOUT = 30.0
_OUR_MESSAGE_ID = re.compile(r"^<teamline\.(\d+)\.([0-9a-f]{20})@[^>]+>$")
_REPLY_PREFIX = re.compile(
    r"^\s*((re|aw|sv|vs|antw|ref|réf|rif|odp|r|回复|回覆|答复)\s*(\[\d+\])?\s*[:：]\s*)+",
    re.IGNORECASE,
)
# Addresses nobody reads: automated sends to them are refused (RFC 3834 §2).
_NO_REPLY_LOCAL = re.compile(
    r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?)([+-].*)?$", re.IGNORECASE
)


# --- inbox addresses and config ------------------------------------------------------------


def inbox_address(inbox: Inbox) -> str:
    return str((inbox.config or {}).get("address") or "").strip().lower()


def inbox_addresses(inbox: Inbox) -> set[str]:
    """The address and aliases mail for this inbox arrives at (lower-cased)."""
    config = inbox.config or {}
    found = {inbox_address(inbox)}
    found.update(str(alias).strip().lower() for alias in config.get("aliases") or [])
    return {address for address in found if "@" in address}


def _email_inboxes() -> list[Inbox]:

    return list(
        Inbox.objects.select_related("default_team").filter(kind=INBOX_KIND, is_active=True)
    )


def all_inbox_addresses() -> set[str]:
    """Every address of every email inbox: we never send mail to ourselves."""
    found: set[str] = set()
    for inbox in _email_inboxes():
        found |= inbox_addresses(inbox)
    return found


def inbox_for_address(address: str) -> Inbox | None:
    """The active email inbox receiving `address` (its address or an alias; a +tag in the
    local part is ignored: support+billing@ → support@), or None."""
    address = (address or "").strip().strip("<>").lower()
    if "@" not in address:
        return None
    local, _, domain = address.rpartition("@")
    candidates = {address, f"{local.split('+', 1)[0]}@{domain}"}
    for inbox in _email_inboxes():
        if inbox_addresses(inbox) & candidates:
            return inbox
    return None


def update_inbox_config(inbox: Inbox, **changes: Any) -> dict[str, Any]:
    """Merge `changes` into Inbox.config under a row lock (the IMAP poller's bookmark lives
    there; an admin editing the inbox at the same time keeps their other keys)."""

    with transaction.atomic():
        locked = Inbox.objects.select_for_update().get(pk=inbox.pk)
        locked.config = {**(locked.config or {}), **changes}
        locked.save(update_fields=["config"])
    inbox.config = locked.config
    return locked.config


# --- our Message-IDs and threading ---------------------------------------------------------


def _domain(inbox: Inbox) -> str:
    address = inbox_address(inbox)
    return address.rpartition("@")[2] if "@" in address else "teamline.invalid"


def _message_token(pk: int, created_at: datetime) -> str:
    micros = int(created_at.timestamp() * 1_000_000)
    key = settings.SECRET_KEY.encode()
    digest = hmac.new(key, f"teamline-email-message-id:{pk}:{micros}".encode(), hashlib.sha256)
    return digest.hexdigest()[:20]


def outbound_message_id(inbox: Inbox, message: Message) -> str:
    """The Message-ID of our email for `message`: derived from it, so a retried send carries
    the same id (mail clients show it once), and a customer's In-Reply-To leads back to it."""
    token = _message_token(message.pk, message.created_at)
    return f"<teamline.{message.pk}.{token}@{_domain(inbox)}>"


def message_for_reference(reference: str) -> Message | None:
    """The stored message a Message-ID names: one of ours (checked, not trusted) or an
    inbound email we stored."""
    reference = normalize_message_id(reference)
    if not reference:
        return None
    ours = _OUR_MESSAGE_ID.match(reference)
    if ours:
        found = Message.objects.filter(pk=int(ours.group(1))).first()
        if found is not None and hmac.compare_digest(
            _message_token(found.pk, found.created_at), ours.group(2)
        ):
            return found
    return (
        Message.objects.filter(channel=CHANNEL, external_id=reference).first()
        or Message.objects.filter(channel=CHANNEL, provider_message_id=reference).first()
    )


def reply_subject(subject: str) -> str:
    """ "Re: <subject>" without piling up prefixes (Re: Re: AW: …)."""
    rest = _REPLY_PREFIX.sub("", subject or "").strip()
    return f"Re: {rest}" if rest else "Re:"


def _email_meta(message: Message) -> dict[str, Any]:
    meta = (message.content or {}).get("email")
    return meta if isinstance(meta, dict) else {}


def _is_automated(message: Message) -> bool:
    return bool(getattr(message, "automated", False) or _email_meta(message).get("automated"))


def _customer_email(customer: Customer) -> str:
    identity = (
        Identity.objects.filter(customer=customer, kind=IdentityKind.EMAIL)
        .order_by("-verified", "-created_at")
        .first()
    )
    return identity.value if identity else ""


def _email_inbox_for(message: Message) -> Inbox | None:

    for candidate_id in (message.inbox_id, message.conversation.inbox_id):
        if candidate_id is not None:
            inbox = Inbox.objects.filter(pk=candidate_id, kind=INBOX_KIND).first()
            if inbox is not None:
                return inbox
    return None


def build_outbound_email(message: Message, *, inbox: Inbox | None = None) -> OutboundMessage:
    """The OutboundMessage for an agent's (or bot's) reply on the email channel.

    Threading comes from the conversation's stored inbound emails (content["email"]): `to` is
    the last person-written email's sender (else the customer's email identity), Subject
    "Re: <its subject>", In-Reply-To its Message-ID, References its chain plus that id. The
    Message-ID is ours (see outbound_message_id). Automated inbound mail is never the parent.
    """
    conversation = message.conversation
    inbox = inbox or _email_inbox_for(message)
    emails = [
        m
        for m in Message.objects.filter(
            conversation=conversation, channel=CHANNEL, direction=Direction.INBOUND
        ).order_by("created_at", "pk")
        if _email_meta(m)
    ]
    written = [m for m in emails if not _is_automated(m)]
    parent = written[-1] if written else None
    parent_meta = _email_meta(parent) if parent else {}

    to = str(parent_meta.get("from") or "") or _customer_email(conversation.customer)
    if parent_meta.get("subject") is not None and parent is not None:
        subject = reply_subject(str(parent_meta.get("subject") or ""))
    else:
        default = inbox.config.get("default_subject") if inbox else ""
        name = inbox.name if inbox else "Teamline"
        # A first email from us: its subject in the customer's language, like its body.
        with translation.override(
            customer_language(conversation.customer, inbox.config if inbox else None)
        ):
            subject = str(
                default
                or _("%(name)s: your conversation #%(number)d")
                % {"name": name, "number": conversation.pk}
            )
    in_reply_to = str(parent_meta.get("message_id") or "")
    references = [str(r) for r in parent_meta.get("references") or []]
    if in_reply_to and in_reply_to not in references:
        references.append(in_reply_to)
    references = [r for r in references if r.startswith("<")]
    if len(references) > MAX_REFERENCES:  # RFC 5322 §3.6.4: keep the first, trim the middle
        references = [references[0], *references[-(MAX_REFERENCES - 1) :]]

    attachments = []
    for attachment in message.attachments.all():
        with attachment.file.open("rb") as handle:
            data = handle.read()
        attachments.append(OutboundAttachment(attachment.filename, attachment.content_type, data))

    extra: dict[str, Any] = {
        "subject": subject,
        "in_reply_to": in_reply_to if in_reply_to.startswith("<") else "",
        "references": references,
        "automated": message.sender_kind in (SenderKind.BOT, SenderKind.SYSTEM),
        # The newest inbound email was machine-written: an automated send would start a loop.
        "reply_to_automated": bool(emails) and _is_automated(emails[-1]),
    }
    if inbox is not None:
        extra["message_id"] = outbound_message_id(inbox, message)
    return OutboundMessage(
        message_id=message.pk,
        to=to,
        text=message.text,
        attachments=tuple(attachments),
        extra=extra,
    )


# --- outbound SMTP -------------------------------------------------------------------------


def _config_bool(config: dict[str, Any], key: str, default: bool) -> bool:
    value = config.get(key, default)
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def _smtp_error(exc: Exception) -> Exception:
    """4xx / network trouble → transient (the outbox retries); 5xx → permanent."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        detail = "; ".join(
            f"{rcpt}: {code} {msg.decode(errors='replace') if isinstance(msg, bytes) else msg}"
            for rcpt, (code, msg) in exc.recipients.items()
        )
        if codes and all(400 <= code < 500 for code in codes):
            return TransientSendError(f"recipient deferred: {detail}")
        return PermanentSendError(f"recipient refused: {detail}")
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error
        text = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
        message = f"SMTP {exc.smtp_code} {text}".strip()
        if 400 <= exc.smtp_code < 500 or exc.smtp_code == -1:
            return TransientSendError(message)
        return PermanentSendError(message)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return PermanentSendError(f"SMTP server does not support it: {exc}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return PermanentSendError(f"SMTP TLS certificate not trusted: {exc}")
    if isinstance(exc, (smtplib.SMTPException, OSError, socket.timeout)):
        return TransientSendError(f"SMTP connection failed: {exc.__class__.__name__}: {exc}")
    return exc


def _deliver(inbox: Inbox, mime: EmailMessage, envelope_from: str, recipients: list[str]) -> None:
    config = inbox.config or {}
    host = str(config.get("smtp_host") or "")
    if not host:
        raise PermanentSendError("This email inbox has no outbound SMTP host configured.")
    use_tls = _config_bool(config, "use_tls", False)
    starttls = _config_bool(config, "starttls", not use_tls)
    port = int(config.get("smtp_port") or (465 if use_tls else 587))
    timeout = float(config.get("smtp_timeout") or SMTP_TIMEOUT)
    credentials = inbox.credentials
    context = ssl.create_default_context()
    try:
        client: smtplib.SMTP
        if use_tls:
            client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            client.ehlo_or_helo_if_needed()
            if starttls and not use_tls:
                client.starttls(context=context)
                client.ehlo()
            if credentials.get("smtp_username"):
                client.login(
                    str(credentials["smtp_username"]), str(credentials.get("smtp_password", ""))
                )
            client.send_message(mime, from_addr=envelope_from, to_addrs=recipients)
    except (smtplib.SMTPException, OSError) as exc:
        raise _smtp_error(exc) from exc


def _mime_type(content_type: str) -> tuple[str, str]:
    maintype, _, subtype = (content_type or "application/octet-stream").partition("/")
    if not maintype or not subtype:
        return "application", "octet-stream"
    return maintype.lower(), subtype.split(";")[0].strip().lower()


def compose(inbox: Inbox, message: OutboundMessage, *, message_id: str) -> EmailMessage:
    """The RFC 5322 message for an OutboundMessage (headers from `extra`)."""
    extra = message.extra
    address = inbox_address(inbox)
    mime = EmailMessage()
    display_name = str(inbox.config.get("display_name") or inbox.name or "")
    mime["From"] = formataddr((display_name, address))
    mime["To"] = message.to
    mime["Subject"] = str(extra.get("subject") or f"{inbox.name}")
    mime["Date"] = format_datetime(timezone.now())
    mime["Message-ID"] = message_id
    in_reply_to = str(extra.get("in_reply_to") or "")
    references = [str(r) for r in extra.get("references") or [] if str(r).startswith("<")]
    if in_reply_to:
        mime["In-Reply-To"] = in_reply_to
    if references:
        mime["References"] = " ".join(references)
    if extra.get("automated"):
        # RFC 3834: an automatic answer says so, and asks other robots not to answer it.
        mime["Auto-Submitted"] = "auto-replied"
        mime["X-Auto-Response-Suppress"] = "All"
    mime.set_content(message.text or "")
    for attachment in message.attachments:
        maintype, subtype = _mime_type(attachment.content_type)
        mime.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    return mime


def send_email(inbox: Inbox, message: OutboundMessage) -> SendResult:
    """Send over the inbox's SMTP relay; the provider id is our Message-ID.

    When the message is stored (the outbox), threading comes from build_outbound_email —
    the conversation's own emails decide In-Reply-To, References, Subject and the Message-ID;
    a non-empty extra["subject"] is used only when no inbound email is being answered.
    """
    extra = dict(message.extra)
    to = message.to
    stored = (
        Message.objects.select_related("conversation", "conversation__customer")
        .filter(pk=message.message_id)
        .first()
    )
    if stored is not None:
        built = build_outbound_email(stored, inbox=inbox)
        answering = bool(built.extra.get("in_reply_to"))
        caller_subject = str(extra.get("subject") or "")
        extra.update(built.extra)
        if caller_subject and not answering:
            extra["subject"] = caller_subject
        to = to or built.to
    address = inbox_address(inbox)
    if "@" not in address:
        raise PermanentSendError("This email inbox has no address configured.")
    to = (to or "").strip()
    if "@" not in to or any(c in to for c in "\r\n<>,;"):
        raise PermanentSendError(f"Not an email address: {to!r}.")
    if to.lower() in all_inbox_addresses() | inbox_addresses(inbox):
        raise PermanentSendError("Refusing to send to one of our own inbox addresses (mail loop).")
    if extra.get("automated"):
        if extra.get("reply_to_automated"):
            raise PermanentSendError("Automated mail is never answered automatically (loop).")
        if _NO_REPLY_LOCAL.match(to.partition("@")[0]):
            raise PermanentSendError(f"Automated mail is not sent to {to}.")
    message_id = str(extra.get("message_id") or "") or make_msgid(
        idstring="teamline", domain=_domain(inbox)
    )
    mime = compose(
        inbox,
        OutboundMessage(message.message_id, to, message.text, message.attachments, extra),
        message_id=message_id,
    )
    envelope_from = str(inbox.config.get("envelope_from") or address)
    _deliver(inbox, mime, envelope_from, [to])
    return SendResult(provider_message_id=message_id, status="sent")


# --- the connector -------------------------------------------------------------------------


def _shown_text(parsed: ParsedEmail) -> str:
    text = parsed.text.strip() or parsed.original_text.strip()
    if not text:
        names = ", ".join(name for name, _, _ in parsed.attachments)
        text = f"[Attachments: {names}]" if names else (parsed.subject or "(empty email)")
    if len(text) > MAX_SHOWN_TEXT:
        text = text[: MAX_SHOWN_TEXT - 1] + "…"
    return text


def inbound_from_parsed(parsed: ParsedEmail, *, source: str = "") -> InboundMessage:
    email_meta: dict[str, Any] = {
        "message_id": parsed.message_id,
        "in_reply_to": parsed.in_reply_to,
        "references": parsed.references,
        "subject": parsed.subject,
        "from": parsed.from_address.lower(),
        "from_name": parsed.from_name,
        "to": parsed.to,
        "cc": parsed.cc,
        "date": parsed.date.isoformat() if parsed.date else "",
        "automated": parsed.automated,
        "automated_reason": parsed.automated_reason,
        "source": source,
    }
    content: dict[str, Any] = {"email": email_meta, "original_text": parsed.original_text}
    if parsed.raw_html:
        content["html"] = parsed.html  # sanitised: what the desk may render
        content["raw_html"] = parsed.raw_html  # as received: never render it
    return InboundMessage(
        external_id=parsed.event_id,
        channel=CHANNEL,
        sender_kind="email",
        sender_value=parsed.from_address,
        sender_verified=False,  # From: proves nothing
        sender_name=parsed.from_name,
        text=_shown_text(parsed),
        content=content,
        attachments=tuple(
            InboundAttachment(filename=name, content_type=ctype, data=data)
            for name, ctype, data in parsed.attachments
        ),
        sent_at=parsed.date,
        automated=parsed.automated,
        languages=tuple(parsed.languages),
    )


def parse_request(inbox: Inbox, request: WebhookRequest) -> ParsedEvent:
    # The SMTP envelope sender, when the receiving path knew it ("" = the null sender <>).
    envelope_sender = request.headers.get("x-teamline-envelope-from")
    parsed = parse_email(
        request.body, own_addresses=inbox_addresses(inbox), envelope_sender=envelope_sender
    )
    if not parsed.from_address:
        return ParsedEvent(ignored="email without a usable From: address")
    statuses: tuple[StatusUpdate, ...] = ()
    bounce = parsed.bounce
    if bounce is not None and bounce.action in ("failed", ""):
        error = " ".join(
            part for part in (bounce.status, bounce.diagnostic or parsed.subject) if part
        )
        statuses = (StatusUpdate(bounce.original_message_id, "failed", error[:500]),)
    source = request.header("x-teamline-source")
    return ParsedEvent(messages=(inbound_from_parsed(parsed, source=source),), statuses=statuses)


@register
class EmailConnector(Connector):
    carries_media = True
    provider = PROVIDER
    inbox_kinds = (INBOX_KIND,)
    channel_for_kind = {INBOX_KIND: CHANNEL}

    def verify(self, inbox: Inbox, request: WebhookRequest) -> None:
        # Mail arrives over SMTP, IMAP or an MTA pipe, never through /webhooks/email/…:
        # anything posted there is refused, nothing is stored.
        raise WebhookRejected("email is not delivered by webhook", status=404)

    def event_id(self, inbox: Inbox, request: WebhookRequest) -> str:
        return email_event_id(request.body)

    def parse(self, inbox: Inbox, request: WebhookRequest) -> ParsedEvent:
        return parse_request(inbox, request)

    def send(self, inbox: Inbox, message: OutboundMessage) -> SendResult:
        return send_email(inbox, message)

    def reachability(
        self,
        inbox: Inbox,
        customer: Customer,
        identity_value: str,
        now: datetime,
        *,
        channel: str = "",
    ) -> Reachability:
        if "@" not in (identity_value or ""):
            return Reachability(False, "no email address")
        if identity_value.lower() in inbox_addresses(inbox):
            return Reachability(False, "that is this inbox's own address")
        return Reachability(True)


# --- ingest: every inbound path ends here --------------------------------------------------


@dataclass(frozen=True)
class IngestResult:
    event: WebhookEvent
    created: bool  # False: a duplicate, absorbed


def ingest_raw_email(
    inbox: Inbox,
    raw: bytes,
    *,
    source: str,
    envelope_from: str | None = None,
    envelope_to: list[str] | None = None,
    peer: str = "",
) -> IngestResult:
    """Store raw mail for `inbox` and hand it to the pipeline, exactly once per Message-ID
    and inbox (connectors.actions.do_store_webhook_event, like every webhook): the
    WebhookEvent (provider "email", external_id = Message-ID or sha256 of the bytes) and its
    processing task are written in one transaction. A duplicate returns the stored event with
    created=False. What the receiving path knew of the envelope travels as x-teamline-*
    headers for the parser."""
    if source not in SOURCES:
        raise ValueError(f"unknown email source {source!r}")
    headers = {"x-teamline-source": source}
    if envelope_from is not None:
        headers["x-teamline-envelope-from"] = envelope_from
    if envelope_to:
        headers["x-teamline-envelope-to"] = ", ".join(envelope_to)
    if peer:
        headers["x-teamline-peer"] = peer
    event, created = do_store_webhook_event(
        inbox,
        provider=PROVIDER,
        external_id=email_event_id(raw),
        body=raw,
        headers=headers,
        request_meta={
            "method": source.upper(),
            "url": f"email:{source}",
            "path_suffix": "",
            "query": {},
        },
    )
    return IngestResult(event, created=created)
