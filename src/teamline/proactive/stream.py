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
from django.db import close_old_connections, transaction
from django.utils import timezone

from .engine import evaluate_batch
from .models import Event
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
    with transaction.atomic():
        events = list(
            Event.objects.select_for_update()
            .filter(pk__in=ids, evaluated_at__isnull=True, customer__isnull=False)
            .order_by("pk")
        )
        return _evaluate_locked(events)


def evaluate_pending(limit: int | None = None) -> int:
    """The database queue: claim and evaluate the oldest unevaluated batch; returns its size
    (0: nothing waits)."""
    limit = limit or int(_config("STREAM_BATCH"))
    # A cheap look first (partial index, no lock): an idle worker polling must not take
    # SQLite's write lock every second.
    if not Event.objects.filter(evaluated_at__isnull=True, customer__isnull=False).exists():
        return 0
    with transaction.atomic():
        events = list(
            Event.objects.select_for_update(skip_locked=True)
            .filter(evaluated_at__isnull=True, customer__isnull=False)
            .order_by("pk")[:limit]
        )
        return _evaluate_locked(events)


def _evaluate_locked(events: list[Event]) -> int:
    if not events:
        return 0
    evaluate_batch(events)
    Event.objects.filter(pk__in=[e.pk for e in events]).update(evaluated_at=timezone.now())
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
        .order_by("pk")
        .values_list("pk", flat=True)[:100_000]
    )
    if ids:
        publish(ids)
    return len(ids)


def _redis_stream() -> RedisEventStream:
    return RedisEventStream.from_settings(evaluate_ids)
