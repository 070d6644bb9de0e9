"""Recording phone calls, with the PCI pause.

A voice inbox with config `"record": true` records its answered phone calls: when the call
connects, the provider is asked to record the customer's leg in two channels (the customer on
one, what they hear — the agent — on the other). The agent on the call, or a supervisor of the
conversation's team, pauses the recording while the customer reads card details and resumes it
after; a pause is `PauseBehavior=skip` at the provider, so nothing of it is in the file, and it
lasts until someone resumes it or the call ends — never by itself. Every start, pause, resume
and outcome is a `call` row on the conversation's timeline (who, when) and a `call.updated`.

When the provider says the file is complete (its recording status callback, verified and
deduplicated by the voice connector), a durable task fetches the media and stores it as the
attachment of an internal message on the conversation: staff who may see the conversation
download it through the access-checked attachment view; the customer never sees it. The task is
enqueued in the transaction that records the status, so a stored callback is never lost, and a
provider that is down is asked again later (backoff); a fetch that cannot succeed is on the
timeline. Browser calls (WebRTC) are not recorded: their media never passes through Teamline or
the provider.

State changes are conditional UPDATEs on `recording_state` (not on the call's `version`: a
pause does not make the agent's copy of the call stale for hold or mute). The provider's REST
request runs inside the action's transaction after the row moved: a provider that refuses rolls
the change back and the agent is told (InvalidInput); the state stays what it was.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from teamline.accounts.models import User
from teamline.connectors import voice_rest
from teamline.connectors.actions import redact
from teamline.connectors.tasks import backoff_seconds
from teamline.connectors.voice import RECORDING_PREFIX, RecordingCallback
from teamline.conversations.attachments import RefusedAttachment, prepare_attachment
from teamline.conversations.events import record
from teamline.conversations.models import Inbox, TimelineKind
from teamline.conversations.replies import do_add_internal_record
from teamline.core.errors import Forbidden, InvalidInput
from teamline.core.jsonsafe import clean_text

from .events import emit_call
from .models import Call, CallMedium, CallState, RecordingState

logger = logging.getLogger(__name__)

# Recording statuses after which the provider says nothing more about the file.
FINAL_RECORDING_STATUSES = frozenset({"completed", "absent", "failed"})
RECORDING_CHANNEL = "voice"
AUDIO_TYPES = frozenset({"audio/wav", "audio/mpeg"})


def records_calls(inbox: Inbox | None) -> bool:
    """Whether the voice inbox records its calls (config "record": true; default off)."""
    return inbox is not None and (inbox.config or {}).get("record") is True


def recording_external_id(recording_sid: str) -> str:
    """The stored recording message's idempotency key."""
    return f"recording:{recording_sid}"


def _fresh(call: Call) -> Call:
    return Call.objects.select_related("conversation", "inbox").get(pk=call.pk)


def _record(call: Call, event: str, *, actor: User | None = None, **data: Any) -> None:
    record(
        call.conversation,
        TimelineKind.CALL,
        actor=actor,
        call_id=call.pk,
        medium=call.medium,
        event=event,
        **data,
    )


def _reason(exc: Exception, inbox: Inbox | None) -> str:
    """A provider's error as stored on the timeline: no credentials, no NUL, bounded."""
    return clean_text(redact(str(exc) or type(exc).__name__, inbox))[:300]


# --- Start -------------------------------------------------------------------------------------


