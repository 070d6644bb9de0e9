"""The channel pipeline's background work: processing stored webhooks, and the outbox.

    process_webhook_event(event_id)  stored raw event → connector.parse → actions; the event
                                     ends processed, ignored (nothing to do, a malformed
                                     payload, a sender refused: with the reason) or failed
                                     (anything that may pass: replay it)
    deliver_message(message_id)      QUEUED outbound message → connector.send → recorded
    refetch_attachments(message_id, attempt)
                                     a customer's files the provider did not hand over at
                                     first (busy, silent) → fetched again, with backoff
                                     (connectors.actions.do_refetch_attachments)

Both are enqueued inside the transaction of the change they follow (the task table is the
outbox) and are idempotent: running one twice — a replay, a worker that died mid-run and was
requeued — changes nothing the first run already did.

Delivery is at-least-once. The outbox records the provider's id only after the provider's API
answered; if the worker dies in between, the task is run again (core.worker's stalled-task
requeue) and the message is sent again. Connectors pass `OutboundMessage.message_id` (and
`extra["idempotency_key"]`) to providers that accept an idempotency key, and email reuses a
Message-ID derived from it, so those duplicates collapse; on the others (SMS, Telegram, Meta,
WeChat) the customer may, rarely, receive a message twice. A lost message would be worse.
"""

from __future__ import annotations

import logging
import random
from dataclasses import replace
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django_tasks import task

from teamline.conversations.delivery import (
    do_fail_delivery,
    do_record_send_result,
    do_schedule_delivery_retry,
    do_update_delivery_status,
)
from teamline.conversations.models import DeliveryStatus, Direction, Inbox, Message
from teamline.core import jsonsafe
from teamline.core.compiled import CompiledOnce, CompiledUpdate
from teamline.core.errors import InvalidInput
from teamline.core.jsonsafe import clean_text
from teamline.core.redaction import redact, redact_data

from .base import (
    Connector,
    MalformedPayload,
    OutboundAttachment,
    OutboundMessage,
    ParsedEvent,
    PermanentSendError,
    TransientSendError,
    WebhookRequest,
    connector_for_inbox,
    connector_for_provider,
)
from .media import links_text, signed_url
from .meta import MetaConnector
from .models import WebhookEvent, WebhookEventStatus

logger = logging.getLogger(__name__)

# A delivery receipt can overtake the outbox's record of the provider id (the provider calls
# back before send() returned): such an event is looked at again a few times before it is
# ignored as a receipt for a message Teamline did not send.
STATUS_RECHECKS = 4
MAX_BACKOFF_SECONDS = 3600.0


# --- Inbound ----------------------------------------------------------------------------------


def request_of(event: WebhookEvent) -> WebhookRequest:
    """The stored request, as the connector's parse() wants it."""
    meta: dict[str, Any] = event.request_meta or {}
    return WebhookRequest(
        method=str(meta.get("method") or "POST"),
        url=str(meta.get("url") or ""),
        path_suffix=str(meta.get("path_suffix") or ""),
        query={str(k): [str(v) for v in vs] for k, vs in (meta.get("query") or {}).items()},
        headers={str(k): str(v) for k, v in (event.headers or {}).items()},
        body=bytes(event.body),
        remote_addr=str(meta.get("remote_addr") or ""),
    )


# The outcome of every processing attempt, and the event itself with its inbox: written and
# read once per webhook, compiled once (core/compiled.py).
_write_outcome = CompiledUpdate(
    WebhookEvent, ["status", "error", "processed_at"], increments=["attempts"]
)
_event_with_inbox = CompiledOnce(
    lambda pk: WebhookEvent.objects.select_related("inbox", "inbox__default_team").filter(pk=pk)
)


def _mark(event: WebhookEvent, status: str, error: str = "") -> None:
    """Record the outcome of one processing attempt: its status, its reason and the attempt
    itself (counted here, with the outcome, rather than by a statement of its own first)."""
    # A reason may quote the payload (connectors.payloads shows the wrong value): masked too.
    event.status = status
    event.error = redact(jsonsafe.clean_text(error[:4000]), event.inbox.redaction_kinds)
    event.processed_at = timezone.now()
    _write_outcome.update(event)


