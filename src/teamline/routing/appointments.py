"""Scheduled contacts: a customer books a call or chat with their team at a time they pick.

An appointment holds one seat of a slot of its team: slots of `SLOT_MINUTES` inside the team's
business hours (its own time zone, holidays and service mode: only slots the team serves
normally from start to end), each with `capacity = floor(active members × APPOINTMENT_SHARE)`
seats (the share of the team's staffing reserved for appointments). `(team, slot_start, seat)`
is unique among live appointments, so the database refuses a second booking of the last seat
whatever the number of processes. At the slot the periodic job (`process_appointments`,
tasks.run_appointments) puts the customer's conversation into routing at high priority, ranked
from the slot's start, sticky to the chosen agent then the team; a reminder is posted
`REMINDER_MINUTES` before; a customer not reachable `GRACE_MINUTES` after the start is a
no-show.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F
from django.utils import timezone
from django.utils.translation import gettext as _

from teamline.accounts.models import User
from teamline.conversations.actions import do_change_status
from teamline.conversations.events import record
from teamline.conversations.locks import lock_conversation
from teamline.conversations.models import Conversation, Direction, Message, Status, TimelineKind
from teamline.core.errors import Conflict, InvalidInput, NotFound, TeamlineError
from teamline.core.ids import parse_id
from teamline.customers.masking import Sensitive, shown
from teamline.customers.models import Customer
from teamline.teams.hours import Calendar, intervals_on, mode_at
from teamline.teams.models import ServiceMode, Team
from teamline.teams.queries import team_ids_for

from . import engine
from .actions import agent_freed, close_work_item, record_offer, route_conversation
from .models import (
    LIVE_APPOINTMENT_STATES,
    LIVE_STATES,
    Appointment,
    AppointmentKind,
    AppointmentState,
    QueueEntry,
    WorkItem,
    WorkKind,
    WorkState,
)
from .queries import policy_for_inbox, service_level_targets
from .scheduling import (
    in_customer_language,
    local_time,
    normalize_phone,
    now_or_clock,
    record_routed,
    requeue_call,
    system_message,
    team_calendar,
)

logger = logging.getLogger(__name__)


APPOINTMENT_RETRY_MINUTES = 3


REMINDER_MINUTES = 15


GRACE_MINUTES = 10


HORIZON_DAYS = 14


BATCH = 200


class SlotTaken(TeamlineError):
    code = "slot_taken"
    status = 409


def _setting(name: str, default: Any) -> Any:
    return settings.TEAMLINE.get(name, default)


def slot_minutes() -> int:
    """TEAMLINE["APPOINTMENT_SLOT_MINUTES"]: 15 or 30 (default 30)."""
    minutes = int(_setting("APPOINTMENT_SLOT_MINUTES", 30))
    return minutes if minutes in (15, 30) else 30


def appointment_share() -> float:
    """TEAMLINE["APPOINTMENT_SHARE"]: share of a team's members reserved for appointments."""
    return float(_setting("APPOINTMENT_SHARE", 0.25))


# The reminder itself reaches the customer on their channel (the one they used last, as an
# agent's reply would: SMS, WhatsApp, email, web chat…) through
# conversations.replies.do_post_system_message and the channels outbox. These hooks are for
# anything more (a calendar invite, a CRM). Each gets the appointment and the reminder text; it
# must only enqueue (it runs inside the job's transaction).
REMINDER_HOOKS: list[Callable[[Appointment, str], None]] = []


@dataclass(frozen=True)
class Slot:
    start: datetime
    end: datetime
    capacity: int
    booked: int

    @property
    def available(self) -> int:
        return max(self.capacity - self.booked, 0)


def slot_capacity(team: Team) -> int:
    """Seats per slot: active members × the appointment share, rounded down."""
    members = team.members.filter(is_active=True).count()
    return math.floor(members * appointment_share() + 1e-9)


def _slot_starts(calendar: Calendar, now: datetime, days: int, minutes: int) -> list[datetime]:
    today = now.astimezone(calendar.tz).date()
    step = timedelta(minutes=minutes)
    starts: list[datetime] = []
    for offset in range(days):
        # The same instants the hours give routing (DST nights, make-up working days included).
        for moment, finish in intervals_on(calendar, today + timedelta(days=offset)):
            while moment + step <= finish:
                starts.append(moment)
                moment += step
    return sorted(set(starts))


