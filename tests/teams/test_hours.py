"""Opening hours, holidays and service modes, each in the team's own time zone."""

from datetime import UTC, date, datetime, time

import pytest

from teamline.core.testing import create_team
from teamline.teams.actions import do_add_holiday, do_set_business_hours, do_set_service_mode
from teamline.teams.hours import is_open, next_opening, service_mode

pytestmark = pytest.mark.django_db

WEEKDAYS_9_TO_17 = [(day, time(9), time(17)) for day in range(5)]


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def test_a_team_without_hours_serves_around_the_clock():
    oslo = create_team("Oslo")
    assert is_open(oslo, utc(2025, 1, 5, 3, 0))  # a Sunday night
    assert next_opening(oslo, utc(2025, 1, 5, 3, 0)) == utc(2025, 1, 5, 3, 0)


def test_weekly_hours_are_wall_clock_times_in_the_team_time_zone():
    oslo = create_team("Oslo", timezone="Europe/Oslo")
    shenzhen = create_team("Shenzhen", timezone="Asia/Shanghai")
    do_set_business_hours(oslo, WEEKDAYS_9_TO_17)
    do_set_business_hours(shenzhen, WEEKDAYS_9_TO_17)
    # Monday 6 January 2025, 08:30 UTC: 09:30 in Oslo, 16:30 in Shenzhen.
    instant = utc(2025, 1, 6, 8, 30)
    assert is_open(oslo, instant) and is_open(shenzhen, instant)
    # 09:30 UTC: 10:30 in Oslo, 17:30 in Shenzhen (closed, opens 09:00 Tuesday = 01:00 UTC).
    later = utc(2025, 1, 6, 9, 30)
    assert is_open(oslo, later)
    assert not is_open(shenzhen, later)
    assert next_opening(shenzhen, later) == utc(2025, 1, 7, 1, 0)


def test_split_shifts_and_closing_at_midnight():
    oslo = create_team("Oslo", timezone="Europe/Oslo")
    do_set_business_hours(oslo, [(0, time(8), time(11)), (0, time(13), time(0))])
    assert is_open(oslo, utc(2025, 1, 6, 9, 0))  # 10:00 local
    assert not is_open(oslo, utc(2025, 1, 6, 11, 0))  # 12:00 local, lunch
    assert next_opening(oslo, utc(2025, 1, 6, 11, 0)) == utc(2025, 1, 6, 12, 0)
    assert is_open(oslo, utc(2025, 1, 6, 22, 59))  # 23:59 local
    assert not is_open(oslo, utc(2025, 1, 6, 23, 0))  # Tuesday 00:00 local


def test_next_opening_follows_daylight_saving_time():
    oslo = create_team("Oslo", timezone="Europe/Oslo")
    do_set_business_hours(oslo, WEEKDAYS_9_TO_17)
    # Friday 28 March 2025 at 18:00 CET; clocks go forward on Sunday 30 March.
    friday_evening = utc(2025, 3, 28, 17, 0)
    assert not is_open(oslo, friday_evening)
    # Monday 09:00 CEST is 07:00 UTC (it was 08:00 UTC the Monday before).
    assert next_opening(oslo, friday_evening) == utc(2025, 3, 31, 7, 0)
    assert next_opening(oslo, utc(2025, 3, 21, 17, 0)) == utc(2025, 3, 24, 8, 0)


def test_a_public_holiday_starts_at_the_team_local_midnight():
    """Chinese New Year's Eve (28 January 2025) is a public holiday in China, not in Norway."""
    oslo = create_team("Oslo", timezone="Europe/Oslo")
    shenzhen = create_team("Shenzhen", timezone="Asia/Shanghai")
    oslo.country, shenzhen.country = "NO", "CN"
    oslo.save()
    shenzhen.save()
    before = utc(2025, 1, 27, 15, 30)  # 23:30 in Shenzhen on the 27th, 16:30 in Oslo
    same_instant = utc(2025, 1, 27, 16, 30)  # 00:30 on the 28th in Shenzhen, 17:30 in Oslo
    assert is_open(shenzhen, before)
    assert not is_open(shenzhen, same_instant)
    assert is_open(oslo, same_instant)
    # The statutory Spring Festival days end on 31 January: Shenzhen's 1 February, 00:00.
    assert next_opening(shenzhen, same_instant) == utc(2025, 1, 31, 16, 0)


def test_custom_holiday_in_one_team_time_zone_on_the_same_instant():
    oslo = create_team("Oslo", timezone="Europe/Oslo")
    shenzhen = create_team("Shenzhen", timezone="Asia/Shanghai")
    do_add_holiday(oslo, date(2025, 3, 10), "Company day")
    instant = utc(2025, 3, 10, 22, 30)  # 23:30 on the 10th in Oslo, 06:30 on the 11th in Shenzhen
    assert not is_open(oslo, instant)
    assert is_open(shenzhen, instant)
    assert next_opening(oslo, instant) == utc(2025, 3, 10, 23, 0)  # Oslo's midnight


def test_holiday_mode_limited_serves_urgent_matters_only():
    oslo = create_team("Oslo", timezone="Europe/Oslo")
    oslo.country, oslo.holiday_mode = "NO", "limited"
    oslo.save()
    christmas = utc(2025, 12, 25, 10, 0)
    assert service_mode(oslo, christmas) == "limited"
    assert is_open(oslo, christmas)
    assert next_opening(oslo, christmas, urgent=True) == christmas
    # Boxing day is a holiday in Norway too: ordinary matters wait until the 27th, 00:00 local.
    assert next_opening(oslo, christmas) == utc(2025, 12, 26, 23, 0)


def test_supervisor_modes_expire_and_closed_beats_everything():
    oslo = create_team("Oslo", timezone="Europe/Oslo")
    now = utc(2025, 1, 6, 10, 0)
    do_set_service_mode(oslo, "limited", until=utc(2025, 1, 6, 12, 0))
    assert service_mode(oslo, now) == "limited"
    assert next_opening(oslo, now) == utc(2025, 1, 6, 12, 0)
    do_set_service_mode(oslo, "closed")
    assert not is_open(oslo, now)
    assert next_opening(oslo, now) is None
    do_set_service_mode(oslo, "normal")
    assert service_mode(oslo, now) == "normal"
