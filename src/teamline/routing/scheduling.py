"""What callbacks (routing/callbacks.py) and appointments (routing/appointments.py) share.

Both turn a conversation's work item into a call or a booked contact and back: they record it on
the conversation's timeline (kind `routed` with `callback` / `appointment` in its data), tell the
customer with a system message, and put the conversation's channel kind back when the item
closes (`work_closed`, called by routing.actions.close_work_item). Both designs are the simplest
the engine already proves race-free; each module's docstring says how.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from teamline.accounts.models import User
from teamline.conversations.events import record
from teamline.conversations.models import Conversation, TimelineKind
from teamline.conversations.replies import do_post_system_message
from teamline.core.errors import Forbidden
from teamline.customers.identities import normalize_identity
from teamline.customers.models import IdentityKind
from teamline.customers.queries import customer_language
from teamline.teams.hours import Calendar, calendar_for, format_local
from teamline.teams.models import Team

from .models import (
    LIVE_CALLBACK_STATES,
    Appointment,
    AppointmentState,
    Callback,
    CallbackState,
    QueueEntry,
    WorkItem,
    WorkState,
)


def now_or_clock(now: datetime | None) -> datetime:
    """`now` when a test or the simulator passes one, else the wall clock."""
    return now if now is not None else timezone.now()


def system_message(conversation: Conversation | None, text: str, now: datetime, tag: str) -> None:
    if conversation is not None:
        do_post_system_message(conversation, text, content={"routing": tag}, now=now)


@contextmanager
def in_customer_language(conversation: Conversation | None) -> Iterator[str]:
    """Write what follows in the conversation's customer's language (customers.queries
    .customer_language: theirs, else the inbox's default, else the installation's): every
    sentence routing tells a customer (callbacks, appointments) is built inside this. Yields the
    language, for the times Babel formats."""
    language = (
        customer_language(
            conversation.customer, conversation.inbox.config if conversation.inbox_id else None
        )
        if conversation is not None
        else translation.get_language() or ""
    )
    with translation.override(language):
        yield language


def record_routed(conversation: Conversation | None, actor: User | None, **data: Any) -> None:
    if conversation is not None:
        record(conversation, TimelineKind.ROUTED, actor=actor, **data)


def normalize_phone(phone: str, team: Team | None) -> str:
    """E.164, read in the team's country when the number has no +country prefix."""
    region = (team.country or None) if team is not None else None
    return normalize_identity(IdentityKind.PHONE, phone, default_region=region)


def team_calendar(team: Team, now: datetime) -> Calendar:
    return calendar_for(team, now=now)


def local_time(
    team: Team | None, when: datetime, now: datetime, language: str | None = "en"
) -> str:
    """A time for a customer, in the team's time zone and in `language` (Babel)."""
    if team is None:
        return when.strftime("%H:%M UTC")
    return format_local(team_calendar(team, now), when, now, language)


# --- Callbacks ------------------------------------------------------------------------------


def may_record_outcome(actor: User, assignee_id: int | None, team: Team) -> bool:
    """Whether `actor` may record a call's outcome ("Call done", "No answer"): the agent on the
    call, a supervisor of the team or an admin. Others of the team see the call but may not
    close somebody else's. (The API and the desk both ask this.)"""
    if actor.is_admin or actor.pk == assignee_id:
        return True
    return team.supervisors.filter(pk=actor.pk).exists()


def check_may_record_outcome(actor: User, assignee_id: int | None, team: Team) -> None:
    """Forbidden (403) unless `may_record_outcome`."""
    if not may_record_outcome(actor, assignee_id, team):
        raise Forbidden(_("Only the agent on the call or a supervisor can record its outcome."))


def requeue_call(
    conv: Conversation, row_id: int | None, retry_at: datetime, now: datetime
) -> int | None:
    """Give a call that was not answered back to the queue, due again at `retry_at` (no queue
    entry before: nobody is offered it early). Returns the agent it was with."""
    agent_id = conv.assignee_id
    Conversation.objects.filter(pk=conv.pk).update(assignee=None, waiting_since=now, updated_at=now)
    if row_id is not None:
        WorkItem.objects.filter(pk=row_id).update(
            state=WorkState.QUEUED,
            assignee=None,
            assigned_at=None,
            next_check_at=retry_at,
            version=F("version") + 1,
        )
        QueueEntry.objects.filter(work_item_id=row_id).delete()
    return agent_id


def work_closed(
    conversation: Conversation, item_ids: list[int], *, now: datetime, abandoned: bool
) -> None:
    """Called by routing.actions.close_work_item for callback and appointment items: their
    callback / appointment is done (cancelled when abandoned) and the conversation's channel
    kind is put back. Runs in the caller's transaction."""
    restore = ""
    for callback in Callback.objects.filter(
        work_item_id__in=item_ids, state__in=LIVE_CALLBACK_STATES
    ):
        restore = callback.original_channel_kind
        Callback.objects.filter(pk=callback.pk).update(
            state=CallbackState.CANCELLED if abandoned else CallbackState.DONE, closed_at=now
        )
    for appointment in Appointment.objects.filter(
        work_item_id__in=item_ids, state=AppointmentState.STARTED
    ):
        restore = appointment.original_channel_kind or restore
        Appointment.objects.filter(pk=appointment.pk).update(
            state=AppointmentState.CANCELLED if abandoned else AppointmentState.DONE,
            closed_at=now,
            updated_at=now,
        )
    if restore:
        # The caller keeps its in-memory channel kind (voice), so a freed agent still wraps up.
        Conversation.objects.filter(pk=conversation.pk).update(channel_kind=restore)


# --- Slots ----------------------------------------------------------------------------------


# --- Appointments ---------------------------------------------------------------------------


# --- Presenting -----------------------------------------------------------------------------