def _serves_normally(calendar: Calendar, start: datetime, end: datetime) -> bool:
    last = end - timedelta(seconds=1)
    return (
        mode_at(calendar, start) == ServiceMode.NORMAL
        and mode_at(calendar, last) == ServiceMode.NORMAL
    )


def available_slots(
    team: Team, *, now: datetime | None = None, days: int = 7, include_full: bool = False
) -> list[Slot]:
    """Bookable slots of the team from `now` on, for `days` local days: inside its business
    hours, served normally (no holiday, no limited or closed mode) from start to end, in the
    future. Full slots are left out unless `include_full`."""
    now = now_or_clock(now)
    days = max(1, min(days, HORIZON_DAYS))
    capacity = slot_capacity(team)
    if capacity <= 0:
        return []
    calendar = team_calendar(team, now)
    minutes = slot_minutes()
    step = timedelta(minutes=minutes)
    starts = [
        s
        for s in _slot_starts(calendar, now, days, minutes)
        if s > now and _serves_normally(calendar, s, s + step)
    ]
    if not starts:
        return []
    booked = {
        start.astimezone(UTC): n
        for start, n in Appointment.objects.filter(
            team=team,
            state__in=LIVE_APPOINTMENT_STATES,
            slot_start__gte=starts[0],
            slot_start__lte=starts[-1],
        )
        .values("slot_start")
        .annotate(n=Count("pk"))
        .values_list("slot_start", "n")
    }
    slots = [Slot(s, s + step, capacity, booked.get(s, 0)) for s in starts]
    return slots if include_full else [slot for slot in slots if slot.available > 0]


def _find_slot(team: Team, start: datetime, now: datetime) -> Slot:
    start = start.astimezone(UTC)
    for slot in available_slots(team, now=now, days=HORIZON_DAYS, include_full=True):
        if slot.start == start:
            if slot.available <= 0:
                raise SlotTaken(_("That time is fully booked; please choose another."))
            return slot
    raise Conflict(_("That time cannot be booked; please choose one of the offered times."))


def _when(appointment: Appointment, now: datetime, language: str) -> dict[str, str]:
    """The placeholders of a sentence about a booking, for the customer (in_customer_language):
    its time in the team's zone and the customer's language, the team and the number."""
    return {
        "time": local_time(appointment.team, appointment.slot_start, now, language),
        "team": appointment.team.name,
        "phone": appointment.phone,
    }


def _is_call(appointment: Appointment) -> bool:
    return appointment.kind == AppointmentKind.CALL


def _take_seat(appointment: Appointment, slot: Slot) -> bool:
    """Insert (or move) the appointment into the first free seat of the slot; False when every
    seat is taken. Each try is a savepoint: the unique constraint decides races."""
    for seat in range(slot.capacity):
        try:
            with transaction.atomic():
                if appointment.pk is None:
                    appointment.seat = seat
                    appointment.save()
                    return True
                moved = Appointment.objects.filter(
                    pk=appointment.pk, state=AppointmentState.BOOKED
                ).update(
                    slot_start=slot.start,
                    slot_end=slot.end,
                    seat=seat,
                    reminded_at=None,
                    updated_at=timezone.now(),
                )
                if not moved:
                    raise Conflict(_("This booking can no longer be changed."))
                return True
        except IntegrityError:
            continue  # that seat is taken: the next one
    return False


