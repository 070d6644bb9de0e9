"""A team's official calendar: mainland China's Golden Week (1–8 October 2025) closes the
Shenzhen team, and the weekend days moved to working days (Sunday 28 September and Saturday
11 October) open it with its weekday hours. Routing's promises and the next opening agree."""

from datetime import UTC, date, datetime, time
from io import StringIO
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from teamline.conversations.models import Message
from teamline.core.errors import InvalidInput
from teamline.core.testing import create_agent, create_customer, create_team, create_user
from teamline.routing.appointments import available_slots
from teamline.routing.eta import queue_status
from teamline.routing.queries import cached_calendars
from teamline.teams.actions import do_import_team_calendar, do_set_business_hours
from teamline.teams.calendar_import import parse_official_calendar
from teamline.teams.hours import is_open, next_opening, service_mode
from teamline.teams.models import CalendarEntry
from tests.routing.support import arrives

pytestmark = pytest.mark.django_db

CHINA_2025 = (Path(__file__).parent / "fixtures" / "cn-2025-official.ics").read_bytes()
SHANGHAI = ZoneInfo("Asia/Shanghai")
WEEKDAYS_9_TO_18 = [(day, time(9), time(18)) for day in range(5)]


def shenzhen_time(*args):
    return datetime(*args, tzinfo=SHANGHAI)


def shenzhen_team(**fields):
    team = create_team("Shenzhen", timezone="Asia/Shanghai")
    do_set_business_hours(team, WEEKDAYS_9_TO_18)
    for name, value in fields.items():
        setattr(team, name, value)
    team.save()
    return team


def ics(*events: str, name: str = "Test calendar") -> bytes:
    body = "".join(f"BEGIN:VEVENT\r\n{event.strip()}\r\nEND:VEVENT\r\n" for event in events)
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Teamline tests//EN\r\n"
        f"X-WR-CALNAME:{name}\r\n{body}END:VCALENDAR\r\n"
    ).encode()


def entries(team):
    return list(
        CalendarEntry.objects.filter(team=team)
        .order_by("uid")
        .values_list("uid", "kind", "name", "first_day", "last_day", "hours_of", "source")
    )


# --- Golden Week ---------------------------------------------------------------------------


@pytest.mark.integration
def test_golden_week_closes_the_team_and_the_make_up_weekend_days_open_it():
    shenzhen = shenzhen_team()
    result = do_import_team_calendar(shenzhen, CHINA_2025, actor=None)
    assert (result.created, result.skipped) == (6, [])

    for day in range(1, 9):  # 1–8 October, whatever the weekday
        assert not is_open(shenzhen, shenzhen_time(2025, 10, day, 10, 0)), day
    assert is_open(shenzhen, shenzhen_time(2025, 10, 9, 10, 0))  # Thursday, back at work
    # The make-up days work with the weekday hours, 09:00–18:00.
    for day in (date(2025, 9, 28), date(2025, 10, 11)):  # Sunday, Saturday
        assert not is_open(shenzhen, shenzhen_time(day.year, day.month, day.day, 8, 59))
        assert is_open(shenzhen, shenzhen_time(day.year, day.month, day.day, 9, 0))
        assert is_open(shenzhen, shenzhen_time(day.year, day.month, day.day, 17, 59))
        assert not is_open(shenzhen, shenzhen_time(day.year, day.month, day.day, 18, 0))
    # An ordinary weekend stays closed.
    assert not is_open(shenzhen, shenzhen_time(2025, 10, 12, 10, 0))

    # The next opening skips the whole holiday and lands on the make-up Saturday after it.
    assert next_opening(shenzhen, shenzhen_time(2025, 9, 27, 20, 0)) == shenzhen_time(
        2025, 9, 28, 9, 0
    )
    assert next_opening(shenzhen, shenzhen_time(2025, 9, 30, 18, 30)) == shenzhen_time(
        2025, 10, 9, 9, 0
    )
    assert next_opening(shenzhen, shenzhen_time(2025, 10, 10, 18, 30)) == shenzhen_time(
        2025, 10, 11, 9, 0
    )