def do_start_recording(call: Call) -> Call:
    """Start recording a phone call that just connected, when its inbox records calls.
    Claims the start first (recording_state off → recording, conditional), so a retried
    connect never starts two recordings. A provider that cannot start it leaves the call
    going unrecorded (state off) with the reason on the timeline: the caller is not dropped
    for it. Records `recording_started` (or `recording_failed`); emits call.updated."""
    if call.medium != CallMedium.PHONE or not records_calls(call.inbox):
        return call
    claimed = Call.objects.filter(
        pk=call.pk, recording_state=RecordingState.OFF, recording_sid="", recording_status=""
    ).update(recording_state=RecordingState.RECORDING)
    if not claimed:
        return _fresh(call)
    inbox = call.inbox
    assert inbox is not None  # records_calls
    try:
        if not call.provider_call_sid:
            raise voice_rest.VoiceProviderRefused(
                "the call has no provider call to record", status=0
            )
        sid = voice_rest.start_recording(
            inbox,
            call.provider_call_sid,
            status_callback=voice_rest.webhook_url(inbox, f"{RECORDING_PREFIX}{call.pk}"),
        )
    except voice_rest.VoiceProviderError as exc:
        reason = _reason(exc, inbox)
        logger.warning("call %s: recording not started: %s", call.pk, reason)
        with transaction.atomic():
            Call.objects.filter(
                pk=call.pk, recording_state=RecordingState.RECORDING, recording_sid=""
            ).update(recording_state=RecordingState.OFF)
            fresh = _fresh(call)
            _record(fresh, "recording_failed", reason=reason)
            emit_call(fresh)
        return fresh
    with transaction.atomic():
        Call.objects.filter(pk=call.pk, recording_sid="").update(recording_sid=sid[:64])
        fresh = _fresh(call)
        _record(fresh, "recording_started", recording_sid=fresh.recording_sid)
        emit_call(fresh)
    return fresh


# --- The PCI pause -----------------------------------------------------------------------------


def may_control_recording(call: Call, actor: User) -> bool:
    """The agent on the call, or a supervisor of the conversation's team."""
    if call.agent_id is not None and call.agent_id == actor.pk:
        return True
    team_id = call.conversation.team_id
    return team_id is not None and actor.supervised_teams.filter(pk=team_id).exists()


def _set_paused(call: Call, *, paused: bool, actor: User, now: datetime | None) -> Call:
    if not may_control_recording(call, actor):
        raise Forbidden(
            "Only the agent on the call or a supervisor of the team can pause or resume "
            "its recording."
        )
    source, target = (
        (RecordingState.RECORDING, RecordingState.PAUSED)
        if paused
        else (RecordingState.PAUSED, RecordingState.RECORDING)
    )
    changes: dict[str, Any] = {"recording_state": target}
    if paused:
        changes["recording_pauses"] = F("recording_pauses") + 1
    with transaction.atomic():
        moved = (
            Call.objects.filter(
                pk=call.pk,
                recording_state=source,
                state__in=(CallState.CONNECTING, CallState.ACTIVE, CallState.HELD),
            )
            .exclude(recording_sid="")
            .update(**changes)
        )
        fresh = _fresh(call)
        if not moved:
            raise InvalidInput(_why_not(fresh, paused=paused))
        inbox = fresh.inbox
        assert inbox is not None  # only phone calls on a voice inbox are recorded
        try:
            voice_rest.set_recording(
                inbox, fresh.provider_call_sid, fresh.recording_sid, paused=paused
            )
        except voice_rest.VoiceProviderError as exc:
            reason = _reason(exc, inbox)
            logger.warning("call %s: recording not %s: %s", call.pk, target, reason)
            # Raised inside the transaction: the state change rolls back.
            verb = "paused" if paused else "resumed"
            raise InvalidInput(
                f"The recording was not {verb}: the voice provider said {reason}. Try again."
            ) from exc
        _record(
            fresh,
            "recording_paused" if paused else "recording_resumed",
            actor=actor,
            at=(now or timezone.now()).isoformat(),
        )
        emit_call(fresh)
    return fresh


def _why_not(call: Call, *, paused: bool) -> str:
    if not call.is_live:
        return "This call has ended."
    state = call.recording_state
    if state == RecordingState.OFF or (
        state == RecordingState.RECORDING and not call.recording_sid
    ):
        return "This call is not being recorded."
    if state == RecordingState.STOPPED:
        return "This call's recording has stopped."
    return "The recording is paused already." if paused else "The recording is not paused."


def do_pause_recording(call: Call, *, actor: User, now: datetime | None = None) -> Call:
    """Pause the call's recording (a customer is about to read card details): nothing is
    recorded until it is resumed or the call ends. Only the agent on the call or a supervisor
    of the team (Forbidden otherwise); InvalidInput when it is not recording, or when the
    provider did not pause it (the state stays `recording`). Records `recording_paused` with
    the actor; emits call.updated."""
    return _set_paused(call, paused=True, actor=actor, now=now)


def do_resume_recording(call: Call, *, actor: User, now: datetime | None = None) -> Call:
    """Resume a paused recording. Same rules as do_pause_recording; records
    `recording_resumed`."""
    return _set_paused(call, paused=False, actor=actor, now=now)