def do_book_appointment(
    customer: Customer,
    *,
    team: Team,
    slot_start: datetime,
    kind: str,
    phone: str = "",
    conversation: Conversation | None = None,
    agent: User | None = None,
    actor: User | None = None,
    now: datetime | None = None,
) -> Appointment:
    """Book one seat of a slot for the customer (a call to `phone`, or a chat).

    Race-free: the seat is taken by an INSERT the unique constraint (team, slot, seat) guards;
    a customer has at most one live booking. A waiting conversation stops waiting (pending):
    the customer chose a time instead. Records `routed` (appointment booked); posts a
    confirmation. Raises SlotTaken (409) when the last seat went meanwhile."""
    now = now_or_clock(now)
    if kind not in AppointmentKind.values:
        raise InvalidInput(_("kind must be call or chat."))
    number = normalize_phone(phone, team) if kind == AppointmentKind.CALL else ""
    if Appointment.objects.filter(customer=customer, state__in=LIVE_APPOINTMENT_STATES).exists():
        raise Conflict(_("You already have a booking: reschedule or cancel it."))
    slot = _find_slot(team, slot_start, now)
    if agent is None and customer.last_agent_id:
        agent = team.members.filter(pk=customer.last_agent_id, is_active=True).first()
    with transaction.atomic():
        appointment = Appointment(
            customer=customer,
            team=team,
            conversation=conversation,
            agent=agent,
            kind=kind,
            phone=number,
            slot_start=slot.start,
            slot_end=slot.end,
            created_at=now,
            updated_at=now,
        )
        if not _take_seat(appointment, slot):
            raise SlotTaken(_("That time was just taken; please choose another."))
        record_routed(
            conversation,
            actor,
            appointment="booked",
            appointment_id=appointment.pk,
            appointment_kind=kind,
            slot_start=slot.start.isoformat(),
        )
        with in_customer_language(conversation) as language:
            text = (
                _(
                    "Booked: a call at %(time)s with team %(team)s, on %(phone)s. We will "
                    "remind you 15 minutes before."
                )
                if number
                else _(
                    "Booked: a chat at %(time)s with team %(team)s. We will remind you 15 "
                    "minutes before."
                )
            ) % _when(appointment, now, language)
        system_message(conversation, text, now, "appointment")
        if conversation is not None:
            waiting = (
                conversation.status == Status.OPEN
                and conversation.assignee_id is None
                and WorkItem.objects.filter(
                    conversation=conversation, state=WorkState.QUEUED
                ).exists()
            )
            if waiting:
                do_change_status(conversation, Status.PENDING, actor=actor)
    return appointment


def _live(appointment: Appointment, *states: str) -> Appointment:
    appointment.refresh_from_db()
    if appointment.state not in (states or LIVE_APPOINTMENT_STATES):
        raise Conflict(_("This booking is no longer active."))
    return appointment


def do_cancel_appointment(
    appointment: Appointment,
    *,
    actor: User | None = None,
    by: str = "customer",
    now: datetime | None = None,
) -> Appointment:
    """Cancel a booking (by the customer or staff): its seat is free again. One that already
    entered routing leaves the conversation waiting as an ordinary contact. Records `routed`
    (appointment cancelled) and tells the customer."""
    now = now_or_clock(now)
    appointment = _live(appointment)
    with transaction.atomic():
        done = Appointment.objects.filter(
            pk=appointment.pk, state__in=LIVE_APPOINTMENT_STATES
        ).update(state=AppointmentState.CANCELLED, closed_at=now, updated_at=now)
        if not done:
            raise Conflict(_("This booking is no longer active."))
        conv = appointment.conversation
        if conv is not None and appointment.original_channel_kind:
            Conversation.objects.filter(pk=conv.pk).update(
                channel_kind=appointment.original_channel_kind
            )
            WorkItem.objects.filter(
                conversation=conv, state=WorkState.QUEUED, kind=WorkKind.APPOINTMENT
            ).update(kind=WorkKind.CONVERSATION)
        record_routed(conv, actor, appointment="cancelled", appointment_id=appointment.pk, by=by)
        with in_customer_language(conv) as language:
            text = (
                _("Your call at %(time)s is cancelled.")
                if _is_call(appointment)
                else _("Your chat at %(time)s is cancelled.")
            ) % _when(appointment, now, language)
        system_message(conv, text, now, "appointment")
    appointment.refresh_from_db()
    return appointment


def do_reschedule_appointment(
    appointment: Appointment,
    slot_start: datetime,
    *,
    actor: User | None = None,
    by: str = "customer",
    now: datetime | None = None,
) -> Appointment:
    """Move a booking that has not started to another slot (a seat there is taken race-free,
    the old seat is freed by the same UPDATE). Records `routed` (appointment rescheduled)."""
    now = now_or_clock(now)
    appointment = _live(appointment, AppointmentState.BOOKED)
    previous = appointment.slot_start
    if slot_start.astimezone(UTC) == previous.astimezone(UTC):
        return appointment
    slot = _find_slot(appointment.team, slot_start, now)
    with transaction.atomic():
        if not _take_seat(appointment, slot):
            raise SlotTaken(_("That time was just taken; please choose another."))
        appointment.refresh_from_db()
        record_routed(
            appointment.conversation,
            actor,
            appointment="rescheduled",
            appointment_id=appointment.pk,
            by=by,
            previous=previous.isoformat(),
            slot_start=slot.start.isoformat(),
        )
        with in_customer_language(appointment.conversation) as language:
            text = (
                _("Your booking is moved: call at %(time)s.")
                if _is_call(appointment)
                else _("Your booking is moved: chat at %(time)s.")
            ) % _when(appointment, now, language)
        system_message(appointment.conversation, text, now, "appointment")
    return appointment


