"""Writes for channel sessions and inboxes."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from teamline.accounts.models import User
from teamline.conversations.actions import MAX_TEXT
from teamline.conversations.attachments import (
    PreparedAttachment,
    RefusedAttachment,
    prepare_attachment,
)
from teamline.conversations.inbound import (
    PENDING_ATTACHMENTS,
    do_receive_automated_message,
    do_receive_customer_message,
    do_settle_pending_attachments,
    pending_attachments,
)
from teamline.conversations.models import Conversation, Inbox, Message
from teamline.conversations.queries import ReplyChannel
from teamline.conversations.replies import do_send_reply
from teamline.core import jsonsafe, ratelimit
from teamline.core.errors import Forbidden, InvalidInput, NotFound
from teamline.core.redaction import counts
from teamline.customers.actions import (
    do_capture_language,
    do_create_webchat_visitor,
    do_record_sms_keyword,
    do_resolve_sender,
    do_resolve_verified_customer,
    do_set_consent,
    do_update_customer_profile,
)
from teamline.customers.models import Customer
from teamline.customers.sms_opt_out import consent_keyword_of

from . import webchat
from .base import (
    Connector,
    InboundAttachment,
    InboundMessage,
    TransientSendError,
    connector_for_inbox,
    connector_for_provider,
)
from .models import WebhookEvent, WebhookEventStatus, WhatsAppTemplate
from .raw_redaction import redact_body, redact_request_meta
from .tasks import process_webhook_event, refetch_attachments, sync_whatsapp_templates
from .templates import build_template
from .webhook_store import insert_event_and_task

logger = logging.getLogger(__name__)

MAX_EXTERNAL_ID = Message._meta.get_field("external_id").max_length or 200
MAX_EVENT_ID = WebhookEvent._meta.get_field("external_id").max_length or 255


@dataclass(frozen=True)
class WebchatSession:
    customer: Customer
    token: str
    verified: bool


def do_start_webchat_session(
    inbox: Inbox,
    *,
    token: str | None = None,
    user_id: str | None = None,
    user_hash: str | None = None,
    name: str = "",
    email: str = "",
    ip: str = "",
    language_hints: Sequence[str] = (),
) -> WebchatSession:
    """Open or resume a widget session. `language_hints` (the page's and browser's tags) are
    the language of a new visitor, stored with them; for a known customer the caller captures
    them (customers.actions.do_capture_language).

    - `user_id` + a valid `user_hash`: the brand vouched for this user → their customer.
      A wrong hash is refused, never downgraded to an anonymous session.
    - a valid `token` for this inbox: the same visitor again (asynchronous messaging).
    - otherwise a new anonymous visitor (rate-limited per IP).
    A typed name/email is stored on the visitor's own record only (see customers.actions).
    """
    if user_id:
        if not webchat.verify_identity(inbox.secret, user_id, user_hash or ""):
            raise Forbidden("The identity signature does not match.")
        customer = do_resolve_verified_customer(user_id, name=name, email=email, home_team=None)
        return WebchatSession(
            customer, webchat.sign_session(str(inbox.public_id), customer.pk), True
        )
    if token:
        try:
            claims = webchat.read_session(token)
        except NotFound:
            claims = None
        if claims and claims.inbox_public_id == str(inbox.public_id):
            known = Customer.objects.filter(pk=claims.customer_id).first()
            if known is not None:
                if name:
                    do_update_customer_profile(known, name=name)
                return WebchatSession(
                    known, webchat.sign_session(str(inbox.public_id), known.pk), False
                )
    ratelimit.hit(
        f"webchat-session:{ip}",
        limit=int(settings.TEAMLINE["RATE_NEW_SESSIONS_PER_IP_PER_HOUR"]),
        window_seconds=3600,
    )
    customer = do_create_webchat_visitor(uuid.uuid4().hex, language_hints=language_hints)
    if name or email:
        do_update_customer_profile(customer, name=name, unverified_email=email)
    return WebchatSession(customer, webchat.sign_session(str(inbox.public_id), customer.pk), False)


def bounded_external_id(external_id: str, limit: int = MAX_EXTERNAL_ID) -> str:
    """A provider id as stored in an external_id column: as it is, or, when longer than the
    column, "sha256:<hex>" of it — the same id always maps to the same key, so dedupe holds
    (a cut prefix could merge two ids) and PostgreSQL never refuses the row (SQLite would not
    notice the length)."""
    if len(external_id) <= limit:
        return external_id
    return "sha256:" + hashlib.sha256(external_id.encode("utf-8", "surrogatepass")).hexdigest()


def do_store_webhook_event(
    inbox: Inbox,
    *,
    provider: str,
    external_id: str,
    body: bytes,
    headers: dict[str, str],
    request_meta: dict[str, Any],
    answered: str = "",
) -> tuple[WebhookEvent, bool]:
    """Store one verified inbound delivery raw and enqueue its processing; returns (event,
    created). Every inbound path ends here: the webhook view and the email ingest (SMTP
    receiver, IMAP poller, MTA pipe).

    The event and its processing task are written in one transaction (the task table is the
    outbox), so a stored event is always processed and nothing is processed unstored. Unique
    on (provider, inbox, external_id): a provider's retry of the same delivery hits the key
    and returns the stored event with created=False, changing nothing — the caller answers it
    like the first (a 5xx would make the provider retry forever). Emits nothing; processing
    (connectors.tasks.process_event) does. `answered` (Connector.answered_in_request) says why
    the delivery needs no processing: it is stored as already ignored, with no task.
    NotFound when the inbox was deleted meanwhile (nothing stored).
    The body, URL and query are stored with what the customer wrote masked by the inbox's
    redaction (connectors.raw_redaction): the original never reaches the database.
    """
    kinds = inbox.redaction_kinds
    found: list[str] = []
    connector = connector_for_provider(provider, inbox.kind)
    if connector is not None:
        body = connector.redact_raw(inbox, body, headers, found)
    else:
        body = redact_body(provider, body, headers, kinds, found)
    request_meta = redact_request_meta(request_meta, kinds, found)
    if found:
        logger.info("webhook %s/%s: redacted %s", provider, inbox.public_id, counts(found))
    # The body is stored as bytes, exactly as signed unless masked above; the id, headers and
    # query go to text and JSON columns, where PostgreSQL refuses NUL (a %00 in a query
    # string): cleaned, never refused, since the delivery is acknowledged next (core.jsonsafe,
    # docs/input.md).
    external_id = bounded_external_id(jsonsafe.clean_text(external_id), MAX_EVENT_ID)
    event = WebhookEvent(
        provider=provider,
        inbox=inbox,
        external_id=external_id,
        headers=jsonsafe.clean(headers),
        request_meta=jsonsafe.clean(request_meta),
        body=body,
        status=WebhookEventStatus.IGNORED if answered else WebhookEventStatus.PENDING,
        error=answered,
        processed_at=timezone.now() if answered else None,
    )
    try:
        # The event and its task in one statement where the database allows (webhook_store).
        stored = insert_event_and_task(event, with_task=not answered)
        if stored is None:
            with transaction.atomic():
                event.save(force_insert=True)
                if not answered:
                    process_webhook_event.enqueue(event.pk)
            stored = True
    except IntegrityError:
        existing = _stored_event(inbox, provider, external_id)
        if existing is None:
            raise
        return existing, False
    if stored:
        return event, True
    existing = _stored_event(inbox, provider, external_id)
    if existing is None:  # stored by a retry and deleted since: as rare as it sounds
        raise IntegrityError(f"webhook event {provider}/{external_id}: neither stored nor found")
    return existing, False


def _stored_event(inbox: Inbox, provider: str, external_id: str) -> WebhookEvent | None:
    """The event a provider's retry collided with; NotFound when what failed was the inbox
    itself, deleted since the webhook view read it (connectors.queries.webhook_inbox keeps it
    for a moment): nothing was stored, and the delivery is answered as for an unknown inbox."""
    existing = WebhookEvent.objects.filter(
        provider=provider, inbox=inbox, external_id=external_id
    ).first()
    if existing is None and not Inbox.objects.filter(pk=inbox.pk).exists():
        raise NotFound("No such inbox.")
    return existing


def redact(text: str, inbox: Inbox | None) -> str:
    """`text` without any of the inbox's credential values (provider errors may echo a URL
    carrying a token): what is stored as an error or logged."""
    if inbox is not None:
        try:
            secrets_ = [str(v) for v in inbox.credentials.values() if v]
        except Exception:  # undecryptable credentials: nothing to redact with
            secrets_ = []
        for secret in sorted(secrets_, key=len, reverse=True):
            if len(secret) >= 6:
                text = text.replace(secret, "[redacted]")
    return text


# A customer's file its provider did not hand over because it was busy or silent (a
# TransientSendError: 429, 5xx, a timeout, a broken connection, the whole download's deadline)
# is fetched again by a task (do_refetch_attachments), this many minutes after the attempt
# before: five more tries over about five and a half hours, well within what every provider
# keeps (Meta's media ids 30 days, WeChat's 3); then it is given up with the provider's reason.
REFETCH_MINUTES = (1, 5, 15, 60, 240)


def _fetch_error(exc: Exception, inbox: Inbox) -> str:
    """Why a provider's file was not fetched, as it may be stored and logged: a provider's own
    words may carry NUL or a lone surrogate (WeChat's errmsg), or echo a credential."""
    return redact(jsonsafe.clean_text(str(exc) or type(exc).__name__), inbox)


def _not_fetched(name: str, exc: Exception, inbox: Inbox, external_id: str | None) -> str:
    """The note the agent reads for a file given up (and the log line saying why)."""
    reason = _fetch_error(exc, inbox)
    logger.warning("attachment %s of %s not fetched: %s", name, external_id, reason)
    return f"{name}: could not be fetched ({reason})"


def _pending_entry(
    number: int, name: str, attachment: InboundAttachment, connector: Connector
) -> dict[str, Any]:
    """What fetching `attachment` again needs, kept on the message (content["attachment_
    pending"]): where the provider has it, never credentials (the inbox's are read again)."""
    entry = {
        "n": number,
        "attempts": 1,
        "provider": connector.provider,
        "filename": name,
        "content_type": attachment.content_type,
        "url": attachment.url,
        "provider_media_id": attachment.provider_media_id,
    }
    cleaned: dict[str, Any] = jsonsafe.clean(entry)
    return cleaned


def _prepare_attachments(
    inbox: Inbox, inbound: InboundMessage, connector: Connector
) -> tuple[list[PreparedAttachment], list[str], list[dict[str, Any]]]:
    """Fetch (provider media) and check every attachment: (files, notes, pending). A file that
    cannot be fetched or is refused is noted for the agent; one the provider did not hand over
    only for now (TransientSendError) is pending, fetched again later (do_refetch_attachments).
    Neither ever loses or delays the message."""
    prepared: list[PreparedAttachment] = []
    notes: list[str] = []
    pending: list[dict[str, Any]] = []
    for number, attachment in enumerate(inbound.attachments):
        name = attachment.filename or "attachment"
        try:
            data = attachment.data
            if data is None:
                data = connector.fetch_attachment(inbox, attachment)
            prepared.append(prepare_attachment(name, attachment.content_type, data))
        except RefusedAttachment as exc:
            notes.append(exc.message)
        except TransientSendError as exc:
            logger.info(
                "attachment %s of %s: fetched again later (%s)",
                name,
                inbound.external_id,
                _fetch_error(exc, inbox),
            )
            pending.append(_pending_entry(number, name, attachment, connector))
        except Exception as exc:
            notes.append(_not_fetched(name, exc, inbox, inbound.external_id))
    return prepared, notes, pending


def _schedule_refetch(message_id: int, attempt: int) -> None:
    """Enqueue fetch attempt `attempt` (1-based, after the one on receipt) of the message's
    pending files, REFETCH_MINUTES from now; in the caller's transaction."""
    run_after = timezone.now() + timedelta(minutes=REFETCH_MINUTES[attempt - 1])
    refetch_attachments.using(run_after=run_after).enqueue(message_id, attempt)


def do_refetch_attachments(message_id: int, attempt: int) -> str:
    """Fetch again the files a provider did not hand over when the message came (content
    ["attachment_pending"]): attempt `attempt` of len(REFETCH_MINUTES), run by connectors.
    tasks.refetch_attachments. Returns what it did (the task's result).

    The downloads run outside any transaction, through the connector that tried first (its
    fetch_attachment, under the same rules) with the inbox's credentials read now. Then one
    transaction (conversations.inbound.do_settle_pending_attachments: the message row locked)
    adds each file fetched to the message and drops it from pending; turns a refusal
    (PermanentSendError, RefusedAttachment), or a provider still busy on the last attempt,
    into the final note in content["attachment_errors"] as on receipt; and enqueues the next
    attempt for what is still pending. Emits message.updated (staff) after commit.
    Idempotent: a doubled or replayed task attaches nothing twice and schedules nothing twice.
    The message gone: nothing to do. Its inbox deleted meanwhile: nothing is fetched, the
    files are given up quietly (noted, nothing logged)."""
    message = Message.objects.select_related("inbox").filter(pk=message_id).first()
    if message is None:
        return "no such message"
    pending = pending_attachments(message)
    if not pending:
        return "nothing pending"
    inbox = message.inbox
    last = attempt >= len(REFETCH_MINUTES)
    outcomes: dict[int, PreparedAttachment | str | None] = {}
    for entry in pending:
        number, name = int(entry["n"]), str(entry.get("filename") or "attachment")
        connector = None
        if inbox is not None:
            connector = connector_for_provider(
                str(entry.get("provider") or ""), inbox.kind
            ) or connector_for_inbox(inbox)
        if inbox is None or connector is None:
            outcomes[number] = f"{name}: could not be fetched (the inbox was removed)"
            continue
        attachment = InboundAttachment(
            filename=name,
            content_type=str(entry.get("content_type") or ""),
            url=str(entry.get("url") or ""),
            provider_media_id=str(entry.get("provider_media_id") or ""),
        )
        try:
            data = connector.fetch_attachment(inbox, attachment)
            outcomes[number] = prepare_attachment(name, attachment.content_type, data)
        except RefusedAttachment as exc:
            outcomes[number] = exc.message
        except TransientSendError as exc:
            if last:
                outcomes[number] = _not_fetched(name, exc, inbox, message.external_id)
            else:
                outcomes[number] = None
                logger.info("attachment %s of message %s: still not fetched", name, message.pk)
        except Exception as exc:
            outcomes[number] = _not_fetched(name, exc, inbox, message.external_id)
    with transaction.atomic():
        settled, again = do_settle_pending_attachments(message.pk, outcomes, attempt=attempt)
        if settled is not None and again and not last:
            _schedule_refetch(message.pk, attempt + 1)
    got = sum(isinstance(o, PreparedAttachment) for o in outcomes.values())
    noted = sum(isinstance(o, str) for o in outcomes.values())
    waiting = sum(o is None for o in outcomes.values())
    return f"attempt {attempt}: {got} fetched, {noted} given up, {waiting} still pending"


def do_receive_inbound(
    inbox: Inbox, inbound: InboundMessage, *, connector: Connector, savepoint: bool = True
) -> Message | None:
    """One normalised inbound message from a provider: resolve the sender to a customer
    (customers.actions.do_resolve_sender), keep its attachments and hand it to
    conversations.inbound — do_receive_customer_message, or do_receive_automated_message for
    auto-replies and bounces (which never reopen or route anything).

    Idempotent on (inbox, channel, external_id): a message already stored for this inbox is
    returned untouched, and its media is not fetched again; the same provider id on another
    inbox is another message (ids are unique per provider account only). Returns None for an
    automated message with no conversation to attach it to. Only a message that does more
    than being stored — media to fetch, an SMS keyword or consent to record — is looked up
    first; for the others the unique index refuses a replay (conversations.inbound), so a new
    message costs no read. `savepoint=False`: the caller's transaction is undone whole on such
    a refusal and run again (connectors.tasks.process_event), as do_receive_customer_message
    describes. A new sender's customer is created with the language the message tells and is
    known to have no conversation yet: neither costs a statement more.

    A file the provider did not hand over only for now (busy, silent) never delays the message:
    it is stored at once with the file pending (content["attachment_pending"]), and the task
    that fetches it again (do_refetch_attachments) is enqueued in the message's transaction.
    """
    external_id = bounded_external_id(inbound.external_id)
    acts_before_storing = bool(inbound.attachments) or (
        inbound.channel == "sms"
        and bool(inbound.content.get("keyword") or consent_keyword_of(inbound.text or ""))
    )
    if acts_before_storing:
        existing = Message.objects.filter(
            inbox=inbox, channel=inbound.channel, external_id=external_id
        ).first()
        if existing is not None:
            return existing
    # What they write in, else what their app or mail program says (never over a choice).
    hints, said = ((), "") if inbound.automated else (inbound.languages, inbound.text or "")
    sender = do_resolve_sender(
        inbound.sender_kind,
        inbound.sender_value,
        verified=inbound.sender_verified,
        name=inbound.sender_name,
        home_team=inbox.default_team,
        default_region=(inbox.config or {}).get("default_region") or None,
        language_hints=hints,
        language_text=said,
    )
    customer, identity = sender.customer, sender.identity
    keyword = inbound.content.get("keyword")
    if inbound.channel == "sms" and identity.kind == "phone" and keyword:
        # customers.sms_opt_out decides what the keyword does (HELP changes nothing).
        do_record_sms_keyword(customer, identity.value, str(keyword))
    consent_keyword = (
        consent_keyword_of(inbound.text or "")
        if inbound.channel == "sms" and identity.kind == "phone" and not inbound.automated
        else None
    )
    if consent_keyword is not None:
        # STOP DATA / START DATA: the customer's choice for one topic, recorded before the
        # message is stored (self-service confirms it: selfservice/intake.py).
        topic, granted = consent_keyword
        do_set_consent(customer, topic, granted, source="sms", actor=None)
    if not inbound.automated and not sender.created:
        do_capture_language(customer, hints=hints, text=said)
    prepared, notes, pending = _prepare_attachments(inbox, inbound, connector)
    content: dict[str, Any] = {
        **inbound.content,
        "sender": {
            "kind": identity.kind,
            "value": identity.value,
            "verified": inbound.sender_verified,
        },
    }
    if inbound.sender_name:
        content["sender_name"] = inbound.sender_name[:200]
    if inbound.sent_at is not None:
        content["sent_at"] = inbound.sent_at.isoformat()
    if notes:
        content["attachment_errors"] = notes
    if pending:
        content[PENDING_ATTACHMENTS] = pending
    if consent_keyword is not None:
        content["consent_keyword"] = {"topic": consent_keyword[0], "granted": consent_keyword[1]}
    text = (inbound.text or "").strip()
    if len(text) > MAX_TEXT:
        # The shown text is cut; the raw event keeps the whole original for replay.
        text = text[: MAX_TEXT - 1] + "…"
        content["text_truncated"] = True
    # A file to fetch again: the message and the task that fetches it commit together (a crash
    # between the two would lose the file). The downloads above ran outside any transaction.
    with transaction.atomic(savepoint=False) if pending else nullcontext():
        if inbound.automated:
            message, created = do_receive_automated_message(
                inbox=inbox,
                customer=customer,
                text=text,
                channel=inbound.channel,
                external_id=external_id,
                content=content,
                attachments=prepared,
            )
        else:
            message, created = do_receive_customer_message(
                inbox=inbox,
                customer=customer,
                text=text,
                channel=inbound.channel,
                external_id=external_id,
                channel_kind="email" if inbound.channel == "email" else "chat",
                content=content,
                attachments=prepared,
                # Channel traffic arrives in bursts: the batch router decides it (routing/batch.py).
                defer_routing=True,
                new_customer=sender.created,
                savepoint=savepoint,
            )
        if pending and message is not None and created:
            _schedule_refetch(message.pk, 1)
    return message


# --- WhatsApp templates -------------------------------------------------------------------------


def do_sync_whatsapp_templates(inbox: Inbox, templates: list[dict[str, Any]]) -> tuple[int, int]:
    """Make the inbox's stored templates what Meta listed (connectors.meta.list_templates), in
    one transaction: rows updated in place on (inbox, name, language), new ones created, the
    ones Meta no longer lists deleted. A template message already sent keeps its own copy of
    what it sent (its content), so deleting a row loses nothing. Returns (kept, removed)."""
    now = timezone.now()
    kept: list[int] = []
    with transaction.atomic():
        for item in templates:
            name = str(item.get("name") or "")[:512]
            language = str(item.get("language") or "")[:16]
            if not name or not language:
                continue
            components = item.get("components")
            components = jsonsafe.clean(components if isinstance(components, list) else [])
            parameter_format = str(item.get("parameter_format") or "POSITIONAL")
            row, _created = WhatsAppTemplate.objects.update_or_create(
                inbox=inbox,
                name=name,
                language=language,
                defaults={
                    "provider_id": str(item.get("id") or "")[:64],
                    "status": str(item.get("status") or "")[:32].upper(),
                    "category": str(item.get("category") or "")[:32].upper(),
                    "parameter_format": parameter_format[:16].upper(),
                    "components": components,
                    "synced_at": now,
                },
            )
            kept.append(row.pk)
        removed, _by_model = (
            WhatsAppTemplate.objects.filter(inbox=inbox).exclude(pk__in=kept).delete()
        )
    logger.info("inbox %s: %s WhatsApp templates synced, %s removed", inbox.pk, len(kept), removed)
    return len(kept), removed


def do_request_template_sync(inbox: Inbox) -> None:
    """Queue a sync of the inbox's WhatsApp templates from Meta (a durable task: the request
    answers at once, the worker calls the Graph API)."""
    if inbox.kind != "whatsapp":
        raise InvalidInput(gettext("Only WhatsApp Cloud API inboxes have message templates."))
    sync_whatsapp_templates.enqueue(inbox.pk)


def do_send_whatsapp_template(
    conversation: Conversation,
    template: WhatsAppTemplate,
    values: dict[str, str],
    *,
    actor: User,
    client_id: str | None = None,
    options: Sequence[ReplyChannel] | None = None,
) -> tuple[Message, bool]:
    """An agent sends an approved WhatsApp template to the conversation's customer, its
    parameters filled with `values` (checked against the template: connectors.templates). It
    is an agent's reply (conversations.replies.do_send_reply: the outbox, idempotent on
    client_id) through the template's inbox, allowed whatever the 24-hour window; the message
    text is the filled-in template, as the customer reads it. InvalidInput names what is wrong."""
    if not template.approved:
        raise InvalidInput(
            gettext("This template cannot be sent: Meta's status is %(status)s.")
            % {"status": template.status or "unknown"}
        )
    payload, text = build_template(
        name=template.name,
        language=template.language,
        components=template.components,
        parameter_format=template.parameter_format,
        values=values,
    )
    return do_send_reply(
        conversation,
        text[:MAX_TEXT],
        actor=actor,
        client_id=client_id,
        options=options,
        template=payload,
        template_inbox_id=template.inbox_id,
    )