def test_with_urgent_matters_only_the_holiday_serves_urgent_items_in_weekday_hours():
    shenzhen = shenzhen_team(holiday_mode="limited")
    do_import_team_calendar(shenzhen, CHINA_2025, actor=None)
    national_day = shenzhen_time(2025, 10, 1, 10, 0)  # a Wednesday
    assert service_mode(shenzhen, national_day) == "limited"
    assert next_opening(shenzhen, national_day, urgent=True) == national_day
    assert service_mode(shenzhen, shenzhen_time(2025, 10, 4, 10, 0)) == "closed"  # Saturday
    assert next_opening(shenzhen, national_day) == shenzhen_time(2025, 10, 9, 9, 0)


@pytest.mark.integration
def test_routing_promises_the_same_opening():
    shenzhen = shenzhen_team()
    do_import_team_calendar(shenzhen, CHINA_2025, actor=None)
    create_agent("li", team=shenzhen, presence="available")

    saturday_evening = shenzhen_time(2025, 9, 27, 20, 0).astimezone(UTC)
    early = arrives(create_customer(team=shenzhen), at=saturday_evening)
    assert promise(early) == (
        "Team Shenzhen is closed right now. A person will answer your message from 09:00 tomorrow."
    )
    golden_week = shenzhen_time(2025, 10, 2, 11, 0).astimezone(UTC)
    late = arrives(create_customer(team=shenzhen), at=golden_week)
    assert late.assignee is None
    assert promise(late) == (
        "Team Shenzhen is closed right now. "
        "A person will answer your message from 09:00 on Thursday 9 October."
    )
    # The queue estimate the customer and the desk see names the same instant.
    status = queue_status(late, golden_week)
    assert (status.serving, status.answer_from) == (False, "09:00 on Thursday 9 October")
    reopening = shenzhen_time(2025, 10, 9, 9, 0)
    assert status.eta_seconds >= (reopening - golden_week).total_seconds()
    make_up_sunday = shenzhen_time(2025, 9, 28, 10, 0).astimezone(UTC)
    served = arrives(create_customer(team=shenzhen), at=make_up_sunday)
    assert served.assignee.username == "li"


def test_appointments_can_be_booked_on_a_make_up_day_not_in_golden_week():
    shenzhen = shenzhen_team()
    for name in ("li", "wang", "zhang", "chen"):
        create_agent(name, team=shenzhen)
    do_import_team_calendar(shenzhen, CHINA_2025, actor=None)
    now = shenzhen_time(2025, 9, 27, 12, 0)
    days = {slot.start.astimezone(SHANGHAI).date() for slot in available_slots(shenzhen, now=now)}
    assert date(2025, 9, 28) in days  # the make-up Sunday
    assert date(2025, 9, 30) in days
    assert not days & {date(2025, 10, day) for day in range(1, 4)}  # 1–3 October


def promise(conversation):
    return Message.objects.get(conversation=conversation, sender_kind="system").text


def test_a_country_calendar_with_make_up_days_is_followed_without_an_import():
    """The `holidays` package knows China's moved weekend days for the years it covers."""
    shenzhen = shenzhen_team(country="CN")
    assert is_open(shenzhen, shenzhen_time(2025, 9, 28, 10, 0))  # make-up Sunday
    assert not is_open(shenzhen, shenzhen_time(2025, 10, 7, 10, 0))  # day off, a Tuesday
    assert next_opening(shenzhen, shenzhen_time(2025, 9, 30, 18, 30)) == shenzhen_time(
        2025, 10, 9, 9, 0
    )


def test_a_make_up_day_can_work_with_another_weekday_hours():
    shenzhen = shenzhen_team()
    do_set_business_hours(shenzhen, [*WEEKDAYS_9_TO_18, (5, time(10), time(14))])
    do_import_team_calendar(shenzhen, CHINA_2025, actor=None)
    CalendarEntry.objects.filter(team=shenzhen, first_day=date(2025, 9, 28)).update(hours_of=5)
    assert not is_open(shenzhen, shenzhen_time(2025, 9, 28, 9, 30))
    assert is_open(shenzhen, shenzhen_time(2025, 9, 28, 13, 30))
    assert not is_open(shenzhen, shenzhen_time(2025, 9, 28, 14, 0))


