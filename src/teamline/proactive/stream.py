"""The event queue between ingest and rule evaluation (docs/adr/0007-proactive-event-stream.md).

Two modes, one contract — the database is the truth, the queue only says "look at these":

- `database` (the embedded default): the Event table is the queue. Events of known customers
  with no `evaluated_at` wait; each worker's consumer loop claims the oldest batch under row
  locks (SKIP LOCKED on PostgreSQL; SQLite's IMMEDIATE transactions serialise claims),
  evaluates it and marks it evaluated in the same transaction.
- `redis` (PostgreSQL + Redis): ingest appends the stored ids to a Redis stream after commit;
  `teamline worker` processes read it through one consumer group, so each batch goes to one
  worker; a batch is acknowledged only after its evaluation committed, and a batch a dead
  worker held is claimed by another after STREAM_CLAIM_SECONDS (XAUTOCLAIM).

In both modes a batch is evaluated in one transaction that also sets `evaluated_at`, and rows
already evaluated are skipped, so a redelivered batch changes nothing. What never reached the
stream (Redis down, a crash between commit and publish, a Redis restart: Redis here keeps the
stream in memory only) is found by `sweep`: events unevaluated for longer than
STREAM_REPUBLISH_SECONDS while the consumer group has nothing pending are published again.

A batch whose evaluation fails is not retried here: its events are held out of the queue and
retried with backoff, then parked for an admin (proactive/deadletter.py). With Redis its entry
is acknowledged like any other.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from teamline.core.bulk import in_values

from . import deadletter
from .engine import ROW_FIELDS, EventRow, evaluate_batch
from .models import Event, HeldEvent
from .redis_stream import RedisEventStream

logger = logging.getLogger(__name__)


def _config(name: str) -> Any:
    return settings.TEAMLINE[name]


def mode() -> str:
    """ "redis" or "database" (TEAMLINE["EVENT_STREAM"])."""
    return str(_config("EVENT_STREAM"))


# --- Evaluation (both modes) -----------------------------------------------------------------


def evaluate_ids(ids: Iterable[int]) -> int:
    """Evaluate the events `ids` that are not evaluated yet, in one transaction that marks them
    evaluated; returns how many were evaluated. Rows another worker is evaluating right now
    are waited for (and then skipped: they are evaluated)."""
    ids = sorted(set(ids))
    if not ids:
        return 0
    try:
        with transaction.atomic():
            # The rows by primary key only; whether each still waits is read from the row.
            # With `evaluated_at IS NULL` in the WHERE, PostgreSQL may answer through the
            # partial index of the whole queue (event_unevaluated) and filter it by the batch's
            # ids — chosen when the statistics were taken while nothing waited (autovacuum's
            # ANALYZE on a quiet afternoon), it scans the entire backlog for every batch: a
            # batch of 500 took 15 s with 36,000 queued (docs/benchmarks.md). By key the plan
            # does not depend on the statistics (tests/integration/test_proactive_stream.py).
            events = [
                EventRow(*values[:-1])
                for values in Event.objects.select_for_update()
                .filter(pk__in=in_values(ids), customer__isnull=False)
                .filter(deadletter.not_held())
                .order_by("pk")
                .values_list(*ROW_FIELDS, "evaluated_at")
                if values[-1] is None
            ]
            return _evaluate_locked(events)
    except Exception as exc:
        _hold(ids, exc)
        return 0


def evaluate_pending(limit: int | None = None) -> int:
    """The database queue: claim and evaluate the oldest unevaluated batch; returns its size
    (0: nothing waits). A batch that fails is held for retry and taken out of the queue
    (proactive/deadletter.py), so the events behind it go on; its size is returned."""
    limit = limit or int(_config("STREAM_BATCH"))
    claimed: list[int] = []
    try:
        # A cheap look first (partial index, no lock): an idle worker polling must not take
        # SQLite's write lock every second.
        if connection.vendor == "sqlite":
            if not _unevaluated_sqlite(1):
                return 0
            with transaction.atomic():  # IMMEDIATE on SQLite: claims are serialised
                claimed = _unevaluated_sqlite(limit)
                return _evaluate_locked(
                    _rows(Event.objects.filter(pk__in=in_values(claimed)).order_by("pk"))
                )
        waiting = Event.objects.filter(evaluated_at__isnull=True, customer__isnull=False).filter(
            deadletter.not_held()
        )
        if not waiting.exists():
            return 0
        with transaction.atomic():
            events = _rows(waiting.select_for_update(skip_locked=True).order_by("pk")[:limit])
            claimed = [e.pk for e in events]
            return _evaluate_locked(events)
    except Exception as exc:
        if not claimed:
            raise
        _hold(claimed, exc)
        return len(claimed)


def _hold(ids: list[int], exc: Exception) -> None:
    """Hand a failed batch to the dead-letter handling; when even that fails (the database is
    gone), raise the original error: the queue tries the batch again as before."""
    try:
        deadletter.record_failure(ids, exc)
    except Exception:
        logger.exception("could not hold a failed batch of %d events", len(ids))
        raise exc from None


def _unevaluated_sqlite(limit: int) -> list[int]:
    """The oldest unevaluated ids through the partial index `event_unevaluated`, named:
    SQLite's planner otherwise walks the table in id order (the index is on the rowid) or by
    the customer index, past every evaluated row — each batch got slower as the table grew
    (measured: 1,000,000 events took 11 minutes instead of a few)."""
    table = connection.ops.quote_name(Event._meta.db_table)
    held = connection.ops.quote_name(HeldEvent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {table} INDEXED BY event_unevaluated "  # noqa: S608 - model's name
            "WHERE customer_id IS NOT NULL AND evaluated_at IS NULL "
            # Events of a failed batch wait for its retry (proactive/deadletter.py).
            f"AND NOT EXISTS (SELECT 1 FROM {held} WHERE {held}.event_id = {table}.id) "
            "ORDER BY id LIMIT %s",
            [limit],
        )
        return [row[0] for row in cursor.fetchall()]


def _rows(query: QuerySet[Event]) -> list[EventRow]:
    """The locked rows as plain records (no model instances: see engine.EventRow)."""
    return [EventRow(*values) for values in query.values_list(*ROW_FIELDS)]


def _evaluate_locked(events: list[EventRow]) -> int:
    """Evaluate the locked batch and mark it evaluated, in the caller's transaction: 2 + the
    engine's statements whatever the batch's size (tests/proactive/test_evaluation_budget.py)."""
    if not events:
        return 0
    evaluate_batch(events)
    Event.objects.filter(pk__in=in_values([e.pk for e in events])).update(
        evaluated_at=timezone.now()
    )
    return len(events)


# --- Submitting (after ingest or matching commits) -------------------------------------------


def submit_on_commit(ids: list[int]) -> None:
    """Hand stored events to evaluation once the caller's transaction commits. In the database
    mode they are already queued (their rows); with Redis their ids are published."""
    if ids and mode() == "redis":
        batch = list(ids)
        transaction.on_commit(lambda: publish(batch))


def publish(ids: list[int]) -> None:
    """Publish ids to the stream in STREAM_BATCH chunks. A failure is logged, not raised: the
    events are stored, and the sweep publishes them again."""
    size = int(_config("STREAM_BATCH"))
    try:
        _redis_stream().publish([ids[i : i + size] for i in range(0, len(ids), size)])
    except Exception:
        logger.warning("could not publish %d events to the stream; the sweep will", len(ids))


# --- The consumer loop of `teamline worker` --------------------------------------------------


def consume(stop: threading.Event, *, name: str | None = None) -> None:
    """Evaluate events until `stop` is set (one loop per worker process)."""
    poll = float(_config("STREAM_POLL_SECONDS"))
    redis_stream = _redis_stream() if mode() == "redis" else None
    # Unique per process start: a restarted worker is a new consumer, and what the old one held
    # is claimed like any dead consumer's.
    consumer = name or f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    while not stop.is_set():
        try:
            if redis_stream is not None:
                done = redis_stream.consume_once(consumer, block_ms=int(poll * 1000))
            else:
                done = evaluate_pending()
                if not done:
                    stop.wait(poll)
        except Exception:
            logger.exception("proactive consumer failed; retrying")
            stop.wait(poll)
        finally:
            close_old_connections()


# --- The sweep (periodic) --------------------------------------------------------------------


def sweep() -> int:
    """Events nothing is evaluating: in the database mode, evaluate a few batches right here
    (the embedded worker may be busy); with Redis, publish again the events left unevaluated
    for STREAM_REPUBLISH_SECONDS while the group has nothing pending. Returns how many."""
    if mode() != "redis":
        total = 0
        for _ in range(10):
            done = evaluate_pending()
            total += done
            if not done:
                break
        return total
    redis_stream = _redis_stream()
    redis_stream.forget_idle_consumers()
    if not redis_stream.idle():
        return 0
    before = timezone.now() - timedelta(seconds=int(_config("STREAM_REPUBLISH_SECONDS")))
    ids = list(
        Event.objects.filter(
            evaluated_at__isnull=True, customer__isnull=False, received_at__lt=before
        )
        .filter(deadletter.not_held())
        .order_by("pk")
        .values_list("pk", flat=True)[:100_000]
    )
    if ids:
        publish(ids)
    return len(ids)


def _redis_stream() -> RedisEventStream:
    return RedisEventStream.from_settings(evaluate_ids)