# --- The provider's status callback ------------------------------------------------------------


class RecordingCallbacks:
    """The voice connector's recording handler (provided in CallsConfig.ready)."""

    def recording_status(self, inbox: Inbox, callback: RecordingCallback) -> None:
        do_record_recording_status(inbox, callback)


def do_record_recording_status(inbox: Inbox, callback: RecordingCallback) -> str:
    """A recording status callback. Each final status (completed, absent, failed) is acted on
    once (conditional update on `recording_status`): a completed recording has its fetch task
    enqueued in the same transaction, so the callback is acknowledged only once the task is
    committed; an absent or failed one is on the timeline. A callback for another call, inbox
    or recording changes nothing. Returns what happened."""
    call = (
        Call.objects.select_related("conversation", "inbox")
        .filter(pk=callback.call_id, inbox=inbox, provider_call_sid=callback.call_sid)
        .first()
    )
    if call is None:
        logger.warning(
            "recording callback for an unknown call %s on inbox %s", callback.call_id, inbox.pk
        )
        return "unknown call"
    if call.recording_sid and call.recording_sid != callback.recording_sid:
        logger.warning("call %s: callback for another recording ignored", call.pk)
        return "another recording"
    status = callback.status
    if status not in FINAL_RECORDING_STATUSES:
        return "not final"
    if call.recording_status in FINAL_RECORDING_STATUSES:
        return "already recorded"  # a retry: the update below would change nothing
    with transaction.atomic():
        moved = (
            Call.objects.filter(pk=call.pk)
            .exclude(recording_status__in=FINAL_RECORDING_STATUSES)
            .update(
                recording_status=status,
                recording_sid=callback.recording_sid,
                recording_state=RecordingState.STOPPED,
            )
        )
        if not moved:
            return "already recorded"
        fresh = _fresh(call)
        if status == "completed":
            from .tasks import fetch_call_recording  # tasks import this module

            fetch_call_recording.enqueue(
                call.pk, callback.recording_sid, callback.url, callback.duration_seconds or 0, 1
            )
            _record(
                fresh,
                "recording_completed",
                recording_sid=callback.recording_sid,
                duration_seconds=callback.duration_seconds,
                channels=callback.channels,
            )
        else:
            _record(
                fresh,
                f"recording_{status}",
                recording_sid=callback.recording_sid,
                reason=(
                    "the provider recorded no audio"
                    if status == "absent"
                    else "the provider could not record the call "
                    f"(error {callback.error_code or 'not given'})"
                ),
            )
        emit_call(fresh)
    return status


# --- Keeping the file -------------------------------------------------------------------------