def _remind(appointment: Appointment, now: datetime) -> bool:
    with transaction.atomic():
        if not Appointment.objects.filter(pk=appointment.pk, reminded_at__isnull=True).update(
            reminded_at=now
        ):
            return False  # another worker sent it
        with in_customer_language(appointment.conversation) as language:
            if _is_call(appointment) and appointment.phone:
                text = _(
                    "Reminder: your call at %(time)s with team %(team)s (we will call %(phone)s)."
                )
            elif _is_call(appointment):
                text = _("Reminder: your call at %(time)s with team %(team)s.")
            else:
                text = _("Reminder: your chat at %(time)s with team %(team)s.")
            text %= _when(appointment, now, language)
        system_message(appointment.conversation, text, now, "appointment")
        for hook in REMINDER_HOOKS:
            hook(appointment, text)
    return True


def _start(appointment: Appointment, now: datetime) -> bool:
    """At the slot: the conversation enters routing at high priority, ranked from the slot's
    start, sticky to the chosen agent, then the team. Locks conversation → work item."""

    conv_id = appointment.conversation_id
    if conv_id is None:
        logger.warning("appointment %s has no conversation to route", appointment.pk)
        return False
    channel_kind = "voice" if appointment.kind == AppointmentKind.CALL else "chat"
    with transaction.atomic():
        if not Appointment.objects.filter(pk=appointment.pk, state=AppointmentState.BOOKED).update(
            state=AppointmentState.STARTED, started_at=now, updated_at=now
        ):
            return False
        conv = lock_conversation(conv_id, related=("customer",))
        customer = conv.customer
        vip = bool((customer.attributes or {}).get("vip"))
        rank = engine.rank_at(
            appointment.slot_start, channel_kind, engine.HIGH, vip, service_level_targets()
        )
        original = conv.channel_kind
        live = WorkItem.objects.filter(conversation=conv, state__in=LIVE_STATES).first()
        last_agent_id = appointment.agent_id or customer.last_agent_id
        if live is None:
            _policy, policy_id = policy_for_inbox(conv.inbox_id)
            assigned = conv.assignee_id is not None
            live = WorkItem.objects.create(
                kind=WorkKind.APPOINTMENT,
                conversation=conv,
                customer=customer,
                policy_id=policy_id,
                channel_kind=channel_kind,
                priority=engine.HIGH,
                vip=vip,
                language=customer.preferred_language or "",
                home_team=appointment.team,
                last_agent_id=last_agent_id,
                enqueued_at=appointment.slot_start,
                rank_at=rank,
                step_entered_at=now,
                next_check_at=None if assigned else now,
                state=WorkState.ASSIGNED if assigned else WorkState.QUEUED,
                assignee_id=conv.assignee_id,
                assigned_at=now if assigned else None,
            )
            record_offer(live, conv, now)
        elif live.state == WorkState.QUEUED:
            WorkItem.objects.filter(pk=live.pk).update(
                kind=WorkKind.APPOINTMENT,
                channel_kind=channel_kind,
                priority=max(live.priority, engine.HIGH),
                rank_at=min(live.rank_at, rank),
                last_agent_id=last_agent_id,
                home_team=appointment.team,
                step_index=0,
                step_entered_at=now,
                next_check_at=now,
                version=F("version") + 1,
            )
            QueueEntry.objects.filter(work_item=live).delete()
        Appointment.objects.filter(pk=appointment.pk).update(
            work_item=live, original_channel_kind=original if original != channel_kind else ""
        )
        if original != channel_kind:
            Conversation.objects.filter(pk=conv.pk).update(channel_kind=channel_kind)
        record_routed(
            conv,
            None,
            appointment="started",
            appointment_id=appointment.pk,
            reason="booked slot: routed at high priority",
        )
        with in_customer_language(conv):
            words = {
                "name": appointment.agent.name if appointment.agent else "",
                "phone": appointment.phone,
            }
            if appointment.agent and _is_call(appointment):
                text = _(
                    "It is time for your appointment. %(name)s will call you on %(phone)s shortly."
                )
            elif appointment.agent:
                text = _("It is time for your appointment. %(name)s will answer you here shortly.")
            elif _is_call(appointment):
                text = _(
                    "It is time for your appointment. Someone from your team will call you on "
                    "%(phone)s shortly."
                )
            else:
                text = _(
                    "It is time for your appointment. Someone from your team will answer you "
                    "here shortly."
                )
            text %= words
        system_message(conv, text, now, "appointment")
        conv.refresh_from_db()
        if conv.status != Status.OPEN:
            do_change_status(conv, Status.OPEN, actor=None)  # routes it (on the wall clock)
            conv.refresh_from_db()
        if conv.assignee_id is None:
            route_conversation(conv, now=now)
    return True


