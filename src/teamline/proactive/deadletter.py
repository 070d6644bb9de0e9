"""Poison batches: what happens to a batch of events whose rule evaluation fails.

The queue (proactive/stream.py, both modes) hands a batch to evaluation in one transaction;
an exception rolls it back. Before this module the batch was simply retried — every poll in
the database mode, where it blocked every event behind it, and every STREAM_CLAIM_SECONDS
with Redis, where it also kept the group "busy" so the sweep never republished anything —
and only logged. Now:

1. **Held.** The failing batch's events get a HeldEvent row pointing at a FailedBatch
   (`record_failure`, its own transaction after the rollback). Every read of the queue skips
   held events (`not_held`), so the rest of the stream flows; with Redis the entry is
   acknowledged — the retry is this module's, not the stream's.
2. **Retried with backoff.** The periodic sweep (`retry_due`) evaluates a due batch again:
   after EVENT_RETRY_SECONDS, then twice as long each time (30 s, 1 min, 2 min, 4 min with
   the defaults). A batch claims its attempt with a conditional UPDATE, so two workers never
   run the same one.
3. **Parked.** At the EVENT_RETRY_ATTEMPTS-th failure the batch's events are tried one by one,
   each in its own transaction: the good ones are evaluated (their reminders go out) and only
   those that still fail stay held, in the batch now PARKED — the dead letter. It is listed
   in the admin (Proactive care → Failed event batches), in the API
   (`GET /api/v1/events/failed`) and by `teamline failed-events list`, and counted by
   `proactive.queries.held_event_counts()` (reads in proactive/queries.py).
4. **Replayed.** Once the cause is fixed (a rule corrected or switched off, a release
   deployed), an admin replays it (`do_replay_failed_batch`: admin action, API, CLI): its
   events are evaluated now, together and else one by one; what still fails stays parked
   with the new error.

Evaluation is idempotent (docs/proactive.md, "Exactly once"), so an event evaluated by a
retry after a partial success elsewhere changes nothing twice. Nothing is lost: a held event
stays unevaluated and stored until it is evaluated; erasing its customer deletes it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from teamline.accounts.models import User
from teamline.core.errors import Forbidden

from .engine import evaluate_batch
from .models import Event, FailedBatch, FailedBatchState, HeldEvent

logger = logging.getLogger(__name__)

MAX_ERROR = 2000
# How long a worker holds a due batch's attempt before another may take it over (it died).
ATTEMPT_LEASE = timedelta(minutes=5)


def _attempts() -> int:
    return max(1, int(settings.TEAMLINE["EVENT_RETRY_ATTEMPTS"]))


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failure: EVENT_RETRY_SECONDS, doubled each time."""
    base = int(settings.TEAMLINE["EVENT_RETRY_SECONDS"])
    return timedelta(seconds=base * 2 ** max(0, attempts - 1))


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR]


def not_held() -> Any:
    """A filter for Event querysets: the event is not held by a failed batch (negate it:
    `.filter(~Exists(...))` is what this returns)."""
    return ~Exists(HeldEvent.objects.filter(event_id=OuterRef("pk")))


# --- 1. A batch failed -----------------------------------------------------------------------


def record_failure(ids: Iterable[int], exc: BaseException, *, now: datetime | None = None) -> int:
    """Hold the events `ids` (those not evaluated and not held yet) in a new FailedBatch, due
    again after the first backoff. Called after the failed transaction rolled back; returns how
    many events it held. Raises what the database raises (the caller keeps the old behaviour
    then: the batch is retried by the queue)."""
    now = now or timezone.now()
    logger.error("proactive: evaluating %s failed: %s", _span(ids), describe(exc))
    with transaction.atomic():
        fresh = list(
            Event.objects.filter(pk__in=sorted(set(ids)), evaluated_at__isnull=True)
            .filter(not_held())
            .values_list("pk", flat=True)
        )
        if not fresh:
            return 0
        batch = FailedBatch.objects.create(
            attempts=1,
            error=describe(exc),
            first_failed_at=now,
            last_failed_at=now,
            next_attempt_at=now + backoff(1),
        )
        # Another worker may have held some of them meanwhile (the same batch, redelivered):
        # those stay theirs.
        HeldEvent.objects.bulk_create(
            [HeldEvent(event_id=pk, batch=batch) for pk in fresh], ignore_conflicts=True
        )
        held = _remaining(batch.pk)
        if not held:
            batch.delete()
            return 0
        FailedBatch.objects.filter(pk=batch.pk).update(events_count=held)
    if _attempts() <= 1:
        _park(batch.pk, now=now)
    return held


def _span(ids: Iterable[int]) -> str:
    ids = sorted(set(ids))
    if not ids:
        return "no events"
    return f"{len(ids)} events ({ids[0]}…{ids[-1]})"


# --- 2. Retried with backoff -------------------------------------------------------------------


def _evaluate_held(batch_id: int, event_ids: list[int] | None = None) -> int:
    """Evaluate the held events of a batch (or the given ones of it) in one transaction, mark
    them evaluated and release them; raises what evaluation raises (all rolled back)."""
    with transaction.atomic():
        held = HeldEvent.objects.filter(batch_id=batch_id)
        if event_ids is not None:
            held = held.filter(event_id__in=event_ids)
        events = list(
            Event.objects.select_for_update()
            .filter(pk__in=held.values("event_id"), customer__isnull=False)
            .order_by("pk")
        )
        todo = [e for e in events if e.evaluated_at is None]
        if todo:
            evaluate_batch(todo)
            Event.objects.filter(pk__in=[e.pk for e in todo]).update(evaluated_at=timezone.now())
        # Released: evaluated now, evaluated already (a redelivery), or waiting for their
        # customer again (never: events with a customer keep it; a deleted one cascades).
        HeldEvent.objects.filter(batch_id=batch_id, event_id__in=[e.pk for e in events]).delete()
        return len(todo)