def spoken_duration(seconds: int) -> str:
    """3:12, or 1:02:05 for an hour and more."""
    minutes, secs = divmod(max(0, seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def pauses_phrase(pauses: int) -> str:
    if pauses == 0:
        return "not paused"
    if pauses == 1:
        return "paused once"
    if pauses == 2:
        return "paused twice"
    return f"paused {pauses} times"


def recording_summary(duration_seconds: int, pauses: int) -> str:
    """The stored message's text: "Call recording, 3:12, paused once"."""
    return f"Call recording, {spoken_duration(duration_seconds)}, {pauses_phrase(pauses)}"


def fetch_and_store_recording(
    call_id: int, recording_sid: str, media_url: str, duration_seconds: int, attempt: int
) -> str:
    """The fetch task's body: fetch the media (bounded by TEAMLINE["RECORDING_MAX_BYTES"]) and
    store it as the attachment of an internal message on the call's conversation, idempotent
    on the recording SID (a task run twice stores one file). A provider that is unavailable is
    asked again later with backoff, up to TEAMLINE["RECORDING_FETCH_MAX_ATTEMPTS"]; one that
    refuses, a file that is too large or no audio, or the last attempt failing is a
    `recording_fetch_failed` timeline row (the file stays at the provider). With the inbox's
    "delete_after_download", the provider's copy is deleted by a task enqueued with the stored
    message. Returns what happened."""
    from .tasks import delete_provider_recording, fetch_call_recording

    call = Call.objects.select_related("conversation", "inbox").filter(pk=call_id).first()
    if call is None or call.inbox is None:
        return "missing"
    inbox = call.inbox
    external_id = recording_external_id(recording_sid)
    if call.conversation.messages.filter(
        channel=RECORDING_CHANNEL, external_id=external_id
    ).exists():
        return "stored"
    limit = int(settings.TEAMLINE["RECORDING_MAX_BYTES"])
    try:
        # A callback without RecordingUrl: the recording's own resource has the media.
        url = media_url or voice_rest.recording_media_url(inbox, recording_sid)
        data = voice_rest.fetch_recording(inbox, url, max_bytes=limit)
        prepared = prepare_attachment(
            f"call-{call.pk}-recording.wav", "audio/wav", data, limit=limit
        )
        if prepared.content_type not in AUDIO_TYPES:
            raise RefusedAttachment(f"the provider sent {prepared.content_type}, not audio")
    except voice_rest.VoiceProviderUnavailable as exc:
        reason = _reason(exc, inbox)
        if attempt >= int(settings.TEAMLINE["RECORDING_FETCH_MAX_ATTEMPTS"]):
            _fetch_failed(call, recording_sid, f"gave up after {attempt} attempts: {reason}")
            return "failed"
        run_after = timezone.now() + timedelta(seconds=backoff_seconds(attempt))
        logger.info(
            "call %s: recording fetch %s failed (%s); again later", call.pk, attempt, reason
        )
        fetch_call_recording.using(run_after=run_after).enqueue(
            call.pk, recording_sid, media_url, duration_seconds, attempt + 1
        )
        return "retry"
    except (voice_rest.VoiceProviderRefused, RefusedAttachment) as exc:
        _fetch_failed(call, recording_sid, _reason(exc, inbox))
        return "failed"
    delete_after = (inbox.config or {}).get("delete_after_download") is True
    with transaction.atomic():
        _message, created = do_add_internal_record(
            call.conversation,
            recording_summary(duration_seconds, call.recording_pauses),
            channel=RECORDING_CHANNEL,
            external_id=external_id,
            inbox=inbox,
            content={
                "call_recording": {
                    "call_id": call.pk,
                    "recording_sid": recording_sid,
                    "duration_seconds": duration_seconds,
                    "pauses": call.recording_pauses,
                }
            },
            attachments=[prepared],
            timeline={
                "call_id": call.pk,
                "medium": call.medium,
                "event": "recording_stored",
                "recording_sid": recording_sid,
                "bytes": len(prepared.data),
            },
        )
        if created and delete_after:
            delete_provider_recording.enqueue(call.pk, recording_sid, 1)
    return "stored" if created else "stored before"


def _fetch_failed(call: Call, recording_sid: str, reason: str) -> None:
    logger.warning("call %s: recording %s not stored: %s", call.pk, recording_sid, reason)
    with transaction.atomic():
        _record(call, "recording_fetch_failed", recording_sid=recording_sid, reason=reason)


def delete_at_provider(call_id: int, recording_sid: str, attempt: int) -> str:
    """The delete task's body (inbox config "delete_after_download"): the provider's copy goes
    once Teamline keeps its own; retried with backoff while the provider is unavailable."""
    from .tasks import delete_provider_recording

    call = Call.objects.select_related("conversation", "inbox").filter(pk=call_id).first()
    if call is None or call.inbox is None:
        return "missing"
    try:
        voice_rest.delete_recording(call.inbox, recording_sid)
    except voice_rest.VoiceProviderUnavailable as exc:
        reason = _reason(exc, call.inbox)
        if attempt < int(settings.TEAMLINE["RECORDING_FETCH_MAX_ATTEMPTS"]):
            run_after = timezone.now() + timedelta(seconds=backoff_seconds(attempt))
            delete_provider_recording.using(run_after=run_after).enqueue(
                call.pk, recording_sid, attempt + 1
            )
            return "retry"
        _record(call, "recording_delete_failed", recording_sid=recording_sid, reason=reason)
        return "failed"
    except voice_rest.VoiceProviderRefused as exc:
        reason = _reason(exc, call.inbox)
        _record(call, "recording_delete_failed", recording_sid=recording_sid, reason=reason)
        return "failed"
    _record(call, "recording_deleted_at_provider", recording_sid=recording_sid)
    return "deleted"