def _cleaned(parsed: ParsedEvent, kinds: frozenset[str] = frozenset()) -> ParsedEvent:
    """The parsed event with every text a provider sent made storable (core.jsonsafe.clean:
    NUL removed, lone surrogates → U+FFFD), whatever the connector parsed it from — JSON, a
    form (SMS), MIME (email), XML. A delivery was acknowledged: it is cleaned, never refused.
    What the customer wrote is masked by `kinds` (the inbox's redaction) before any later
    step may log it."""
    messages = tuple(
        replace(
            message,
            external_id=clean_text(message.external_id),
            sender_value=clean_text(message.sender_value),
            sender_name=redact(clean_text(message.sender_name), kinds),
            text=redact(clean_text(message.text), kinds),
            content=redact_data(jsonsafe.clean(message.content), kinds),
            attachments=tuple(
                replace(
                    attachment,
                    filename=redact(clean_text(attachment.filename), kinds),
                    content_type=clean_text(attachment.content_type),
                )
                for attachment in message.attachments
            ),
        )
        for message in parsed.messages
    )
    statuses = tuple(
        replace(
            status,
            provider_message_id=clean_text(status.provider_message_id),
            error=clean_text(status.error),
        )
        for status in parsed.statuses
    )
    return replace(parsed, messages=messages, statuses=statuses, ignored=clean_text(parsed.ignored))


def _fetches_media(parsed: ParsedEvent) -> bool:
    """Whether storing the event downloads an attachment from the provider (network time)."""
    return any(a.data is None for message in parsed.messages for a in message.attachments)


def process_event(event_id: int, *, force: bool = False) -> str:
    """Process one stored webhook event; returns its new status ("deferred" when a receipt is
    looked at again later). Processed and ignored events are left alone unless `force`.

    The event is read, parsed and everything it changes — the senders resolved, the messages
    and receipts stored, the event marked with its outcome — written in one transaction: one
    commit per event instead of one per step, and a failure leaves nothing half-done behind
    (the event is then marked failed, kept for replay). Events are sent after that commit.

    The messages are stored optimistically, without a savepoint each: a provider's resend of
    a message stored before makes the unique index refuse its INSERT, which rolls the whole
    transaction back; the event is then stored again carefully (each message in its own
    savepoint, a resend answered by the stored message). Only a resend pays for that.

    An event with media to download from the provider is the exception: the downloads must
    not hold a transaction open, so its steps commit one by one, as each action does by
    itself. Each attempt is counted with its outcome."""
    event: WebhookEvent | None = None
    parsed_by: tuple[Connector, ParsedEvent] | None = None
    try:
        try:
            with transaction.atomic():
                event = _event_with_inbox.first(int(event_id))
                if event is None:
                    return "missing"
                done = (WebhookEventStatus.PROCESSED, WebhookEventStatus.IGNORED)
                if event.status in done and not force:
                    return str(event.status)
                inbox = event.inbox
                connector = connector_for_provider(event.provider, inbox.kind)
                if connector is None:
                    reason = f"no connector for provider {event.provider!r}"
                    _mark(event, WebhookEventStatus.FAILED, reason)
                    return WebhookEventStatus.FAILED
                try:
                    parsed = _cleaned(
                        connector.parse(inbox, request_of(event)), inbox.redaction_kinds
                    )
                except MalformedPayload as exc:
                    reason = _redact_secrets(exc.reason, inbox)
                    logger.info(
                        "webhook event %s (%s) ignored: %s", event.pk, event.provider, reason
                    )
                    _mark(event, WebhookEventStatus.IGNORED, reason)
                    return WebhookEventStatus.IGNORED
                parsed_by = (connector, parsed)
                if not _fetches_media(parsed):
                    return _store(event, connector, parsed, careful=False)
        except IntegrityError:
            if event is None or parsed_by is None:
                raise
            # A resend refused by the unique index (see above): everything rolled back.
            with transaction.atomic():
                return _store(event, *parsed_by, careful=True)
        # Media: the read committed; the downloads run outside any transaction.
        assert parsed_by is not None  # every other way out returned above
        return _store(event, *parsed_by, careful=True)
    except Exception as exc:
        if event is None:
            raise
        # Anything else may pass (an outage, a bug fixed later): failed, kept for replay.
        reason = _redact_secrets(f"{type(exc).__name__}: {exc}", event.inbox)
        logger.warning("webhook event %s (%s) failed: %s", event.pk, event.provider, reason)
        _mark(event, WebhookEventStatus.FAILED, reason)
        return WebhookEventStatus.FAILED


def _redact_secrets(text: str, inbox: Inbox) -> str:
    # connectors.actions enqueues this module's tasks: the import stays here (one app's cycle).
    from .actions import redact as redact_secrets

    return redact_secrets(text, inbox)