def _remaining(batch_id: int) -> int:
    return HeldEvent.objects.filter(batch_id=batch_id).count()


def _resolve(batch_id: int, now: datetime, **extra: Any) -> None:
    FailedBatch.objects.filter(pk=batch_id).update(
        state=FailedBatchState.RESOLVED,
        resolved_at=now,
        next_attempt_at=None,
        events_count=0,
        **extra,
    )


def retry_due(*, now: datetime | None = None, limit: int = 20) -> int:
    """The sweep's part: try again each RETRYING batch whose time has come (at most `limit`
    per call). Returns how many events were evaluated."""
    now = now or timezone.now()
    due = list(
        FailedBatch.objects.filter(state=FailedBatchState.RETRYING, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", "next_attempt_at")[:limit]
    )
    evaluated = 0
    for batch_id, due_at in due:
        # The claim: only the worker whose UPDATE moves the due time runs this attempt.
        claimed = FailedBatch.objects.filter(
            pk=batch_id, state=FailedBatchState.RETRYING, next_attempt_at=due_at
        ).update(next_attempt_at=now + ATTEMPT_LEASE)
        if claimed:
            evaluated += _attempt(batch_id, now)
    return evaluated


def _attempt(batch_id: int, now: datetime) -> int:
    try:
        done = _evaluate_held(batch_id)
    except Exception as exc:
        batch = FailedBatch.objects.get(pk=batch_id)
        attempts = batch.attempts + 1
        logger.error(
            "proactive: failed batch %s failed again (attempt %s of %s): %s",
            batch_id,
            attempts,
            _attempts(),
            describe(exc),
        )
        FailedBatch.objects.filter(pk=batch_id).update(
            attempts=attempts,
            error=describe(exc),
            last_failed_at=now,
            next_attempt_at=now + backoff(attempts),
        )
        if attempts >= _attempts():
            return _park(batch_id, now=now)
        return 0
    _resolve(batch_id, now)
    logger.info("proactive: failed batch %s evaluated on a retry (%s events)", batch_id, done)
    return done


# --- 3. Parked -------------------------------------------------------------------------------


def _one_by_one(batch_id: int, now: datetime) -> tuple[int, str]:
    """Try each held event of the batch alone; returns (evaluated, the first error)."""
    evaluated = 0
    first_error = ""
    for event_id in list(
        HeldEvent.objects.filter(batch_id=batch_id)
        .order_by("event_id")
        .values_list("event_id", flat=True)
    ):
        try:
            evaluated += _evaluate_held(batch_id, [event_id])
        except Exception as exc:
            first_error = first_error or describe(exc)
            logger.error("proactive: event %s of batch %s fails alone: %s", event_id, batch_id, exc)
    return evaluated, first_error


def _park(batch_id: int, *, now: datetime) -> int:
    """The last attempt failed: evaluate the batch's events one by one; park what still fails
    (the batch, PARKED, holding only those), or resolve it when nothing does. Returns how many
    events were evaluated."""
    evaluated, error = _one_by_one(batch_id, now)
    left = _remaining(batch_id)
    if not left:
        _resolve(batch_id, now)
        return evaluated
    FailedBatch.objects.filter(pk=batch_id).update(
        state=FailedBatchState.PARKED,
        parked_at=now,
        next_attempt_at=None,
        events_count=left,
        error=error or FailedBatch.objects.get(pk=batch_id).error,
    )
    logger.error(
        "proactive: failed batch %s parked with %s events (%s evaluated alone); "
        "replay it once the cause is fixed",
        batch_id,
        left,
        evaluated,
    )
    return evaluated


# --- 4. Replayed -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Replay:
    evaluated: int
    still_failing: int
    error: str


def do_replay_failed_batch(
    batch: FailedBatch, *, actor: User, now: datetime | None = None
) -> Replay:
    """Evaluate a parked (or retrying) batch's events now (admins): together, and when that
    fails one by one. What is evaluated is released; what still fails stays parked with the
    new error (and one more attempt counted). A resolved batch has nothing to do."""
    if not (actor.is_active and actor.is_admin):
        raise Forbidden("Only admins replay failed event batches.")
    now = now or timezone.now()
    if batch.state == FailedBatchState.RESOLVED or not _remaining(batch.pk):
        return Replay(0, 0, "")
    FailedBatch.objects.filter(pk=batch.pk).update(replayed_by=actor, replayed_at=now)
    try:
        evaluated = _evaluate_held(batch.pk)
        error = ""
    except Exception as exc:
        evaluated, error = _one_by_one(batch.pk, now)
        error = error or describe(exc)
    left = _remaining(batch.pk)
    if not left:
        _resolve(batch.pk, now)
    else:
        FailedBatch.objects.filter(pk=batch.pk).update(
            state=FailedBatchState.PARKED,
            parked_at=now,
            attempts=batch.attempts + 1,
            last_failed_at=now,
            next_attempt_at=None,
            events_count=left,
            error=error,
        )
    batch.refresh_from_db()
    return Replay(evaluated, left, error)
