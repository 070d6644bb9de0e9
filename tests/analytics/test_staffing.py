"""Staffing: a team's history in the fact table → the forecast → agents per interval.

The agents needed must be exactly what the Erlang functions give for the forecast load, and
the agents available what the presence history says.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from teamline.accounts.actions import do_set_presence
from teamline.accounts.models import Role
from teamline.analytics import erlang
from teamline.analytics.actions import FactKey, bump
from teamline.analytics.forecast import SLOTS
from teamline.analytics.staffing import forecast_report, staffing_report
from teamline.core.testing import create_agent, create_team, create_user
from teamline.routing.queries import service_level_target_table

pytestmark = pytest.mark.django_db

OSLO = ZoneInfo("Europe/Oslo")
DAY = date(2026, 6, 10)  # a Wednesday
WEEKS = 6


def chat_volume(slot: int) -> int:
    """Contacts of a working slot in the generated history: busy from 08:00 to 16:00."""
    return 12 if 32 <= slot < 64 else 0


def fill_history(team, queue: str = "chat", *, aht: int = 400, abandoned_every: int = 0) -> None:
    """Ten weeks of identical days before DAY through the fact table's own upsert."""
    for n in range(1, WEEKS * 7 + 1):
        day = DAY - timedelta(days=n)
        for slot in range(SLOTS):
            count = chat_volume(slot)
            if not count:
                continue
            start = datetime(day.year, day.month, day.day, slot // 4, slot % 4 * 15, tzinfo=OSLO)
            abandoned = count // abandoned_every if abandoned_every else 0
            answered = count - abandoned
            bump(
                FactKey(start.astimezone(UTC), team.pk, queue, "webchat", 0),
                offered=count,
                abandoned=abandoned,
                abandon_wait_sum=abandoned * 90,
            )
            bump(
                FactKey(start.astimezone(UTC), team.pk, queue, "webchat", 99),
                answered=answered,
                wait_sum=answered * 30,
                handled=answered,
                handle_sum=answered * (aht - 60),
                wrap_up_sum=answered * 60,
            )


def test_chat_needs_what_erlang_c_gives_for_the_forecast_load_in_slots_of_three() -> None:
    team = create_team("Oslo")
    fill_history(team)

    report = staffing_report(
        team, DAY, targets=service_level_target_table(), now=datetime(2026, 6, 1, tzinfo=UTC)
    )

    assert report["targets"]["chat"] == {"seconds": 60, "percent": 90}
    assert report["slots_per_agent"]["chat"] == 3
    rows = {r["start"]: r for r in report["intervals"]}
    assert len(rows) == SLOTS
    nine = datetime(2026, 6, 10, 9, 0, tzinfo=OSLO).astimezone(UTC).isoformat()
    chat = rows[nine]["queues"]["chat"]
    assert chat["contacts"] == pytest.approx(12)
    assert chat["aht_seconds"] == pytest.approx(400)
    slots = erlang.agents_for_service_level(
        erlang.offered_load(12, 900, 400), aht=400, target_time=60, target_service_level=0.9
    )
    assert chat["slots_needed"] == slots
    assert chat["agents_needed"] == rows[nine]["agents_needed"] == math.ceil(slots / 3)
    assert chat["model"] == "erlang_c"
    night = datetime(2026, 6, 10, 3, 0, tzinfo=OSLO).astimezone(UTC).isoformat()
    assert rows[night]["agents_needed"] == 0
    # The day lies ahead: nobody has been available in it yet.
    assert rows[nine]["agents_available"] is None


def test_voice_with_abandonment_is_staffed_by_erlang_a_with_the_patience_from_history() -> None:
    team = create_team("Oslo")
    fill_history(team, "voice", aht=300, abandoned_every=4)  # 3 of 12 hang up after 90 s

    report = staffing_report(
        team, DAY, targets=service_level_target_table(), now=datetime(2026, 6, 1, tzinfo=UTC)
    )

    # Waiting time of all who waited ÷ abandoned: (9 × 30 + 3 × 90) ÷ 3 = 180 s.
    assert report["patience_seconds"]["voice"] == pytest.approx(180)
    nine = datetime(2026, 6, 10, 9, 0, tzinfo=OSLO).astimezone(UTC).isoformat()
    voice = {r["start"]: r for r in report["intervals"]}[nine]["queues"]["voice"]
    assert voice["model"] == "erlang_a"
    assert voice["agents_needed"] == erlang.erlang_a_agents_for_service_level(
        erlang.offered_load(12, 900, 300), 300, 180, 20, 0.8
    )


def test_the_agents_available_are_read_from_their_presence_history() -> None:
    team = create_team("Oslo")
    fill_history(team)
    kari = create_agent("kari", team=team)
    per = create_agent("per", team=team)
    create_agent("elsewhere", team=create_team("Bergen"))

    def at(hour: int, minute: int) -> datetime:
        return datetime(2026, 6, 10, hour, minute, tzinfo=OSLO)

    with time_machine.travel(at(9, 0), tick=False) as clock:
        do_set_presence(kari, "available", actor=kari)
        clock.move_to(at(9, 5))
        do_set_presence(per, "available", actor=per)
        clock.move_to(at(9, 10))
        do_set_presence(per, "away", actor=per)  # a break from 9:10
        clock.move_to(at(9, 20))
        do_set_presence(kari, "busy", actor=kari)  # busy still counts as staffed

        report = staffing_report(team, DAY, targets=service_level_target_table(), now=at(9, 30))

    rows = {r["start"]: r for r in report["intervals"]}
    nine = rows[at(9, 0).astimezone(UTC).isoformat()]
    # 09:00–09:15: Kari all 15 minutes, Per 5 of them.
    assert nine["agents_available"] == pytest.approx(round(20 / 15, 2))
    assert nine["gap"] == pytest.approx(round(20 / 15 - nine["agents_needed"], 2))
    # 09:15–09:30 (now 09:30): Kari alone.
    assert rows[at(9, 15).astimezone(UTC).isoformat()]["agents_available"] == 1.0
    assert rows[at(9, 30).astimezone(UTC).isoformat()]["agents_available"] is None
    assert rows[at(8, 45).astimezone(UTC).isoformat()]["agents_available"] == 0.0


def test_a_day_without_history_has_no_forecast_and_needs_nobody() -> None:
    team = create_team("Oslo")
    assert forecast_report(team, DAY)["queues"] == {}
    report = staffing_report(team, DAY, targets=service_level_target_table())
    assert all(r["agents_needed"] == 0 for r in report["intervals"])


def test_the_day_clocks_go_forward_has_92_intervals() -> None:
    team = create_team("Oslo")
    spring = date(2026, 3, 29)
    report = staffing_report(
        team, spring, targets=service_level_target_table(), now=datetime(2026, 3, 1, tzinfo=UTC)
    )
    assert len(report["intervals"]) == 92


def api(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_api_answers_for_a_team_of_the_caller_and_404_for_others() -> None:
    team = create_team("Oslo")
    fill_history(team)
    agent = create_agent("kari", team=team)
    outsider = create_agent("lars", team=create_team("Bergen"))

    with time_machine.travel(datetime(2026, 6, 9, 12, 0, tzinfo=UTC)):
        ok = api(agent).get(f"/api/v1/analytics/staffing?team={team.pk}&date=2026-06-10")
        forecast = api(agent).get(f"/api/v1/analytics/forecast?team={team.pk}&date=2026-06-10")
        hidden = api(outsider).get(f"/api/v1/analytics/staffing?team={team.pk}&date=2026-06-10")
        far = api(agent).get(f"/api/v1/analytics/staffing?team={team.pk}&date=2030-01-01")
        bad = api(agent).get(f"/api/v1/analytics/forecast?team={team.pk}&date=tomorrow")

    assert ok.status_code == 200, ok.content
    assert len(ok.json()["intervals"]) == SLOTS
    assert forecast.status_code == 200
    chat = forecast.json()["queues"]["chat"]
    assert chat["method"] in ("last_week", "mean_4_weeks", "level_shape")
    assert chat["backtest"]["wape"] == 0.0  # identical days: every method is exact
    assert hidden.status_code == 404
    assert far.status_code == 400
    assert bad.status_code == 422


def test_the_desk_page_is_a_table_for_supervisors_and_refused_to_agents() -> None:
    team = create_team("Oslo")
    fill_history(team)
    boss = create_user("ingrid", role=Role.SUPERVISOR, supervises=team)
    agent = create_agent("kari", team=team)

    with time_machine.travel(datetime(2026, 6, 9, 12, 0, tzinfo=UTC)):
        page = api(boss).get(f"/desk/staffing/?team={team.pk}&date=2026-06-10")
        refused = api(agent).get("/desk/staffing/")
        wrong = api(boss).get(f"/desk/staffing/?team={team.pk}&date=10.06.2026")

    assert page.status_code == 200
    html = page.content.decode()
    assert "<caption>" in html and 'id="staffing-table"' in html
    assert '<th scope="row"><time datetime=' in html
    assert "09:00" in html
    assert refused.status_code == 403
    assert wrong.status_code == 400