def _customer_wrote_since(conversation_id: int, since: datetime) -> bool:
    return Message.objects.filter(
        conversation_id=conversation_id, direction=Direction.INBOUND, created_at__gte=since
    ).exists()


def _no_show(appointment: Appointment, now: datetime, *, actor: User | None, reason: str) -> bool:
    """The customer was not reachable: no-show. The item is abandoned, the conversation
    resolved, the customer told. Records `routed` (appointment no_show)."""
    with transaction.atomic():
        if not Appointment.objects.filter(pk=appointment.pk, state=AppointmentState.STARTED).update(
            state=AppointmentState.NO_SHOW, closed_at=now, updated_at=now
        ):
            return False
        conv = appointment.conversation
        if conv is None:
            return True
        record_routed(
            conv, actor, appointment="no_show", appointment_id=appointment.pk, reason=reason
        )
        with in_customer_language(conv) as language:
            text = (
                _(
                    "We missed you for your call at %(time)s. You can book another time or "
                    "write to us here."
                )
                if _is_call(appointment)
                else _(
                    "We missed you for your chat at %(time)s. You can book another time or "
                    "write to us here."
                )
            ) % _when(appointment, now, language)
        system_message(conv, text, now, "appointment")

        close_work_item(conv, now=now, state=WorkState.ABANDONED)
        conv.refresh_from_db()
        if conv.status != Status.RESOLVED:
            do_change_status(conv, Status.RESOLVED, actor=actor)
        if appointment.original_channel_kind:
            Conversation.objects.filter(pk=conv.pk).update(
                channel_kind=appointment.original_channel_kind
            )
    return True


def do_appointment_no_answer(
    appointment: Appointment, *, actor: User, now: datetime | None = None
) -> Appointment:
    """ "No answer" on a call appointment: try again a few minutes later until the grace period
    after the slot's start has passed, then it is a no-show."""
    now = now_or_clock(now)
    appointment = _live(appointment, AppointmentState.STARTED)
    grace_end = appointment.slot_start + timedelta(minutes=GRACE_MINUTES)
    if now >= grace_end:
        _no_show(appointment, now, actor=actor, reason="not reachable by phone")
        appointment.refresh_from_db()
        return appointment
    freed = None
    with transaction.atomic():
        conv = lock_conversation(cast(int, appointment.conversation_id))
        retry_at = min(now + timedelta(minutes=APPOINTMENT_RETRY_MINUTES), grace_end)
        freed = requeue_call(conv, appointment.work_item_id, retry_at, now)
        Appointment.objects.filter(pk=appointment.pk).update(
            attempts=F("attempts") + 1, updated_at=now
        )
        record(
            conv,
            TimelineKind.UNASSIGNED,
            actor=actor,
            agent_id=freed,
            appointment="no_answer",
            reason=f"no answer on {appointment.phone}; calling again shortly",
        )
        with in_customer_language(conv):
            text = _("We tried to call you on %(phone)s. We will try again in a few minutes.") % {
                "phone": appointment.phone
            }
        system_message(conv, text, now, "appointment")
    if freed is not None:
        agent = User.objects.filter(pk=freed).first()
        if agent is not None:
            agent_freed(agent, channel_kind="voice", now=now)
    appointment.refresh_from_db()
    return appointment


def do_complete_appointment(
    appointment: Appointment, *, actor: User, now: datetime | None = None
) -> Appointment:
    """The booked call took place: records `routed` (appointment done) and resolves the
    conversation, which closes its work item (the appointment is done, the agent wraps up)."""
    now = now_or_clock(now)
    appointment = _live(appointment, AppointmentState.STARTED)
    if appointment.conversation_id is None:
        raise Conflict(_("This appointment has no conversation."))
    with transaction.atomic():
        conv = lock_conversation(appointment.conversation_id)
        record_routed(conv, actor, appointment="done", appointment_id=appointment.pk)
        if conv.status != Status.RESOLVED:
            do_change_status(conv, Status.RESOLVED, actor=actor)
    appointment.refresh_from_db()
    return appointment