# --- Importing -----------------------------------------------------------------------------


@pytest.mark.integration
def test_importing_the_same_file_again_changes_nothing():
    shenzhen = shenzhen_team()
    do_import_team_calendar(shenzhen, CHINA_2025, actor=None, source="cn-2025.ics")
    before = entries(shenzhen)
    again = do_import_team_calendar(shenzhen, CHINA_2025, actor=None, source="cn-2025.ics")
    assert (again.created, again.updated, again.unchanged, again.removed) == (0, 0, 6, 0)
    assert not again.changed
    assert entries(shenzhen) == before
    assert again.summary() == (
        "Imported Mainland China 2025 (State Council): 0 new, 0 updated, 6 unchanged, 0 removed."
    )


def test_a_revised_event_updates_its_entry_and_a_cancelled_one_removes_it():
    shenzhen = shenzhen_team()
    first = ics(
        "UID:day-1@gov\r\nDTSTART;VALUE=DATE:20251001\r\nSUMMARY:National Day",
        "UID:day-2@gov\r\nDTSTART;VALUE=DATE:20251011\r\nSUMMARY:补班",
    )
    do_import_team_calendar(shenzhen, first, actor=None)
    CalendarEntry.objects.filter(uid="day-2@gov").update(hours_of=4)  # an admin's choice
    revised = ics(
        "UID:day-1@gov\r\nDTSTART;VALUE=DATE:20251001\r\nDTEND;VALUE=DATE:20251004\r\n"
        "SUMMARY:National Day",
        "UID:day-2@gov\r\nDTSTART;VALUE=DATE:20251012\r\nSUMMARY:补班",
    )
    result = do_import_team_calendar(shenzhen, revised, actor=None)
    assert (result.created, result.updated, result.unchanged) == (0, 2, 0)
    day_1, day_2 = CalendarEntry.objects.filter(team=shenzhen).order_by("uid")
    assert (day_1.first_day, day_1.last_day) == (date(2025, 10, 1), date(2025, 10, 3))
    assert (day_2.first_day, day_2.hours_of) == (date(2025, 10, 12), 4)
    cancelled = ics("UID:day-1@gov\r\nDTSTART;VALUE=DATE:20251001\r\nSTATUS:CANCELLED")
    assert do_import_team_calendar(shenzhen, cancelled, actor=None).removed == 1
    assert [entry.uid for entry in CalendarEntry.objects.filter(team=shenzhen)] == ["day-2@gov"]


def test_entries_are_per_team():
    shenzhen, guangzhou = shenzhen_team(), create_team("Guangzhou", timezone="Asia/Shanghai")
    do_import_team_calendar(shenzhen, CHINA_2025, actor=None)
    assert do_import_team_calendar(guangzhou, CHINA_2025, actor=None).created == 6
    assert CalendarEntry.objects.count() == 12


def test_how_an_event_says_it_is_a_make_up_working_day():
    parsed = parse_official_calendar(
        ics(
            "UID:a\r\nDTSTART;VALUE=DATE:20250928\r\nSUMMARY:国庆节 班",
            "UID:b\r\nDTSTART;VALUE=DATE:20250929\r\nSUMMARY:Adjusted\r\nCATEGORIES:Workday",
            "UID:c\r\nDTSTART;VALUE=DATE:20250930\r\nSUMMARY:Shift\r\nX-TEAMLINE-KIND:WORKING-DAY",
            "UID:d\r\nDTSTART;VALUE=DATE:20251001\r\nSUMMARY:国庆节 休",
            "UID:e\r\nDTSTART;VALUE=DATE:20251002\r\nSUMMARY:Make-up day (上班)\r\n"
            "X-TEAMLINE-KIND:HOLIDAY",
            "UID:f\r\nDTSTART;VALUE=DATE:20251003\r\nDURATION:P2D\r\nSUMMARY:Company days",
        )
    )
    kinds = {entry.uid: entry.kind for entry in parsed.entries}
    assert kinds == {
        "a": "working_day",
        "b": "working_day",
        "c": "working_day",
        "d": "holiday",
        "e": "holiday",
        "f": "holiday",
    }
    assert parsed.entries[-1].last_day == date(2025, 10, 4)


