"""Delivery progress of outbound messages: providers' receipts (queued → sent → delivered →
read, or failed) and the outbox's outcomes (accepted, retried, given up).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction

from . import hooks
from .events import emit_message_updated
from .models import DeliveryStatus, Inbox, Message

# Delivery progress only moves forward; FAILED is terminal.
DELIVERY_RANK = {
    DeliveryStatus.QUEUED.value: 1,
    DeliveryStatus.SENT.value: 2,
    DeliveryStatus.DELIVERED.value: 3,
    DeliveryStatus.READ.value: 4,
}


def do_update_delivery_status(
    channel: str,
    provider_message_id: str,
    status: str,
    error: str = "",
    *,
    inbox: Inbox | None = None,
) -> Message | None:
    """A provider's delivery receipt for one of our outbound messages.

    Never moves a status backwards (queued < sent < delivered < read) and never leaves
    FAILED; `failed` applies only before delivery. One conditional UPDATE decides, so receipts
    arriving out of order or twice are harmless. With `inbox` (the provider account the receipt
    came through) only messages sent through it are looked at: provider ids are unique per
    account, not across accounts. Returns the message (changed or not), or None if no message
    on `channel` has that provider id. Emits message.updated (staff) on change.
    """
    if not provider_message_id:
        return None
    candidates = Message.objects.filter(channel=channel, provider_message_id=provider_message_id)
    if inbox is not None:
        candidates = candidates.filter(inbox=inbox)
    message = candidates.select_related("conversation", "sender_user").order_by("pk").first()
    if message is None:
        return None
    changes: dict[str, Any]
    if status == DeliveryStatus.FAILED:
        allowed = [DeliveryStatus.QUEUED.value, DeliveryStatus.SENT.value]
        changes = {"delivery_status": status, "delivery_error": (error or "failed")[:2000]}
    elif status in DELIVERY_RANK:
        allowed = [s for s, rank in DELIVERY_RANK.items() if rank < DELIVERY_RANK[status]]
        changes = {"delivery_status": status}
    else:
        return message
    with transaction.atomic():
        updated = Message.objects.filter(pk=message.pk, delivery_status__in=allowed).update(
            **changes
        )
        if updated:
            message.refresh_from_db()
            emit_message_updated(message)
    return message


def do_record_send_result(
    message: Message, *, provider_message_id: str, status: str, segments: int | None
) -> Message:
    """The provider accepted an outbound message: keep its id (status callbacks name it), the
    status it reported (queued or sent) and SMS segments. Emits message.updated (staff)."""
    status = status if status in DELIVERY_RANK else DeliveryStatus.SENT.value
    with transaction.atomic():
        Message.objects.filter(pk=message.pk, delivery_status=DeliveryStatus.QUEUED).update(
            provider_message_id=provider_message_id[:255],
            delivery_status=status,
            segments=segments,
            delivery_error="",
        )
        message.refresh_from_db()
        emit_message_updated(message)
    return message


def do_fail_delivery(message: Message, reason: str) -> Message:
    """The outbox gave up (permanent provider error, or too many transient ones): FAILED with
    the provider's reason, shown to the agent. Emits message.updated (staff)."""
    with transaction.atomic():
        Message.objects.filter(
            pk=message.pk,
            delivery_status__in=[DeliveryStatus.QUEUED, DeliveryStatus.SENT],
        ).update(delivery_status=DeliveryStatus.FAILED, delivery_error=(reason or "failed")[:2000])
        message.refresh_from_db()
        emit_message_updated(message)
    return message


def do_schedule_delivery_retry(message: Message, reason: str, *, run_after: datetime) -> Message:
    """A transient provider error: note it on the message (still queued) and enqueue the next
    attempt in the same transaction (the task table is the outbox). Emits message.updated."""
    with transaction.atomic():
        Message.objects.filter(pk=message.pk).update(delivery_error=f"Retrying: {reason}"[:2000])
        hooks.channels().enqueue_delivery(message.pk, run_after=run_after)
        message.refresh_from_db()
        emit_message_updated(message)
    return message
