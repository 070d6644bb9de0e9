"""Every KPI of a known day, per interval and time zone, read from the contact facts the real
entry points kept (tests/analytics/conftest.py describes the day)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from teamline.analytics.models import Contact
from teamline.analytics.queries import kpis, team_today
from tests.analytics.conftest import utc, writes

pytestmark = pytest.mark.django_db

WEEK_LATER = utc(20, 12, 0)


def figures(team, start, end, interval, now=WEEK_LATER, **filters):
    return kpis(team, start=start, end=end, interval=interval, now=now, **filters)


def pick(row, *names):
    return {name: row[name] for name in names}


def test_each_quarter_hour_of_oslo_in_local_time(day):
    rows = figures(day.oslo, utc(10, 9, 0), utc(10, 10, 15), "15m")
    assert [row["start"] for row in rows] == [
        "2026-03-10T10:00:00+01:00",
        "2026-03-10T10:15:00+01:00",
        "2026-03-10T10:30:00+01:00",
        "2026-03-10T10:45:00+01:00",
        "2026-03-10T11:00:00+01:00",
    ]
    first, second, third, fourth, voice = rows
    # A, B answered (45 s, 90 s), C abandoned after 3 s: SL = 1 ÷ (3 − 1).
    assert pick(
        first,
        "offered",
        "answered",
        "abandoned",
        "abandoned_within_5s",
        "answered_within_threshold",
        "service_level",
        "asa_seconds",
        "handled",
        "aht_seconds",
        "resolved",
        "resolution_seconds",
        "first_response_seconds",
        "transfers",
        "csat",
        "csat_responses",
        "nps",
        "nps_responses",
    ) == {
        "offered": 3,
        "answered": 2,
        "abandoned": 1,
        "abandoned_within_5s": 1,
        "answered_within_threshold": 1,
        "service_level": 0.5,
        "asa_seconds": 67.5,
        "handled": 2,
        "aht_seconds": 450.0,  # (300 + 600) ÷ 2
        "resolved": 2,
        "resolution_seconds": 517.5,  # (345 + 690) ÷ 2
        "first_response_seconds": 67.5,
        "transfers": 0,
        "csat": 3.5,  # (5 + 2) ÷ 2
        "csat_responses": 2,
        "nps": 50.0,  # one promoter, one passive
        "nps_responses": 2,
    }
    # D: abandoned after 10 minutes, nobody answered.
    assert pick(
        second, "offered", "answered", "abandoned", "service_level", "avg_time_to_abandon_seconds"
    ) == {
        "offered": 1,
        "answered": 0,
        "abandoned": 1,
        "service_level": 0.0,
        "avg_time_to_abandon_seconds": 600.0,
    }
    # E: answered in 30 s, handled 270 s, then transferred to Bergen (not resolved here).
    assert pick(
        third, "offered", "answered", "service_level", "asa_seconds", "transfers", "handled"
    ) == {
        "offered": 1,
        "answered": 1,
        "service_level": 1.0,
        "asa_seconds": 30.0,
        "transfers": 1,
        "handled": 1,
    }
    assert third["aht_seconds"] == 270.0 and third["resolved"] == 0 and third["fcr"] is None
    assert fourth["offered"] == 0 and fourth["service_level"] is None
    # V: the call bridged after 20 s (= T for voice), 240 s talk + 30 s wrap-up.
    assert pick(
        voice,
        "offered",
        "answered",
        "service_level",
        "asa_seconds",
        "aht_seconds",
        "wrap_up_seconds",
    ) == {
        "offered": 1,
        "answered": 1,
        "service_level": 1.0,
        "asa_seconds": 20.0,
        "aht_seconds": 270.0,
        "wrap_up_seconds": 30.0,
    }
    assert voice["first_response_seconds"] is None  # voice is not an asynchronous channel


def test_hours_and_the_day_add_up(day):
    hours = figures(day.oslo, utc(10, 9, 0), utc(10, 11, 0), "1h")
    assert [row["start"] for row in hours] == [
        "2026-03-10T10:00:00+01:00",
        "2026-03-10T11:00:00+01:00",
    ]
    ten = hours[0]
    # A, B, C, D, E: 2 of them answered within T; SL = 2 ÷ (5 − 1).
    assert pick(ten, "offered", "answered", "abandoned", "service_level", "asa_seconds") == {
        "offered": 5,
        "answered": 3,
        "abandoned": 2,
        "service_level": 0.5,
        "asa_seconds": 55.0,  # (45 + 90 + 30) ÷ 3
    }
    assert ten["aht_seconds"] == 390.0  # (300 + 600 + 270) ÷ 3
    assert ten["avg_time_to_abandon_seconds"] == 301.5  # (3 + 600) ÷ 2
    assert ten["abandon_rate"] == 0.4
    (whole,) = figures(day.oslo, utc(9, 23, 0), utc(10, 23, 0), "1d")
    assert whole["start"] == "2026-03-10T00:00:00+01:00"
    assert whole["end"] == "2026-03-11T00:00:00+01:00"
    assert pick(whole, "offered", "answered", "abandoned", "service_level", "asa_seconds") == {
        "offered": 6,
        "answered": 4,
        "abandoned": 2,
        "service_level": 0.6,  # 3 ÷ (6 − 1)
        "asa_seconds": 46.25,  # (45 + 90 + 30 + 20) ÷ 4
    }
    assert whole["aht_seconds"] == 360.0  # (300 + 600 + 270 + 270) ÷ 4
    assert whole["transfers"] == 1
    assert whole["resolved"] == 3  # A, B and the call
    assert whole["fcr"] == 1.0 and whole["fcr_status"] == "final"


def test_the_transferred_contact_is_offered_again_in_bergen(day):
    (quarter,) = figures(day.bergen, utc(10, 9, 45), utc(10, 10, 0), "15m")
    assert quarter["start"] == "2026-03-10T10:45:00+01:00"
    assert pick(
        quarter,
        "offered",
        "answered",
        "service_level",
        "asa_seconds",
        "aht_seconds",
        "resolved",
        "resolution_seconds",
        "nps",
        "nps_responses",
    ) == {
        "offered": 1,
        "answered": 1,
        "service_level": 1.0,  # 60 s ≤ 60 s
        "asa_seconds": 60.0,
        "aht_seconds": 240.0,
        "resolved": 1,
        "resolution_seconds": 300.0,
        "nps": 0.0,  # one passive
        "nps_responses": 1,
    }


def test_filters_by_queue_channel_and_agent(day):
    args = (day.oslo, utc(9, 23, 0), utc(10, 23, 0), "1d")
    (voice,) = figures(*args, queue="voice")
    assert pick(voice, "offered", "answered", "aht_seconds") == {
        "offered": 1,
        "answered": 1,
        "aht_seconds": 270.0,
    }
    (chat,) = figures(*args, queue="chat", channel="webchat")
    assert chat["offered"] == 5 and chat["answered"] == 3
    (kari,) = figures(*args, agent_id=day.kari.pk)
    # An agent's offered contacts are the ones they answered; abandoned ones were nobody's.
    assert pick(kari, "offered", "answered", "abandoned", "asa_seconds") == {
        "offered": 4,
        "answered": 4,
        "abandoned": 0,
        "asa_seconds": 46.25,
    }
    (ola,) = figures(*args, agent_id=day.ola.pk)
    assert ola["offered"] == 0


def test_first_contact_resolution_is_pending_for_seven_days_then_counts_a_return(day, clock):
    args = (day.oslo, utc(9, 23, 0), utc(10, 23, 0), "1d")
    (before,) = figures(*args, now=utc(12, 8, 0))
    assert before["fcr"] is None and before["fcr_status"] == "pending"
    clock(utc(12, 9, 0))
    writes(day, "a", "The bill is still wrong")  # A's customer is back within 7 days
    (after,) = figures(*args, now=utc(12, 9, 0) + timedelta(days=30))
    assert after["resolved"] == 3
    assert after["fcr"] == pytest.approx(2 / 3) and after["fcr_status"] == "final"
    # A week after the day ended: final (1 day + 7 days after 10 March midnight local).
    (edge,) = figures(*args, now=utc(17, 23, 0))
    assert edge["fcr_status"] == "final"
    (early,) = figures(*args, now=utc(17, 22, 59))
    assert early["fcr_status"] == "pending"


def test_each_contact_is_counted_once_whatever_is_retried(day):
    from teamline.analytics.actions import record_offered, record_resolved, record_survey

    contact = Contact.objects.get(conversation=day.conversations["A"])
    assert (
        record_offered(
            work_item_id=contact.work_item_id,
            conversation_id=contact.conversation_id,
            customer_id=contact.customer_id,
            team_id=contact.team_id,
            queue="chat",
            channel="webchat",
            threshold_seconds=60,
            at=contact.offered_at,
        )
        is None
    )
    assert record_resolved(contact.conversation_id, utc(10, 11, 0)) is False
    assert record_survey(day.conversations["A"], "csat", 5, utc(10, 9, 14)) is False
    (whole,) = figures(day.oslo, utc(9, 23, 0), utc(10, 23, 0), "1d")
    assert whole["offered"] == 6 and whole["resolved"] == 3 and whole["csat_responses"] == 2


def test_a_dst_spring_day_has_23_hours_and_counts_each_contact_in_its_local_hour(centre, clock):
    clock(utc(29, 0, 30))  # 01:30 CET
    writes(centre, "early")
    clock(utc(29, 1, 30))  # 03:30 CEST: 02:00–03:00 does not exist that night
    writes(centre, "late")
    clock(utc(29, 22, 30))  # 00:30 on 30 March, local: the next day
    writes(centre, "next")
    now = utc(29, 23, 0)
    hours = figures(centre.oslo, utc(28, 23, 0), utc(29, 22, 0), "1h", now=now)
    assert len(hours) == 23
    assert hours[0]["start"] == "2026-03-29T00:00:00+01:00"
    assert hours[1]["start"] == "2026-03-29T01:00:00+01:00" and hours[1]["offered"] == 1
    assert hours[2]["start"] == "2026-03-29T03:00:00+02:00" and hours[2]["offered"] == 1
    assert hours[-1]["start"] == "2026-03-29T23:00:00+02:00"
    assert sum(hour["offered"] for hour in hours) == 2
    (local_day,) = figures(centre.oslo, utc(28, 23, 0), utc(29, 22, 0), "1d", now=now)
    assert local_day["offered"] == 2
    assert local_day["end"] == "2026-03-30T00:00:00+02:00"


def test_a_dst_autumn_day_has_25_hours_with_two_two_oclocks(centre, clock):
    clock(utc(25, 0, 30, month=10))  # 02:30 CEST
    writes(centre, "first")
    clock(utc(25, 1, 30, month=10))  # 02:30 CET, an hour later
    writes(centre, "second")
    now = utc(26, 12, 0, month=10)
    hours = figures(centre.oslo, utc(24, 22, 0, month=10), utc(25, 23, 0, month=10), "1h", now=now)
    assert len(hours) == 25
    assert [hours[2]["start"], hours[3]["start"]] == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",
    ]
    assert hours[2]["offered"] == 1 and hours[3]["offered"] == 1


def test_weeks_start_on_monday_and_months_on_the_first(day):
    (week,) = figures(day.oslo, utc(10, 9, 0), utc(10, 10, 0), "1w")
    assert week["start"] == "2026-03-09T00:00:00+01:00"
    assert week["end"] == "2026-03-16T00:00:00+01:00" and week["offered"] == 6
    (month,) = figures(day.oslo, utc(10, 9, 0), utc(10, 10, 0), "1mo")
    assert month["start"] == "2026-03-01T00:00:00+01:00"
    assert month["end"] == "2026-04-01T00:00:00+02:00" and month["offered"] == 6


def test_the_current_interval_is_live(centre, clock):
    clock(utc(11, 12, 7, 10))
    conversation = writes(centre, "now")
    now = utc(11, 12, 7, 11)  # a second later: counted, not when the quarter closes
    (quarter,) = figures(centre.oslo, utc(11, 12, 0), utc(11, 12, 15), "15m", now=now)
    assert quarter["offered"] == 1
    today = team_today(centre.oslo, now)
    assert today["since"] == "2026-03-11T00:00:00+01:00"
    assert pick(today, "offered", "answered", "abandoned") == {
        "offered": 1,
        "answered": 0,
        "abandoned": 0,
    }
    assert conversation.assignee_id == centre.kari.pk


def test_ranges_are_bounded(centre):
    with pytest.raises(ValueError, match="at most 31 days"):
        figures(centre.oslo, utc(1, 0, 0), utc(1, 0, 0) + timedelta(days=32), "15m")
    with pytest.raises(ValueError, match="end after"):
        figures(centre.oslo, utc(2, 0, 0), utc(1, 0, 0), "1d")
    with pytest.raises(ValueError, match="interval"):
        figures(centre.oslo, utc(1, 0, 0), utc(2, 0, 0), "2h")


def test_a_caller_who_hangs_up_in_line_within_5_seconds_is_not_held_against_the_team(centre, clock):
    from teamline.accounts.actions import do_set_presence
    from teamline.calls.browser import do_end_browser_call, do_start_browser_call
    from teamline.core.testing import create_customer

    clock(utc(10, 11, 59))
    do_set_presence(centre.kari, "offline", actor=centre.kari)
    clock(utc(10, 12, 0))
    caller = create_customer(team=centre.oslo, name="caller")
    call = do_start_browser_call(inbox=centre.inbox, customer=caller, medium="audio")
    clock(utc(10, 12, 0, 4))
    do_end_browser_call(call)
    (quarter,) = figures(centre.oslo, utc(10, 12, 0), utc(10, 12, 15), "15m", queue="voice")
    assert pick(
        quarter, "offered", "answered", "abandoned", "abandoned_within_5s", "service_level"
    ) == {
        "offered": 1,
        "answered": 0,
        "abandoned": 1,
        "abandoned_within_5s": 1,
        "service_level": None,  # 0 ÷ (1 − 1): nothing to judge
    }
    assert quarter["avg_time_to_abandon_seconds"] == 4.0


@pytest.mark.parametrize(
    ("kind", "score"),
    [("csat", 0), ("csat", 6), ("nps", -1), ("nps", 11), ("ces", 3), ("nps", True)],
)
def test_a_survey_answer_out_of_range_is_refused(day, kind, score):
    from teamline.analytics.actions import record_survey
    from teamline.core.errors import InvalidInput

    with pytest.raises(InvalidInput):
        record_survey(day.conversations["A"], kind, score, utc(10, 12, 0))