def test_events_it_cannot_take_are_skipped_with_a_reason():
    shenzhen = shenzhen_team()
    result = do_import_team_calendar(
        shenzhen,
        ics(
            "UID:ok\r\nDTSTART;VALUE=DATE:20251001\r\nSUMMARY:National Day",
            "UID:timed\r\nDTSTART:20251001T090000Z\r\nDTEND:20251001T100000Z\r\nSUMMARY:Meeting",
            "UID:yearly\r\nDTSTART;VALUE=DATE:20250101\r\nRRULE:FREQ=YEARLY\r\nSUMMARY:New Year",
            "DTSTART;VALUE=DATE:20250501\r\nSUMMARY:Labour Day",
            "UID:long\r\nDTSTART;VALUE=DATE:20250101\r\nDTEND;VALUE=DATE:20250501\r\nSUMMARY:Typo",
            "UID:ok\r\nDTSTART;VALUE=DATE:20251002\r\nSUMMARY:National Day",
            "UID:backwards\r\nDTSTART;VALUE=DATE:20251005\r\nDTEND;VALUE=DATE:20251003\r\n"
            "SUMMARY:Backwards",
        ),
        actor=None,
    )
    assert result.created == 1
    assert result.skipped == [
        "'Meeting' on 2025-10-01T09:00:00+00:00: not an all-day event (DTSTART must be a date)",
        "'New Year' on 2025-01-01: repeating events are not supported, list each day",
        "'Labour Day' on 2025-05-01: no UID, so it could not be imported twice without duplicates",
        "'Typo' on 2025-01-01: longer than 31 days",
        "'National Day' on 2025-10-02: UID ok appears more than once",
        "'Backwards' on 2025-10-05: it ends before it begins",
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"\xff\xfe\x00\x01", "The file is not UTF-8 text, so not an ICS calendar."),
        (b"Dear admin, the holidays are", "The file is not a readable ICS calendar"),
        (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n", "The file is not a readable ICS calendar"),
        (b"BEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\n", "The file does not hold a VCALENDAR."),
        (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n", "The calendar has no events."),
        (b"BEGIN:VCALENDAR\r\n" + b"X" * 1_000_001, "The file is larger than 1000 kB."),
    ],
)
def test_a_file_that_is_not_a_calendar_is_refused_with_a_reason(data, message):
    shenzhen = shenzhen_team()
    with pytest.raises(InvalidInput) as refused:
        do_import_team_calendar(shenzhen, data, actor=None)
    assert refused.value.message.startswith(message)
    assert not CalendarEntry.objects.exists()


def test_an_entry_declared_by_hand_is_checked_like_an_imported_one():
    shenzhen = shenzhen_team()
    backwards = CalendarEntry(
        team=shenzhen,
        kind="holiday",
        name="Oops",
        first_day=date(2025, 10, 8),
        last_day=date(2025, 10, 1),
    )
    with pytest.raises(ValidationError, match="last day comes on or after the first day"):
        backwards.full_clean()
    too_long = CalendarEntry(
        team=shenzhen,
        kind="holiday",
        name="Typo",
        first_day=date(2025, 1, 1),
        last_day=date(2025, 12, 31),
    )
    with pytest.raises(ValidationError, match="at most 31 days"):
        too_long.full_clean()
    declared = CalendarEntry(
        team=shenzhen,
        kind="working_day",
        name="Stocktaking Sunday",
        first_day=date(2025, 11, 2),
        last_day=date(2025, 11, 2),
    )
    declared.full_clean()
    november = shenzhen_time(2025, 11, 2, 10, 0)
    assert not cached_calendars([shenzhen.pk], now=november)[shenzhen.pk].working_days
    declared.save()
    # Routing's per-process calendar cache drops the team at once, as for hours and holidays.
    cached = cached_calendars([shenzhen.pk], now=november)[shenzhen.pk]
    assert cached.working_days == {date(2025, 11, 2): None}
    assert str(declared) == "2025-11-02 Stocktaking Sunday (Make-up working day)"
    assert is_open(shenzhen, shenzhen_time(2025, 11, 2, 10, 0))


