"""Scheduled contacts: slots the team can serve, race-free booking, reminders, the start in
routing at high priority, no-shows, reschedule and cancel."""

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.cache import cache
from django.db import connection

from teamline.accounts.actions import do_set_presence
from teamline.conversations.models import Message, SenderKind
from teamline.core.testing import create_agent, create_customer, create_team, customer_says
from teamline.routing.appointments import (
    SlotTaken,
    available_slots,
    do_book_appointment,
    do_cancel_appointment,
    do_reschedule_appointment,
    process_appointments,
)
from teamline.routing.models import Appointment, WorkItem
from teamline.teams.models import BusinessHours, Holiday

from .support import timeline

pytestmark = pytest.mark.django_db

# Monday 6 January 2025, 08:00 in Oslo (UTC+1).
MONDAY_8_OSLO = datetime(2025, 1, 6, 7, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def staffed_team(name="Oslo", tz="Europe/Oslo", members=4, hours=((9, 11),)):
    """A team open on weekdays in `hours` (local), with `members` agents; a share of 0.25
    reserves one seat per slot for 4 members."""
    team = create_team(name, timezone=tz)
    for weekday in range(5):
        for opens, closes in hours:
            BusinessHours.objects.create(
                team=team, weekday=weekday, opens=f"{opens:02d}:00", closes=f"{closes:02d}:00"
            )
    for i in range(members):
        create_agent(f"{name.lower()}{i}", team=team)
    return team


def conversation_of(team, name="Astrid"):
    customer = create_customer(team=team, name=name)
    conversation = customer_says(customer, "Can we talk tomorrow?")[0].conversation
    conversation.refresh_from_db()
    return customer, conversation


def local_times(slots, tz="Europe/Oslo"):
    from zoneinfo import ZoneInfo

    return [s.start.astimezone(ZoneInfo(tz)).strftime("%a %H:%M") for s in slots]


def system_texts(conversation):
    return list(
        Message.objects.filter(conversation=conversation, sender_kind=SenderKind.SYSTEM)
        .order_by("pk")
        .values_list("text", flat=True)
    )


def test_slots_are_inside_business_hours_in_the_team_time_zone():
    oslo = staffed_team()
    slots = available_slots(oslo, now=MONDAY_8_OSLO, days=2)
    assert local_times(slots) == [
        "Mon 09:00", "Mon 09:30", "Mon 10:00", "Mon 10:30",
        "Tue 09:00", "Tue 09:30", "Tue 10:00", "Tue 10:30",
    ]  # fmt: skip
    assert {s.capacity for s in slots} == {1}  # 4 members x 25 %


def test_no_slots_on_a_holiday_of_the_team_in_its_own_time_zone():
    oslo = staffed_team()
    shanghai = staffed_team("Shenzhen", tz="Asia/Shanghai", hours=((9, 10),))
    Holiday.objects.create(team=oslo, date=date(2025, 1, 7), name="Team day")
    Holiday.objects.create(team=shanghai, date=date(2025, 1, 7), name="Team day")
    assert local_times(available_slots(oslo, now=MONDAY_8_OSLO, days=3)) == [
        "Mon 09:00", "Mon 09:30", "Mon 10:00", "Mon 10:30",
        "Wed 09:00", "Wed 09:30", "Wed 10:00", "Wed 10:30",
    ]  # fmt: skip
    # 08:00 in Oslo is 15:00 in Shenzhen: Monday's slots are over there.
    assert local_times(available_slots(shanghai, now=MONDAY_8_OSLO, days=3), "Asia/Shanghai") == [
        "Wed 09:00",
        "Wed 09:30",
    ]


def test_a_team_without_staff_for_appointments_offers_nothing():
    assert available_slots(staffed_team(members=3), now=MONDAY_8_OSLO) == []


def test_booking_takes_the_seat_and_stops_the_wait():
    oslo = staffed_team()
    customer, conversation = conversation_of(oslo)
    slot = available_slots(oslo, now=MONDAY_8_OSLO)[0]

    appointment = do_book_appointment(
        customer,
        team=oslo,
        slot_start=slot.start,
        kind="call",
        phone="+47 912 34 567",
        conversation=conversation,
        now=MONDAY_8_OSLO,
    )

    assert (appointment.phone, appointment.state) == ("+4791234567", "booked")
    assert available_slots(oslo, now=MONDAY_8_OSLO)[0].start == slot.start + timedelta(minutes=30)
    conversation.refresh_from_db()
    assert conversation.status == "pending"
    assert timeline(conversation, "routed")[-1]["appointment"] == "booked"
    assert system_texts(conversation)[-1].startswith("Booked: a call at 09:00 with team Oslo")
    other, other_conversation = conversation_of(oslo, "Bodil")
    with pytest.raises(SlotTaken):
        do_book_appointment(
            other, team=oslo, slot_start=slot.start, kind="chat",
            conversation=other_conversation, now=MONDAY_8_OSLO,
        )  # fmt: skip


def test_reschedule_and_cancel_free_the_seat():
    oslo = staffed_team()
    customer, conversation = conversation_of(oslo)
    first, second = available_slots(oslo, now=MONDAY_8_OSLO)[:2]
    appointment = do_book_appointment(
        customer, team=oslo, slot_start=first.start, kind="chat",
        conversation=conversation, now=MONDAY_8_OSLO,
    )  # fmt: skip

    appointment = do_reschedule_appointment(appointment, second.start, now=MONDAY_8_OSLO)

    assert appointment.slot_start == second.start
    starts = [s.start for s in available_slots(oslo, now=MONDAY_8_OSLO)]
    assert first.start in starts and second.start not in starts
    assert timeline(conversation, "routed")[-1]["appointment"] == "rescheduled"

    appointment = do_cancel_appointment(appointment, by="customer", now=MONDAY_8_OSLO)

    assert appointment.state == "cancelled"
    assert second.start in [s.start for s in available_slots(oslo, now=MONDAY_8_OSLO)]
    assert timeline(conversation, "routed")[-1] == {
        "appointment": "cancelled",
        "appointment_id": appointment.pk,
        "by": "customer",
    }
    assert system_texts(conversation)[-1] == "Your chat at 09:30 is cancelled."


def booked(team, kind="call", agent=None):
    customer, conversation = conversation_of(team)
    slot = available_slots(team, now=MONDAY_8_OSLO)[0]  # 09:00 Oslo
    appointment = do_book_appointment(
        customer, team=team, slot_start=slot.start, kind=kind, phone="+4791234567",
        conversation=conversation, agent=agent, now=MONDAY_8_OSLO,
    )  # fmt: skip
    return appointment, conversation


def test_reminder_then_start_at_high_priority_for_the_chosen_agent():
    oslo = staffed_team()
    kari = oslo.members.order_by("pk").first()
    appointment, conversation = booked(oslo, agent=kari)
    at_0845 = MONDAY_8_OSLO + timedelta(minutes=45)

    assert process_appointments(now=at_0845)["reminded"] == 1
    assert process_appointments(now=at_0845)["reminded"] == 0  # once
    assert system_texts(conversation)[-1] == (
        "Reminder: your call at 09:00 with team Oslo (we will call +4791234567)."
    )

    do_set_presence(kari, "available", actor=kari)
    at_0900 = MONDAY_8_OSLO + timedelta(hours=1)
    assert process_appointments(now=at_0900)["started"] == 1

    appointment.refresh_from_db()
    conversation.refresh_from_db()
    item = WorkItem.objects.get(pk=appointment.work_item_id)
    assert (appointment.state, item.kind, item.priority, item.channel_kind) == (
        "started", "appointment", 1, "voice",
    )  # fmt: skip
    assert (conversation.status, conversation.assignee) == ("open", kari)
    assert (
        f"It is time for your appointment. {kari.name} will call you on +4791234567 shortly."
        in system_texts(conversation)
    )


def test_a_chat_appointment_without_the_customer_is_a_no_show():
    oslo = staffed_team()
    appointment, conversation = booked(oslo, kind="chat")
    # The customer's last message was the day before.
    Message.objects.filter(conversation=conversation).update(
        created_at=MONDAY_8_OSLO - timedelta(days=1)
    )
    process_appointments(now=MONDAY_8_OSLO + timedelta(hours=1))
    assert process_appointments(now=MONDAY_8_OSLO + timedelta(minutes=65))["no_show"] == 0

    counts = process_appointments(now=MONDAY_8_OSLO + timedelta(minutes=71))

    assert counts["no_show"] == 1
    appointment.refresh_from_db()
    conversation.refresh_from_db()
    assert appointment.state == "no_show"
    assert conversation.status == "resolved"
    assert timeline(conversation, "routed")[-1]["appointment"] == "no_show"
    assert system_texts(conversation)[-1].startswith("We missed you for your chat at 09:00.")


def test_a_customer_who_writes_is_no_no_show():
    oslo = staffed_team()
    appointment, conversation = booked(oslo, kind="chat")
    process_appointments(now=MONDAY_8_OSLO + timedelta(hours=1))
    customer_says(conversation.customer, "I am here!")

    process_appointments(now=MONDAY_8_OSLO + timedelta(minutes=71))

    appointment.refresh_from_db()
    assert appointment.state == "started"


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_two_customers_cannot_take_the_last_seat():
    oslo = staffed_team()
    slot = available_slots(oslo, now=MONDAY_8_OSLO)[0]
    people = [conversation_of(oslo, name) for name in ("Astrid", "Bodil", "Cato", "Dag")]
    barrier = threading.Barrier(len(people))
    outcomes: list[str] = []

    def book(customer, conversation):
        try:
            barrier.wait()
            do_book_appointment(
                customer, team=oslo, slot_start=slot.start, kind="chat",
                conversation=conversation, now=MONDAY_8_OSLO,
            )  # fmt: skip
            outcomes.append("booked")
        except SlotTaken:
            outcomes.append("taken")
        except Exception as exc:  # SQLite may report a busy database: a refused booking
            outcomes.append(type(exc).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=book, args=person) for person in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes.count("booked") == 1, outcomes
    assert Appointment.objects.filter(slot_start=slot.start, state="booked").count() == 1