def process_appointments(*, now: datetime | None = None) -> dict[str, int]:
    """The periodic job: reminders `REMINDER_MINUTES` before a slot, start at the slot, no-shows
    `GRACE_MINUTES` after it (a chat appointment whose customer has not written since the
    reminder; a call appointment nobody could reach). Each step is a conditional update, so
    several workers never act twice. Returns counts per step."""
    now = now_or_clock(now)
    counts = {"reminded": 0, "started": 0, "no_show": 0}
    due_reminders = Appointment.objects.filter(
        state=AppointmentState.BOOKED,
        reminded_at__isnull=True,
        slot_start__gt=now,
        slot_start__lte=now + timedelta(minutes=REMINDER_MINUTES),
    ).select_related("team", "conversation")[:BATCH]
    for appointment in list(due_reminders):
        counts["reminded"] += _remind(appointment, now)
    due = Appointment.objects.filter(
        state=AppointmentState.BOOKED, slot_start__lte=now
    ).select_related("team", "agent", "conversation")
    for appointment in list(due.order_by("slot_start", "pk")[:BATCH]):
        counts["started"] += _start(appointment, now)
    late = Appointment.objects.filter(
        state=AppointmentState.STARTED,
        slot_start__lte=now - timedelta(minutes=GRACE_MINUTES),
    ).select_related("team", "conversation", "work_item")
    for appointment in list(late.order_by("slot_start", "pk")[:BATCH]):
        if appointment.conversation_id is None:
            continue
        item = appointment.work_item
        with_agent = item is not None and item.state == WorkState.ASSIGNED
        if appointment.kind == AppointmentKind.CHAT:
            since = appointment.slot_start - timedelta(minutes=REMINDER_MINUTES)
            if _customer_wrote_since(appointment.conversation_id, since):
                continue
            reason = f"no message from the customer {GRACE_MINUTES} minutes after the start"
        else:
            if with_agent or appointment.attempts == 0:
                continue  # on the phone, or nobody has tried yet: not the customer's no-show
            reason = "not reachable by phone"
        counts["no_show"] += _no_show(appointment, now, actor=None, reason=reason)
    return counts


def present_slot(slot: Slot) -> dict[str, Any]:
    return {
        "start": slot.start.isoformat(),
        "end": slot.end.isoformat(),
        "available": slot.available,
    }


def present_appointment(appointment: Appointment, viewer: Any = None) -> dict[str, Any]:
    """What the customer (and staff) see of a booking; the number masked for a remote agent."""
    return {
        "id": appointment.pk,
        "kind": appointment.kind,
        "state": appointment.state,
        "slot_start": appointment.slot_start.isoformat(),
        "slot_end": appointment.slot_end.isoformat(),
        "phone": shown(viewer, Sensitive.PHONE, appointment.phone),
        "team": {"id": appointment.team_id, "name": appointment.team.name},
        "agent": appointment.agent.name if appointment.agent else None,
    }


def customer_appointments(customer_id: int) -> list[Appointment]:
    return list(
        Appointment.objects.filter(customer_id=customer_id, state__in=LIVE_APPOINTMENT_STATES)
        .select_related("team", "agent")
        .order_by("slot_start")
    )


def customer_appointment(customer_id: int, appointment_id: object) -> Appointment:
    """One of the customer's own bookings; NotFound for anybody else's."""
    pk = parse_id(appointment_id, "booking")
    found = (
        Appointment.objects.filter(pk=pk, customer_id=customer_id)
        .select_related("team", "agent", "conversation")
        .first()
    )
    if found is None:
        raise NotFound(_("No such booking."))
    return found


def teams_appointments(team_ids: list[int], *, states: tuple[str, ...] | None = None) -> Any:
    qs = Appointment.objects.filter(team_id__in=team_ids).select_related("team", "agent")
    if states:
        qs = qs.filter(state__in=states)
    return qs.order_by("slot_start", "pk")


def access_appointment(actor: Any, appointment_id: object) -> Any:
    """An appointment with one of the actor's teams (admins: any); NotFound otherwise."""
    pk = parse_id(appointment_id, "appointment")
    qs = Appointment.objects.select_related("team", "agent", "conversation")
    if not actor.is_admin:
        qs = qs.filter(team_id__in=team_ids_for(actor))
    found = qs.filter(pk=pk).first()
    if found is None:
        raise NotFound(_("No such appointment."))
    return found
