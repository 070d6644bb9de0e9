"""Business hours on the nights the clocks change: one definition of "open" drives both
`is_open_at` and `next_opening_at`, so a promise never names a time the team is not serving, and
never skips a time it is."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from teamline.core.testing import create_agent, create_team
from teamline.routing.appointments import available_slots
from teamline.teams.actions import do_set_business_hours
from teamline.teams.hours import (
    Calendar,
    day_of,
    day_start,
    format_local,
    is_open_at,
    mode_at,
    next_opening,
    next_opening_at,
)
from teamline.teams.models import ServiceMode

SECOND, MINUTE = timedelta(seconds=1), timedelta(minutes=1)


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def sundays(zone, opens, closes):
    return Calendar(team_id=1, name="Night desk", timezone=zone, intervals=((6, opens, closes),))


def opens_exactly_at(calendar, instant):
    """The promise and the clock agree: open at the promised instant, closed just before
    (arithmetic in UTC: on an aware local datetime it would be wall-clock arithmetic)."""
    instant = instant.astimezone(UTC)
    assert is_open_at(calendar, instant)
    assert not is_open_at(calendar, instant - SECOND)


# --- Spring forward: the opening time is skipped by the clock -------------------------------


def test_oslo_spring_forward_opens_when_the_clock_jumps_past_the_opening_time():
    """Sunday 30 March 2025: 02:00 CET becomes 03:00 CEST (01:00 UTC). Hours from 02:30 start
    at 03:00 CEST, the first moment the team's clock shows 02:30 or later; the promise used to
    say 03:30 CEST, half an hour after agents were answering."""
    oslo = sundays("Europe/Oslo", time(2, 30), time(12))
    saturday_night = utc(2025, 3, 29, 23, 0)  # 00:00 CET
    opening = next_opening_at(oslo, saturday_night)
    assert opening == utc(2025, 3, 30, 1, 0)
    opens_exactly_at(oslo, opening)
    assert format_local(oslo, opening, saturday_night) == "03:00"


def test_new_york_spring_forward_opens_when_the_clock_jumps_past_the_opening_time():
    """Sunday 9 March 2025: 02:00 EST becomes 03:00 EDT (07:00 UTC)."""
    new_york = sundays("America/New_York", time(2, 15), time(10))
    saturday_night = utc(2025, 3, 9, 5, 0)  # 00:00 EST
    opening = next_opening_at(new_york, saturday_night)
    assert opening == utc(2025, 3, 9, 7, 0)
    opens_exactly_at(new_york, opening)


def test_lord_howe_half_hour_spring_forward():
    """Sunday 5 October 2025 on Lord Howe Island: 02:00 (+10:30) becomes 02:30 (+11:00),
    at 15:30 UTC on the 4th. Hours from 02:10 start at the change."""
    lord_howe = sundays("Australia/Lord_Howe", time(2, 10), time(9))
    opening = next_opening_at(lord_howe, utc(2025, 10, 4, 13, 0))
    assert opening == utc(2025, 10, 4, 15, 30)
    opens_exactly_at(lord_howe, opening)


def test_hours_wholly_inside_the_skipped_hour_do_not_happen_that_night():
    """02:15–02:45 does not exist on the spring night; the next opening is a week later."""
    oslo = sundays("Europe/Oslo", time(2, 15), time(2, 45))
    opening = next_opening_at(oslo, utc(2025, 3, 29, 23, 0))
    assert opening == utc(2025, 4, 6, 0, 15)  # 02:15 CEST on Sunday 6 April
    opens_exactly_at(oslo, opening)


# --- Fall back: the opening time happens twice ---------------------------------------------


def test_oslo_fall_back_hours_begin_at_the_first_reading_and_stay_open():
    """Sunday 26 October 2025: 03:00 CEST becomes 02:00 CET (01:00 UTC), so 02:00–03:00 happens
    twice. A shift from 02:30 begins the first time the clock shows 02:30 and keeps going when
    the clock goes back. A customer writing at 02:10 (second time round) used to be told
    "from 02:30 on Sunday 2 November", a week late, though agents were at work."""
    oslo = sundays("Europe/Oslo", time(2, 30), time(12))
    first_0210 = utc(2025, 10, 26, 0, 10)
    assert not is_open_at(oslo, first_0210)
    opening = next_opening_at(oslo, first_0210)
    assert opening == utc(2025, 10, 26, 0, 30)
    opens_exactly_at(oslo, opening)
    assert format_local(oslo, opening, first_0210) == "02:30"

    second_0210 = utc(2025, 10, 26, 1, 10)
    assert is_open_at(oslo, second_0210)
    assert next_opening_at(oslo, second_0210) == second_0210


def test_new_york_fall_back_hours_begin_at_the_first_reading_and_stay_open():
    """Sunday 2 November 2025: 02:00 EDT becomes 01:00 EST (06:00 UTC)."""
    new_york = sundays("America/New_York", time(1, 30), time(9))
    first_0110 = utc(2025, 11, 2, 5, 10)
    assert next_opening_at(new_york, first_0110) == utc(2025, 11, 2, 5, 30)
    second_0110 = utc(2025, 11, 2, 6, 10)
    assert is_open_at(new_york, second_0110)
    assert next_opening_at(new_york, second_0110) == second_0110
    # It closes at 09:00 EST, nine and a half hours of elapsed time after it opened.
    assert is_open_at(new_york, utc(2025, 11, 2, 13, 59))
    assert not is_open_at(new_york, utc(2025, 11, 2, 14, 0))


def test_lord_howe_half_hour_fall_back():
    """Sunday 6 April 2025: 02:00 (+11:00) becomes 01:30 (+10:30), at 15:00 UTC on the 5th."""
    lord_howe = sundays("Australia/Lord_Howe", time(1, 45), time(9))
    assert next_opening_at(lord_howe, utc(2025, 4, 5, 14, 30)) == utc(2025, 4, 5, 14, 45)
    second_0135 = utc(2025, 4, 5, 15, 5)
    assert is_open_at(lord_howe, second_0135)


def test_a_shift_closing_inside_the_repeated_hour_closes_the_first_time():
    oslo = sundays("Europe/Oslo", time(0), time(2, 30))
    assert is_open_at(oslo, utc(2025, 10, 26, 0, 29))  # 02:29 CEST
    assert not is_open_at(oslo, utc(2025, 10, 26, 0, 30))  # 02:30 CEST
    assert not is_open_at(oslo, utc(2025, 10, 26, 1, 10))  # 02:10 CET


def test_days_that_begin_at_a_skipped_midnight_or_end_with_a_repeated_hour():
    """Chile skips Saturday 24:00 → Sunday 01:00 (6 September 2025): Sunday begins at 01:00.
    Lebanon goes back from Sunday 00:00 to Saturday 23:00 (26 October 2025): a Saturday shift
    until midnight runs from the first 23:00 until the clock first shows Sunday 00:00."""
    santiago = Calendar(team_id=1, name="Santiago", timezone="America/Santiago")
    assert day_start(santiago, date(2025, 9, 7)) == utc(2025, 9, 7, 4, 0)  # 01:00 -03
    beirut = Calendar(
        team_id=2, name="Beirut", timezone="Asia/Beirut", intervals=((5, time(23), time(0)),)
    )
    assert day_start(beirut, date(2025, 10, 26)) == utc(2025, 10, 25, 22, 0)  # 00:00 +02
    assert next_opening_at(beirut, utc(2025, 10, 25, 19, 0)) == utc(2025, 10, 25, 20, 0)
    assert is_open_at(beirut, utc(2025, 10, 25, 21, 30))  # 23:30 +02, the second time
    assert not is_open_at(beirut, utc(2025, 10, 25, 22, 0))
    assert day_of(beirut, utc(2025, 10, 25, 21, 30)) == date(2025, 10, 25)


@pytest.mark.django_db
@pytest.mark.integration
def test_the_database_path_gives_the_same_answer():
    """What routing reads (snapshots from the database) follows the same rule."""
    oslo = create_team("Oslo", timezone="Europe/Oslo")
    do_set_business_hours(oslo, [(6, time(2, 30), time(12))])
    assert next_opening(oslo, utc(2025, 3, 29, 23, 0)) == utc(2025, 3, 30, 1, 0)
    assert next_opening(oslo, utc(2025, 10, 26, 1, 10)) == utc(2025, 10, 26, 1, 10)


@pytest.mark.django_db
def test_appointment_slots_follow_the_same_hours_on_a_spring_forward_night():
    """Slots are cut from the same instants: 02:30–04:00 on the spring night is 03:00–04:00
    CEST, two half-hour slots (one, from 03:30, before)."""
    oslo = create_team("Oslo", timezone="Europe/Oslo")
    do_set_business_hours(oslo, [(6, time(2, 30), time(4))])
    for name in ("kari", "ola", "nils", "siri"):
        create_agent(name, team=oslo)
    slots = available_slots(oslo, now=utc(2025, 3, 29, 12, 0), days=2)
    assert [slot.start for slot in slots] == [utc(2025, 3, 30, 1, 0), utc(2025, 3, 30, 1, 30)]


# --- Property: the promise is the first instant the clock says open ------------------------

ZONES = [
    "Europe/Oslo",
    "America/New_York",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Beirut",
    "Asia/Shanghai",
]


def _transitions(zone: str, year: int) -> list[datetime]:
    calendar = Calendar(team_id=0, name="", timezone=zone)
    moment, found = utc(year, 1, 1), []
    while moment.year == year:
        step = moment + timedelta(minutes=30)
        if moment.astimezone(calendar.tz).utcoffset() != step.astimezone(calendar.tz).utcoffset():
            found.append(step)
        moment = step
    return found or [utc(year, 3, 30)]


TRANSITIONS = {zone: _transitions(zone, 2025) for zone in ZONES}
# Opening and closing times near the changes (00:00–03:30 and 23:00) come up often.
CLOCKS = st.one_of(
    st.builds(time, st.sampled_from([0, 1, 2, 3, 23]), st.sampled_from([0, 10, 15, 30, 45])),
    st.builds(time, st.integers(0, 23), st.integers(0, 59)),
)


def near(clock: time, minutes: int) -> time:
    moment = datetime.combine(date(2025, 1, 1), clock) + timedelta(minutes=minutes)
    return moment.time()


@st.composite
def calendars_and_instants(draw):
    """A team in a zone with odd changes, an instant within a day or two of a change, and
    hours whose opening and closing times often fall in or next to the skipped/repeated hour."""
    zone = draw(st.sampled_from(ZONES))
    tz = Calendar(team_id=0, name="", timezone=zone).tz
    change = draw(st.sampled_from(TRANSITIONS[zone]))
    wall_before = (change - MINUTE).astimezone(tz)  # the clock a minute before it changes
    change_day = wall_before.date()
    intervals = []
    for weekday in range(7):
        for _ in range(draw(st.integers(0, 2))):
            opens, closes = sorted([draw(CLOCKS), draw(CLOCKS)])
            if closes == opens or draw(st.integers(0, 4)) == 0:
                closes = time(0)  # until midnight
            intervals.append((weekday, opens, closes))
    for _ in range(draw(st.integers(0, 2))):
        opens = near(wall_before.time(), draw(st.integers(-90, 90)))
        closes = near(opens, draw(st.integers(5, 300)))
        if closes <= opens:
            closes = time(0)
        intervals.append((change_day.weekday(), opens, closes))
    now = change + timedelta(minutes=draw(st.integers(-2 * 1440, 1440)))
    local_day = now.astimezone(tz).date()
    around = st.builds(lambda d: local_day + timedelta(days=d), st.integers(-1, 4))
    holidays = draw(st.frozensets(around, max_size=2))
    working = draw(st.dictionaries(around, st.one_of(st.none(), st.integers(0, 6)), max_size=1))
    mode = draw(st.sampled_from([ServiceMode.NORMAL, ServiceMode.LIMITED, ServiceMode.CLOSED]))
    until = None
    if mode != ServiceMode.NORMAL:
        until = now + timedelta(minutes=draw(st.integers(0, 3 * 1440)))
    calendar = Calendar(
        team_id=1,
        name="Team",
        timezone=zone,
        intervals=tuple(sorted(intervals)),
        custom_holidays=holidays,
        working_days=working,
        service_mode=mode,
        service_mode_until=until,
        holiday_mode=draw(st.sampled_from([ServiceMode.LIMITED, ServiceMode.CLOSED])),
    )
    return calendar, now


SCAN = timedelta(days=3)


def first_minute(now, holds):
    moment = now
    while moment <= now + SCAN:
        if holds(moment):
            return moment
        moment += MINUTE
    return None


@settings(max_examples=150, deadline=None, database=None)
@given(calendars_and_instants())
def test_next_opening_is_the_first_instant_the_team_is_open(case):
    """Scanning minute by minute from `now`, the first open instant is the promised one (for
    urgent items: open in any mode; for the rest: serving normally), and the instant before the
    promise is closed. All boundaries fall on whole minutes, so the scan misses none."""
    calendar, now = case
    for urgent, holds in (
        (True, lambda moment: is_open_at(calendar, moment)),
        (False, lambda moment: mode_at(calendar, moment) == ServiceMode.NORMAL),
    ):
        promised = next_opening_at(calendar, now, urgent=urgent)
        scanned = first_minute(now, holds)
        if scanned is None:
            assert promised is None or promised > now + SCAN
            continue
        assert promised == scanned
        assert holds(promised)
        if promised > now:
            assert not holds(promised.astimezone(UTC) - SECOND)