# --- Admin and command ---------------------------------------------------------------------


def test_an_admin_imports_the_calendar_from_the_team_page(client):
    shenzhen = shenzhen_team()
    client.force_login(create_user("root", role="admin"))
    page = client.get(f"/admin/teams/team/{shenzhen.pk}/change/").content.decode()
    url = f"/admin/teams/team/{shenzhen.pk}/import-calendar/"
    assert url in page
    form = client.get(url).content.decode()
    assert "Official calendar (ICS file)" in form
    assert 'type="file"' in form

    upload = SimpleUploadedFile("cn-2025.ics", CHINA_2025)
    response = client.post(url, {"file": upload}, follow=True)
    assert response.redirect_chain[-1][0] == f"/admin/teams/team/{shenzhen.pk}/change/"
    assert "Imported Mainland China 2025 (State Council): 6 new" in response.content.decode()
    assert CalendarEntry.objects.filter(team=shenzhen, source="cn-2025.ics").count() == 6
    # The entries are on the team page, where an admin can declare more by hand.
    assert "National Day make-up working day" in response.content.decode()


def test_a_bad_file_in_the_admin_is_a_form_error_not_a_server_error(client):
    shenzhen = shenzhen_team()
    client.force_login(create_user("root", role="admin"))
    url = f"/admin/teams/team/{shenzhen.pk}/import-calendar/"
    response = client.post(url, {"file": SimpleUploadedFile("notes.ics", b"just some notes")})
    assert response.status_code == 200
    assert "The file is not a readable ICS calendar" in response.content.decode()
    assert not CalendarEntry.objects.exists()
    assert client.get("/admin/teams/team/999999/import-calendar/").status_code == 302


def test_the_admin_action_leads_to_the_import_form_for_one_team(client):
    shenzhen, oslo = shenzhen_team(), create_team("Oslo")
    client.force_login(create_user("root", role="admin"))
    choose = {"action": "import_official_calendar", "_selected_action": [shenzhen.pk]}
    response = client.post("/admin/teams/team/", choose)
    assert response["Location"] == f"/admin/teams/team/{shenzhen.pk}/import-calendar/"
    both = {**choose, "_selected_action": [shenzhen.pk, oslo.pk]}
    response = client.post("/admin/teams/team/", both, follow=True)
    assert "Select exactly one team" in response.content.decode()


def test_agents_cannot_import(client):
    shenzhen = shenzhen_team()
    client.force_login(create_user("li", role="supervisor", supervises=shenzhen))
    url = f"/admin/teams/team/{shenzhen.pk}/import-calendar/"
    response = client.post(url, {"file": SimpleUploadedFile("cn.ics", CHINA_2025)})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert not CalendarEntry.objects.exists()


def test_the_management_command_imports_and_reports(tmp_path):
    shenzhen = shenzhen_team()
    path = tmp_path / "cn-2025.ics"
    path.write_bytes(CHINA_2025)
    out = StringIO()
    call_command("import_team_calendar", shenzhen.slug, str(path), stdout=out)
    assert "6 new" in out.getvalue()
    out = StringIO()
    call_command("import_team_calendar", shenzhen.slug, str(path), stdout=out)
    assert "0 new, 0 updated, 6 unchanged" in out.getvalue()
    bad = tmp_path / "bad.ics"
    bad.write_bytes(b"nothing here")
    with pytest.raises(CommandError, match="not a readable ICS calendar"):
        call_command("import_team_calendar", shenzhen.slug, str(bad))
    with pytest.raises(CommandError, match="no team"):
        call_command("import_team_calendar", "atlantis", str(path))
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_team_calendar", shenzhen.slug, str(tmp_path / "missing.ics"))
