"""The calls app's durable tasks (django-tasks, database backend): enqueued in the transaction
of the change they follow (or by the periodic tick), idempotent when run twice (a worker that
died mid-run is requeued).

    ring_timeouts()
        each tick: calls that rang too long for their agent go to someone else (RONA)
    fetch_call_recording(call_id, recording_sid, media_url, duration_seconds, attempt)
        a completed recording → an internal message with the file (calls/recording.py)
    delete_provider_recording(call_id, recording_sid, attempt)
        the provider's copy, once Teamline keeps its own ("delete_after_download")
"""

from __future__ import annotations

from django_tasks import task

from .recording import delete_at_provider, fetch_and_store_recording


@task()
def ring_timeouts() -> int:
    """Each tick: calls that rang too long for their agent go to someone else (RONA)."""
    from .actions import do_ring_timeouts

    return do_ring_timeouts()


@task()
def fetch_call_recording(
    call_id: int, recording_sid: str, media_url: str, duration_seconds: int, attempt: int
) -> str:
    return fetch_and_store_recording(call_id, recording_sid, media_url, duration_seconds, attempt)


@task()
def delete_provider_recording(call_id: int, recording_sid: str, attempt: int) -> str:
    return delete_at_provider(call_id, recording_sid, attempt)
