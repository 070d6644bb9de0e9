"""The appointments page: upcoming bookings of my teams as a table with a caption, times in the
team's time zone with the UTC offset, and per row "Cancel appointment with …" and a labelled
"New time for …" with "Reschedule appointment with …" — found by role and name."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from teamline.core.testing import create_agent, create_customer
from teamline.routing.appointments import available_slots, do_book_appointment
from teamline.routing.models import Appointment

from .page import Page
from .support import conversation_of, get_page

pytestmark = pytest.mark.django_db

PAGE = "/desk/appointments/"
HTMX_LIST = {"HX-Request": "true", "HX-Target": "appointments-list"}


@pytest.fixture(autouse=True)
def _one_seat_per_slot(settings):
    # Oslo has two agents: half of them take appointments, one seat per slot.
    settings.TEAMLINE = {**settings.TEAMLINE, "APPOINTMENT_SHARE": 0.5}
    cache.clear()
    yield
    cache.clear()


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def book(team, name: str, slot_index: int, kind: str = "call") -> Appointment:
    customer = create_customer(team=team, name=name)
    conversation = conversation_of(customer, "Can we talk later?")
    slot = available_slots(team)[slot_index]
    return do_book_appointment(
        customer,
        team=team,
        slot_start=slot.start,
        kind=kind,
        phone="+47 912 34 567" if kind == "call" else "",
        conversation=conversation,
    )


def oslo_time(moment: datetime) -> str:
    local = moment.astimezone(ZoneInfo("Europe/Oslo"))
    offset = "UTC+01:00" if local.utcoffset().total_seconds() == 3600 else "UTC+02:00"
    when = f"{local.strftime('%a')} {local.day} {local.strftime('%b %H:%M')}"
    utc = moment.astimezone(UTC)
    clock = utc.strftime("%H:%M" if utc.date() == local.date() else "%a %H:%M")
    return f"{when} Europe/Oslo time ({offset}; {clock} UTC)"


def row_of(page: Page, appointment: Appointment):
    return page.by_id(f"appointment-{appointment.pk}")


def test_the_desk_nav_leads_to_the_appointments_of_my_teams(as_kari, world):
    astrid = book(world.oslo, "Astrid", 0)
    bodil = book(world.oslo, "Bodil", 2, kind="chat")
    create_agent("berit-agent", team=world.bergen)
    book(world.bergen, "Berit", 0)  # Bergen's: not Kari's business

    inbox = get_page(as_kari, reverse("desk:inbox"))
    assert inbox.link("Appointments").get("href") == PAGE == reverse("desk:appointments")

    page = get_page(as_kari, PAGE)
    assert page.link("Appointments").get("aria-current") == "page"
    page.one("heading", "Appointments")
    table = page.root.find_all("table")[0]
    caption = table.find_all("caption")[0].text
    assert caption.startswith("Upcoming appointments of your teams, soonest first.")
    headers = [th.text for th in table.find_all("th", scope="col")]
    assert headers == ["Time", "Customer", "Team", "Kind", "State", "Agent", "Actions"]
    assert [th.text for th in table.find_all("th", scope="row")] == ["Astrid", "Bodil"]

    cells = [td.text for td in row_of(page, astrid).find_all("td")]
    assert cells[0] == oslo_time(astrid.slot_start)
    assert cells[1:5] == ["Oslo", "Call to +4791234567", "Booked", "Team"]
    assert [td.text for td in row_of(page, bodil).find_all("td")][2] == "Chat"
    time = row_of(page, astrid).find_all("time")[0]
    assert datetime.fromisoformat(time.get("datetime")) == astrid.slot_start
    assert page.link("Astrid").get("href") == reverse(
        "desk:conversation", args=[astrid.conversation_id]
    )
    assert "Berit" not in page.text


def test_each_row_has_cancel_and_reschedule_named_after_the_customer(as_kari, world):
    astrid = book(world.oslo, "Astrid", 0)
    book(world.oslo, "Bodil", 1)
    page = get_page(as_kari, PAGE)

    cancel = page.button("Cancel appointment with Astrid")
    assert cancel.text == "Cancel appointment with Astrid"
    assert page.form_of(cancel).get("action") == reverse(
        "desk:cancel_appointment", args=[astrid.pk]
    )
    new_time = page.field("New time for Astrid")
    assert new_time.tag == "select" and new_time.get("name") == "slot_start"
    reschedule = page.button("Reschedule appointment with Astrid")
    assert page.form_of(reschedule) is page.form_of(new_time)
    # Free slots only: neither Astrid's own time nor Bodil's (the only seat) is offered.
    offered = [o.get("value") for o in new_time.find_all("option")]
    taken = {astrid.slot_start, Appointment.objects.get(customer__name="Bodil").slot_start}
    assert offered and not {datetime.fromisoformat(v) for v in offered} & taken
    first = available_slots(world.oslo)[0]
    assert f"{first.start.astimezone(UTC):%H:%M} UTC)" in page.options("New time for Astrid")[0]


def test_cancel_frees_the_seat_and_tells_the_agent(as_kari, world):
    astrid = book(world.oslo, "Astrid", 0)
    page = get_page(as_kari, PAGE)

    response = as_kari.post(
        page.form_of(page.button("Cancel appointment with Astrid")).get("action"), follow=True
    )

    assert response.status_code == 200
    page = Page(response.content)
    assert "Appointment with Astrid cancelled." in page.text
    assert "No upcoming appointments." in page.text
    astrid.refresh_from_db()
    assert astrid.state == "cancelled"


def test_cancel_with_htmx_returns_the_list_and_announces_it(as_kari, world):
    astrid = book(world.oslo, "Astrid", 0)
    bodil = book(world.oslo, "Bodil", 1)

    response = as_kari.post(reverse("desk:cancel_appointment", args=[astrid.pk]), headers=HTMX_LIST)

    assert response.status_code == 200
    page = Page(response.content)
    assert page.one("heading", "Upcoming appointments").get("id") == "appointments-list-heading"
    assert row_of(page, astrid) is None and row_of(page, bodil) is not None
    assert page.all("link", "Appointments") == []  # the partial, not the page
    assert (
        json.loads(response["HX-Trigger"])["desk:announce"] == "Appointment with Astrid cancelled."
    )


def test_reschedule_moves_the_booking_to_the_chosen_time(as_kari, world):
    astrid = book(world.oslo, "Astrid", 0)
    page = get_page(as_kari, PAGE)
    new_time = page.field("New time for Astrid")
    chosen = new_time.find_all("option")[1].get("value")

    response = as_kari.post(
        page.form_of(new_time).get("action"), {"slot_start": chosen}, follow=True
    )

    assert response.status_code == 200
    astrid.refresh_from_db()
    assert astrid.slot_start == datetime.fromisoformat(chosen)
    assert astrid.state == "booked"
    local = astrid.slot_start.astimezone(ZoneInfo("Europe/Oslo"))
    when = f"{local.strftime('%a')} {local.day} {local.strftime('%b %H:%M')}"
    assert (
        f"Appointment with Astrid moved to {when} Europe/Oslo time." in Page(response.content).text
    )


def test_a_slot_taken_meanwhile_is_an_inline_alert_next_to_the_time(as_kari, world):
    astrid = book(world.oslo, "Astrid", 0)
    page = get_page(as_kari, PAGE)
    form = page.form_of(page.field("New time for Astrid"))
    wanted = page.field("New time for Astrid").find_all("option")[0].get("value")
    cato = book(world.oslo, "Cato", 0)  # takes the only seat of that time meanwhile
    assert cato.slot_start == datetime.fromisoformat(wanted)

    for headers in ({}, HTMX_LIST):
        response = as_kari.post(form.get("action"), {"slot_start": wanted}, headers=headers)
        assert response.status_code == 409
        page = Page(response.content)
        assert page.alerts() == ["That time is fully booked; please choose another."]
        row = row_of(page, astrid)
        alert = next(n for n in row.iter() if n.get("role") == "alert")
        select = page.field("New time for Astrid")
        assert select.get("aria-invalid") == "true"
        assert select.get("aria-describedby") == alert.get("id")
    astrid.refresh_from_db()
    assert astrid.slot_start != cato.slot_start


def test_a_time_not_from_the_list_is_refused(as_kari, world):
    astrid = book(world.oslo, "Astrid", 0)
    url = reverse("desk:reschedule_appointment", args=[astrid.pk])
    response = as_kari.post(url, {"slot_start": "tomorrow at nine"})
    assert response.status_code == 400
    assert Page(response.content).alerts() == ["Choose a new time from the list."]


def test_another_team_cannot_see_or_change_the_booking(world):
    astrid = book(world.oslo, "Astrid", 0)
    bjorn = client_for(world.bjorn)

    assert "Astrid" not in get_page(bjorn, PAGE).text
    slot = available_slots(world.oslo)[3].start.isoformat()
    assert bjorn.post(reverse("desk:cancel_appointment", args=[astrid.pk])).status_code == 404
    response = bjorn.post(
        reverse("desk:reschedule_appointment", args=[astrid.pk]), {"slot_start": slot}
    )
    assert response.status_code == 404
    astrid.refresh_from_db()
    assert astrid.state == "booked"