def _store(event: WebhookEvent, connector: Connector, parsed: ParsedEvent, *, careful: bool) -> str:
    """What one parsed event changes, and its outcome marked (process_event's transaction).
    Not `careful`: a resent message's refused INSERT is not caught (process_event retries)."""
    # connectors.actions enqueues this module's tasks: the import stays here (one app's cycle).
    from .actions import do_receive_inbound

    inbox = event.inbox
    unknown: list[str] = []
    refused: list[str] = []
    for inbound in parsed.messages:
        try:
            do_receive_inbound(inbox, inbound, connector=connector, savepoint=careful)
        except InvalidInput as exc:
            # The payload's own content is refused (a sender that is no valid identity):
            # the same bytes can never be stored, so it is noted, not retried.
            refused.append(f"message {inbound.external_id}: {exc.message}")
    channel = connector.channel_for_kind.get(inbox.kind, inbox.kind)
    for update in parsed.statuses:
        found = do_update_delivery_status(
            update.channel or channel,
            update.provider_message_id,
            update.status,
            update.error,
            inbox=inbox,
        )
        if found is None:
            unknown.append(update.provider_message_id)
    if refused and len(refused) == len(parsed.messages) and not parsed.statuses:
        _mark(event, WebhookEventStatus.IGNORED, "refused " + "; ".join(refused))
        return WebhookEventStatus.IGNORED
    only_unknown = bool(unknown) and not parsed.messages and len(unknown) == len(parsed.statuses)
    attempts = event.attempts + 1
    if only_unknown and attempts < STATUS_RECHECKS:
        WebhookEvent.objects.filter(pk=event.pk).update(
            status=WebhookEventStatus.PENDING,
            error=f"receipt for a message not recorded yet ({', '.join(unknown)[:200]})",
            attempts=F("attempts") + 1,
        )
        run_after = timezone.now() + timedelta(seconds=2**attempts)
        process_webhook_event.using(run_after=run_after).enqueue(event.pk)
        return "deferred"
    if only_unknown:
        _mark(event, WebhookEventStatus.IGNORED, f"receipts for unknown messages: {unknown}")
        return WebhookEventStatus.IGNORED
    if not parsed.messages and not parsed.statuses:
        _mark(event, WebhookEventStatus.IGNORED, parsed.ignored or "nothing to process")
        return WebhookEventStatus.IGNORED
    notes = [f"receipts for unknown messages: {unknown}"] if unknown else []
    notes += [f"refused {reason}" for reason in refused]
    _mark(event, WebhookEventStatus.PROCESSED, "; ".join(notes))
    return WebhookEventStatus.PROCESSED


@task()
def process_webhook_event(event_id: int) -> str:
    return process_event(event_id)


@task()
def refetch_attachments(message_id: int, attempt: int) -> str:
    # connectors.actions enqueues this module's tasks: the import stays here (one app's cycle).
    from .actions import do_refetch_attachments

    return do_refetch_attachments(message_id, attempt)


# --- Outbound ---------------------------------------------------------------------------------


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with ±20 % jitter: base, 2×base, 4×base… capped at an hour."""
    base = float(settings.TEAMLINE["OUTBOX_BACKOFF_SECONDS"])
    return min(base * 2 ** max(attempt - 1, 0), MAX_BACKOFF_SECONDS) * random.uniform(0.8, 1.2)


def outbound_extra(message: Message) -> dict[str, Any]:
    """Channel-neutral context a connector may use (email threading, idempotency keys)."""
    thread = list(
        Message.objects.filter(
            conversation_id=message.conversation_id,
            channel=message.channel,
            is_internal=False,
            automated=False,
        )
        .exclude(pk=message.pk)
        .filter(created_at__lte=message.created_at)
        .order_by("created_at", "pk")
        .values("direction", "external_id", "provider_message_id", "content")
    )
    references: list[str] = []
    in_reply_to = ""
    subject = ""
    for item in thread:
        if item["direction"] == Direction.INBOUND:
            ref = item["external_id"] or ""
            in_reply_to = ref or in_reply_to
            subject = subject or str((item["content"] or {}).get("subject") or "")
        else:
            ref = item["provider_message_id"] or ""
        if ref:
            references.append(ref)
    customer = message.conversation.customer
    extra: dict[str, Any] = {}
    choices = (message.content or {}).get("choices")
    if isinstance(choices, list) and choices:
        # Answers to tap (a survey's scores): buttons where the channel has them.
        extra["choices"] = [
            {"id": str(c.get("id") or ""), "title": str(c.get("title") or "")}
            for c in choices
            if isinstance(c, dict)
        ]
        extra["choices_button"] = str((message.content or {}).get("choices_button") or "")
    return {
        **extra,
        "idempotency_key": f"teamline-message-{message.pk}",
        "channel": message.channel,
        "conversation_id": message.conversation_id,
        "customer_name": customer.name,
        "agent_name": message.sender_user.name if message.sender_user else "",
        "in_reply_to": in_reply_to,
        "references": references,
        "subject": subject,
    }


def _attachments_of(message: Message) -> tuple[OutboundAttachment, ...]:
    """The message's files, each with a fresh signed URL the provider may fetch it from."""
    found = []
    for attachment in message.attachments.all():
        with attachment.file.open("rb") as handle:
            data = handle.read()
        found.append(
            OutboundAttachment(
                attachment.filename, attachment.content_type, data, url=signed_url(attachment)
            )
        )
    return tuple(found)


