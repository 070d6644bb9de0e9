"""Privacy requests: export a customer's data, erase a customer, and the daily retention of
message bodies per inbox. Every change here is an action (docs/adr/0005); the API and the
tasks only call these.

Erasure (`do_request_erasure` then, in the durable task, `do_erase_customer`):

- deleted: identities and step-up passkeys; message texts, structured content (email parts,
  cards) and delivery errors; attachment rows and their files (call recordings are attachments);
  the customer's and merged customers' names and attributes; the phone numbers of callbacks,
  appointments and phone-menu calls and what the menu said to them; free text in the timeline
  (reasons); the raw provider deliveries (webhook bodies) that carry one of the customer's
  identities; the text of their community questions and answers (hidden, and search indexed
  again); their messages' and profile's documents in the desk search index (search/actions.py),
  whose full-text index on SQLite is then merged so the words leave its pages too; the
  comments of their survey answers;
- kept, anonymised: the customer row (id, language, channel, team, region, times), the
  conversation and message rows (times, direction, channel, status, delivery outcome), calls,
  work items, self-service episodes, proactive notices and rule firings, survey scores — the
  counts, times and outcomes the figures need;
- kept as the fact of erasure: the `Erasure` tombstone (customer id, when, by whom, counts)
  and two audit entries (`customer.erased`: requested, then done).

Files first, rows after: a crash between them leaves rows whose files are gone, and the retry
(the task runs again, every step idempotent) removes the rows. On SQLite, deleted content is
overwritten (PRAGMA secure_delete, set on every connection in settings) and the write-ahead
log is checkpointed and truncated afterwards, so the text is gone from the files themselves.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import IO, Any

from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.http import HttpRequest
from django.utils import timezone

from teamline.accounts.models import User
from teamline.audit.actions import do_audit
from teamline.audit.models import AuditAction
from teamline.calls.models import Call
from teamline.community.models import Post, PostKind
from teamline.community.search import index_question
from teamline.connectors.models import WebhookEvent
from teamline.conversations.models import Attachment, Message, TimelineEvent, Whisper
from teamline.customers.models import (
    Customer,
    CustomerMerge,
    CustomerPasskey,
    Identity,
    PasskeyChallenge,
)
from teamline.proactive.erasure import do_erase_customer_records
from teamline.routing.models import Appointment, Callback
from teamline.search.actions import do_forget_customer, purge_index
from teamline.selfservice.models import VoiceCall, VoiceCallStep
from teamline.surveys.actions import do_erase_survey_comments

from . import queries
from .archive import build_export
from .models import Erasure, ErasureState, RetentionPolicy, RetentionRun

logger = logging.getLogger(__name__)

BATCH = 500
# Timeline data keys that hold text someone typed or said (a transfer's reason, a call's end
# reason from the provider); other keys are states, ids and times, kept for the figures.
FREE_TEXT_KEYS = frozenset({"reason", "note", "text", "body", "subject", "name", "phone"})
# How long one worker holds the day's retention run before another may take it over.
RETENTION_CLAIM = timedelta(minutes=10)


# --- Export -----------------------------------------------------------------------------------


def do_export_customer(
    customer: Customer, *, actor: User, request: HttpRequest | None = None
) -> IO[bytes]:
    """The customer's archive (privacy/archive.py), rewound; audited as `customer.exported`
    with its counts. Changes nothing else, so asking again is harmless."""
    archive, counts = build_export(customer)
    do_audit(
        AuditAction.CUSTOMER_EXPORTED,
        actor=actor,
        target_type="customer",
        target_id=customer.pk,
        request=request,
        data={"counts": counts},
    )
    return archive


# --- Erasure ----------------------------------------------------------------------------------


def do_request_erasure(
    customer: Customer, *, actor: User, request: HttpRequest | None = None
) -> tuple[Erasure, bool]:
    """Record that `customer` is to be erased and enqueue the erasure task, in one
    transaction (the task table is the outbox). Asking again returns the same tombstone and
    enqueues nothing: (erasure, created). Audited (`customer.erased`, stage "requested") once.
    """
    from .tasks import erase_customer  # tasks import actions; a cycle inside the app

    with transaction.atomic():
        erasure, created = Erasure.objects.get_or_create(
            customer_id_copy=customer.pk,
            defaults={
                "requested_by_id": actor.pk,
                "requested_by": actor.get_username()[:150],
            },
        )
        if created:
            do_audit(
                AuditAction.CUSTOMER_ERASED,
                actor=actor,
                target_type="customer",
                target_id=customer.pk,
                request=request,
                data={"stage": "requested"},
            )
            erase_customer.enqueue(customer.pk)
    return erasure, created


def do_erase_customer(customer_id: int) -> Erasure | None:
    """The erasure itself (run by the durable task). Idempotent: a finished erasure does
    nothing; an interrupted one is done again from the start, each step a no-op when already
    done. Locks the customer row; emits no event (the desk re-reads the anonymised rows)."""
    erasure = queries.erasure_of(customer_id)
    if erasure is None or erasure.state == ErasureState.DONE:
        return erasure
    Erasure.objects.filter(pk=erasure.pk).update(attempts=F("attempts") + 1)
    customer = Customer.objects.filter(pk=customer_id).first()
    removed: dict[str, int] = {}
    if customer is not None:
        files = _delete_files(queries.attachments_of(customer))
        with transaction.atomic():
            customer = Customer.objects.select_for_update().get(pk=customer_id)
            removed = _erase_rows(customer)
            removed["attachment_files"] = files
    with transaction.atomic():
        done = Erasure.objects.filter(pk=erasure.pk, state=ErasureState.REQUESTED).update(
            state=ErasureState.DONE, completed_at=timezone.now(), removed=removed
        )
        if done:
            do_audit(
                AuditAction.CUSTOMER_ERASED,
                target_type="customer",
                target_id=customer_id,
                data={"stage": "done", "removed": removed},
            )
    purge_index()
    compact_database()
    erasure.refresh_from_db()
    return erasure


def _delete_files(attachments: Any) -> int:
    """Delete the stored files of `attachments` (a missing one counts as deleted)."""
    deleted = 0
    for attachment in attachments.only("pk", "file").iterator(chunk_size=BATCH):
        if attachment.file.name:
            attachment.file.storage.delete(attachment.file.name)
            deleted += 1
    return deleted


def _erase_rows(customer: Customer) -> dict[str, int]:
    ids = queries.customer_ids_of(customer)
    identity_values = list(
        Identity.objects.filter(customer_id__in=ids).values_list("value", flat=True)
    )
    # By identity only: a delivery naming the customer carries their phone, address or id,
    # and a name alone ("Anna") would match other people's deliveries.
    webhook_ids = queries.webhook_events_naming(customer, identity_values)
    removed = {
        "identities": Identity.objects.filter(customer_id__in=ids).delete()[0],
        # Step-up passkeys (public keys) and their pending challenges.
        "passkeys": CustomerPasskey.objects.filter(customer_id__in=ids).delete()[0]
        + PasskeyChallenge.objects.filter(customer_id__in=ids).delete()[0],
        "message_bodies": queries.messages_of(customer)
        .filter(~Q(text="") | ~Q(content={}) | ~Q(delivery_error=""))
        .update(text="", content={}, delivery_error=""),
        "attachments": Attachment.objects.filter(
            pk__in=list(queries.attachments_of(customer).values_list("pk", flat=True))
        ).delete()[0],
        "timeline_texts": _scrub_timeline(queries.timeline_of(customer)),
        # Supervisors' whispers about their conversations (staff only, but about them).
        "whisper_texts": Whisper.objects.filter(conversation__customer_id__in=ids)
        .exclude(text="")
        .update(text=""),
        "phone_menu_calls": VoiceCall.objects.filter(customer=customer)
        .exclude(caller="")
        .update(caller=""),
        "phone_menu_steps": VoiceCallStep.objects.filter(call__customer=customer)
        .exclude(script=[])
        .update(script=[]),
        "callbacks": Callback.objects.filter(customer=customer).exclude(phone="").update(phone=""),
        "appointments": Appointment.objects.filter(customer=customer)
        .exclude(phone="")
        .update(phone=""),
        "calls": Call.objects.filter(customer=customer)
        .exclude(end_reason="")
        .update(end_reason=""),
        "webhook_bodies": WebhookEvent.objects.filter(pk__in=webhook_ids).update(
            body=b"", headers={}, request_meta={}
        ),
        "merge_records": CustomerMerge.objects.filter(target=customer).update(
            source_name="", identities=[], attributes={}
        ),
        # Proactive care: the operator's events about them (and any still waiting under one
        # of their identities) deleted; notices and rule firings kept for the counts, emptied
        # of the event's values and of the addresses a failed notice names.
        **do_erase_customer_records(ids, identity_values),
    }
    removed["community_posts"] = _erase_posts(customer)
    # Surveys: the scores stay for the KPIs, the words they wrote go.
    removed["survey_comments"] = do_erase_survey_comments(ids)
    # Desk search forgets their messages and profile now, not when the indexer next runs.
    removed.update(do_forget_customer(ids))
    removed["profiles"] = Customer.objects.filter(pk__in=ids).update(
        name="", attributes={}, updated_at=timezone.now()
    )
    return removed


def _erase_posts(customer: Customer) -> int:
    """The customer's community questions and answers: text, title and shown name emptied and
    the posts hidden (rows, votes and others' answers stay); every question they touched is
    indexed again, so search forgets their words."""
    posts = queries.community_posts_of(customer)
    touched = set(posts.filter(kind=PostKind.QUESTION).values_list("pk", flat=True))
    touched |= set(posts.exclude(question=None).values_list("question_id", flat=True))
    erased = posts.exclude(body="", title="", author_name="", hidden=True).update(
        body="", title="", author_name="", hidden=True, hidden_at=timezone.now()
    )
    for question in Post.objects.filter(pk__in=touched).order_by("pk"):
        index_question(question)
    return erased


def _scrub_timeline(events: Any) -> int:
    changed = 0
    for event in events.only("pk", "data").iterator(chunk_size=BATCH):
        data = event.data if isinstance(event.data, dict) else {}
        kept = {key: value for key, value in data.items() if key not in FREE_TEXT_KEYS}
        if kept != event.data:
            TimelineEvent.objects.filter(pk=event.pk).update(data=kept)
            changed += 1
    return changed


def compact_database() -> dict[str, Any]:
    """After an erasure or a retention run: on SQLite, copy the write-ahead log into the
    database file and truncate it (the deleted content was overwritten there by
    secure_delete), so no old copy of a page stays in the -wal file. Elsewhere nothing: on
    PostgreSQL the rows are gone at once and VACUUM reclaims their space (docs/security.md).
    A checkpoint blocked by a reader (busy) is logged; the next one completes it."""
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        return {}
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        busy, log_frames, checkpointed = cursor.fetchone()
    if busy:
        logger.warning("privacy: WAL checkpoint busy (%s of %s frames)", checkpointed, log_frames)
    return {"busy": busy, "log_frames": log_frames, "checkpointed": checkpointed}


# --- Retention --------------------------------------------------------------------------------


def do_set_retention(inbox: Any, days: int | None, *, actor: User) -> RetentionPolicy | None:
    """Set (or with None remove) how many days `inbox` keeps message bodies. Audited as a
    settings change."""
    with transaction.atomic():
        if days is None:
            RetentionPolicy.objects.filter(inbox=inbox).delete()
            policy = None
        else:
            policy, _ = RetentionPolicy.objects.update_or_create(
                inbox=inbox, defaults={"message_body_days": days}
            )
        do_audit(
            AuditAction.SETTINGS_CHANGED,
            actor=actor,
            target_type="inbox",
            target_id=inbox.pk,
            data={"retention_days": days},
        )
    return policy


def expired_messages(policy: RetentionPolicy, now: datetime, *, after: int = 0) -> Any:
    """Messages that came in or went out through the policy's inbox (or, without an inbox of
    their own, belong to a conversation that started there), older than its days, that still
    have a body or a file; by id from `after` on, so a run walks the table once."""
    cutoff = now - timedelta(days=policy.message_body_days)
    inbox = Q(inbox=policy.inbox) | Q(inbox__isnull=True, conversation__inbox=policy.inbox)
    has_file = Exists(Attachment.objects.filter(message=OuterRef("pk")))
    has_body = ~Q(text="") | ~Q(content={}) | Q(has_file)
    return Message.objects.filter(inbox, has_body, created_at__lt=cutoff, pk__gt=after).order_by(
        "pk"
    )


def do_apply_retention(now: datetime | None = None) -> RetentionRun | None:
    """The day's retention run: for every inbox with a policy, delete the bodies and files of
    its expired messages, `BATCH` messages per transaction. Runs once a day (the first worker
    to claim the day's row; a claim expires after RETENTION_CLAIM, so a dead worker's run is
    finished by the next slot). Audited once per day as a summary (`retention.applied`).
    Returns the finished run, or None when another worker holds it or it is done."""
    now = now or timezone.now()
    day = timezone.localdate(now)
    run, _ = RetentionRun.objects.get_or_create(day=day)
    claimed = (
        RetentionRun.objects.filter(pk=run.pk, finished_at__isnull=True)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + RETENTION_CLAIM)
    )
    if not claimed:
        return None
    per_inbox: dict[str, int] = {}
    for policy in RetentionPolicy.objects.select_related("inbox").order_by("pk"):
        cleared = 0
        after = 0
        while True:
            ids = list(
                expired_messages(policy, now, after=after).values_list("pk", flat=True)[:BATCH]
            )
            if not ids:
                break
            after = ids[-1]
            files = _delete_files(Attachment.objects.filter(message_id__in=ids))
            with transaction.atomic():
                attachments = Attachment.objects.filter(message_id__in=ids).delete()[0]
                count = Message.objects.filter(pk__in=ids).update(
                    text="", content={}, delivery_error=""
                )
                RetentionRun.objects.filter(pk=run.pk).update(
                    messages_cleared=F("messages_cleared") + count,
                    attachments_deleted=F("attachments_deleted") + max(attachments, files),
                    claimed_until=timezone.now() + RETENTION_CLAIM,
                )
            cleared += count
        if cleared:
            per_inbox[str(policy.inbox_id)] = cleared
    with transaction.atomic():
        RetentionRun.objects.filter(pk=run.pk).update(finished_at=timezone.now())
        run.refresh_from_db()
        do_audit(
            AuditAction.RETENTION_APPLIED,
            target_type="retention",
            target_id=day.isoformat(),
            data={
                "messages_cleared": run.messages_cleared,
                "attachments_deleted": run.attachments_deleted,
                "inboxes": per_inbox,
            },
        )
    compact_database()
    return run
