"""Failed event batches in the JSON API (docs/proactive.md, "When evaluation fails"):
`GET /api/v1/events/failed` and `POST /api/v1/events/failed/{id}/replay`.

Mounted with the admin routers' authentication (a token needs the `admin` scope on top of
`read`/`write`, or a desk session) and only for admins, like the rules: a replay evaluates
events and may send the notices they cause.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, cast

from django.http import HttpRequest
from ninja import Field, Path, Query, Router, Schema

from teamline.accounts.models import User
from teamline.core.apischema import MAX_ID, errors
from teamline.core.errors import Forbidden

from .deadletter import do_replay_failed_batch
from .models import FailedBatch
from .queries import access_failed_batch, failed_batches, held_event_counts, held_event_ids

failures_router = Router(tags=["proactive"])

BatchId = Annotated[int, Path(..., ge=1, le=MAX_ID, description="The failed batch's id.")]


class FailedBatchOut(Schema):
    id: int
    state: str = Field(description="retrying, parked (waiting for a replay) or resolved.")
    attempts: int
    events: int = Field(description="Events still held out of the queue.")
    event_ids: list[str] = Field(description="The senders' ids of those events (first 100).")
    error: str = Field(description="The last failure: the error's type and message.")
    first_failed_at: datetime
    last_failed_at: datetime
    next_attempt_at: datetime | None
    parked_at: datetime | None
    resolved_at: datetime | None
    replayed_by: str | None
    replayed_at: datetime | None


class HeldOut(Schema):
    retrying: int = Field(description="Events of batches waiting for their next attempt.")
    parked: int = Field(description="Events of parked batches, waiting for a replay.")


class FailedBatchesOut(Schema):
    held: HeldOut
    batches: list[FailedBatchOut]


class FailedFilter(Schema):
    state: Literal["retrying", "parked", "resolved"] | None = None


class ReplayOut(Schema):
    evaluated: int = Field(description="Events evaluated by this replay.")
    still_failing: int = Field(description="Events that failed again and stay parked.")
    error: str = Field(description="Their error; empty when nothing failed.")
    batch: FailedBatchOut


def present_failed_batch(batch: FailedBatch) -> dict[str, Any]:
    return {
        "id": batch.pk,
        "state": batch.state,
        "attempts": batch.attempts,
        "events": batch.events_count,
        "event_ids": held_event_ids(batch),
        "error": batch.error,
        "first_failed_at": batch.first_failed_at,
        "last_failed_at": batch.last_failed_at,
        "next_attempt_at": batch.next_attempt_at,
        "parked_at": batch.parked_at,
        "resolved_at": batch.resolved_at,
        "replayed_by": batch.replayed_by.get_username() if batch.replayed_by else None,
        "replayed_at": batch.replayed_at,
    }


def _admin(request: HttpRequest) -> User:
    actor = cast(User, request.auth)  # type: ignore[attr-defined]
    if not (actor.is_active and actor.is_admin):
        raise Forbidden("Only admins see failed event batches.")
    return actor


@failures_router.get(
    "",
    response={200: FailedBatchesOut, **errors(403, 422)},
    summary="List the event batches whose evaluation failed",
    operation_id="list_failed_event_batches",
)
def list_failed(request: HttpRequest, filters: Query[FailedFilter]) -> Any:
    """Parked batches first (the dead letter: waiting for an admin to replay them), then those
    still retried with backoff, then resolved ones; at most 200. `held` counts the events
    held out of the queue."""
    _admin(request)
    return {
        "held": held_event_counts(),
        "batches": [present_failed_batch(b) for b in failed_batches(filters.state)],
    }


@failures_router.post(
    "/{batch_id}/replay",
    response={200: ReplayOut, **errors(403, 404, 422)},
    summary="Evaluate a failed batch's events now",
    operation_id="replay_failed_event_batch",
)
def replay_failed(request: HttpRequest, batch_id: BatchId) -> Any:
    """Evaluate the batch's held events now — together, else one by one. Those evaluated are
    released (their notices go out as usual); those that fail again stay parked with the new
    error. A resolved batch answers with nothing evaluated."""
    actor = _admin(request)
    batch = access_failed_batch(actor, batch_id)
    result = do_replay_failed_batch(batch, actor=actor)
    batch.refresh_from_db()
    return {
        "evaluated": result.evaluated,
        "still_failing": result.still_failing,
        "error": result.error,
        "batch": present_failed_batch(batch),
    }