def _text_and_attachments(
    message: Message, connector: Connector
) -> tuple[str, tuple[OutboundAttachment, ...]]:
    """What send() gets: the files themselves where the channel carries them, else a link to
    each in the text (valid TEAMLINE_MEDIA_LINK_SECONDS: the customer opens it later)."""
    if connector.carries_media:
        return message.text, _attachments_of(message)
    links = [(a.filename, signed_url(a, link=True)) for a in message.attachments.all()]
    return (links_text(message.text, links) if links else message.text), ()


def deliver(message_id: int) -> str:
    """One delivery attempt of a QUEUED outbound message; returns what happened."""
    from .actions import redact

    # Claim the attempt: only a queued message without a provider id is (still) to be sent.
    claimed = Message.objects.filter(
        pk=message_id, delivery_status=DeliveryStatus.QUEUED, provider_message_id=""
    ).update(delivery_attempts=F("delivery_attempts") + 1)
    if not claimed:
        return "nothing to do"
    message = Message.objects.select_related(
        "inbox", "conversation", "conversation__customer", "sender_user"
    ).get(pk=message_id)
    inbox = message.inbox
    if inbox is None or not inbox.is_active:
        do_fail_delivery(message, "The inbox for this channel is missing or switched off.")
        return DeliveryStatus.FAILED
    connector: Connector | None = connector_for_inbox(inbox)
    if connector is None:
        do_fail_delivery(message, f"No {inbox.get_kind_display()} connector is installed.")
        return DeliveryStatus.FAILED
    to = str(((message.content or {}).get("to") or {}).get("value") or "")
    if not to:
        do_fail_delivery(message, "No recipient address for this channel.")
        return DeliveryStatus.FAILED
    text, attachments = _text_and_attachments(message, connector)
    outbound = OutboundMessage(
        message_id=message.pk,
        to=to,
        text=text,
        attachments=attachments,
        extra=outbound_extra(message),
    )
    attempts = message.delivery_attempts
    try:
        result = connector.send(inbox, outbound)
    except PermanentSendError as exc:
        do_fail_delivery(message, redact(str(exc) or "refused by the provider", inbox))
        return DeliveryStatus.FAILED
    except Exception as exc:
        reason = redact(str(exc) or type(exc).__name__, inbox)
        if not isinstance(exc, TransientSendError):
            logger.warning("unexpected error sending message %s: %r", message.pk, reason)
        if attempts >= settings.TEAMLINE["OUTBOX_MAX_ATTEMPTS"]:
            do_fail_delivery(message, f"Gave up after {attempts} attempts: {reason}")
            return DeliveryStatus.FAILED
        run_after = timezone.now() + timedelta(seconds=backoff_seconds(attempts))
        do_schedule_delivery_retry(message, reason, run_after=run_after)
        return "retry"
    do_record_send_result(
        message,
        provider_message_id=result.provider_message_id,
        status=result.status,
        segments=result.segments,
    )
    return message.delivery_status


@task()
def deliver_message(message_id: int) -> str:
    return deliver(message_id)


# --- WhatsApp templates -------------------------------------------------------------------------


@task()
def sync_whatsapp_templates(inbox_id: int) -> str:
    """Fetch the WhatsApp inbox's templates from Meta and store them (connectors.actions.
    do_sync_whatsapp_templates). A provider error fails the task with the reason, kept in the
    task's result for the admin; nothing stored changes."""
    from .actions import do_sync_whatsapp_templates

    inbox = Inbox.objects.filter(pk=inbox_id, is_active=True).first()
    if inbox is None:
        return "no such active inbox"
    templates = MetaConnector().list_templates(inbox)
    kept, removed = do_sync_whatsapp_templates(inbox, templates)
    return f"{kept} templates, {removed} removed"
