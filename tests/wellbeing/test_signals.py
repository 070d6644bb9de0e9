"""The other signals, with an injected clock: two and a half hours without a break, a handle
time far above Kari's own usual, and typing strain — which is measured only when Kari opted
in, and whose data is refused and deleted when she opts out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from teamline.accounts.actions import do_set_presence
from teamline.analytics.models import Contact
from teamline.core.errors import Forbidden
from teamline.core.periodic import periodic_jobs
from teamline.wellbeing.actions import (
    do_record_typing_minute,
    do_set_typing_opt_in,
    do_set_wellbeing_settings,
    evaluate_agent,
    sweep_agents,
)
from teamline.wellbeing.models import TypingMinute, WellbeingAlert
from teamline.wellbeing.queries import measurements
from teamline.wellbeing.tasks import sweep_wellbeing

from .support import at

pytestmark = pytest.mark.django_db


def measured(agent, now):
    return {m.signal: (m.value, m.over) for m in measurements(agent, now)}


def test_two_and_a_half_hours_without_a_break_raise_one_suggestion(morning):
    kari = morning.kari  # available since 08:00 (the fixture)
    do_set_presence(morning.ola, "offline", actor=morning.ola)  # Ola is not at work today
    morning.clock.move_to(at(60))
    do_set_presence(kari, "away", actor=kari)
    morning.clock.move_to(at(63))  # three minutes away is not a break
    do_set_presence(kari, "available", actor=kari)
    morning.clock.move_to(at(119))
    assert sweep_agents(at(119)) == 0
    assert measured(kari, at(119))["no_break"] == (119.0, False)
    morning.clock.move_to(at(150))
    assert sweep_agents(at(150)) == 1
    assert sweep_agents(at(151)) == 0  # once per stretch of work
    alert = WellbeingAlert.objects.get()
    assert (alert.signal, alert.value, alert.threshold) == ("no_break", 150.0, 120.0)
    # A real break (ten minutes away) starts the count again.
    do_set_presence(kari, "away", actor=kari)
    morning.clock.move_to(at(160))
    do_set_presence(kari, "available", actor=kari)
    assert measured(kari, at(170))["no_break"] == (10.0, False)


def test_an_agent_not_working_has_no_break_signal(morning):
    do_set_presence(morning.kari, "offline", actor=morning.kari)
    assert measured(morning.kari, at(600))["no_break"] == (None, False)


def contact(agent, n, answered, handle_seconds):
    return Contact.objects.create(
        work_item_id=n,
        team_id=1,
        queue="chat",
        agent_id=agent.pk,
        threshold_seconds=60,
        state="resolved",
        offered_at=answered,
        interval_start=answered,
        answered_at=answered,
        handled_at=answered + timedelta(seconds=handle_seconds),
        resolved_at=answered + timedelta(seconds=handle_seconds),
    )


def test_a_handle_time_far_above_the_agents_own_median(morning):
    kari = morning.kari
    for n in range(10):  # Kari's usual: 5 minutes
        contact(kari, n, at(-600 + n * 10), 300)
    contact(kari, 99, at(0), 660)  # 11 minutes: 2.2 × her median
    assert measured(kari, at(30))["long_handle"] == (2.2, True)
    assert [a.signal for a in evaluate_agent(kari, at(30))] == ["long_handle"]
    # Another agent's slow contact is not Kari's business, and too little history says nothing.
    assert measured(morning.ola, at(30))["long_handle"] == (None, False)


def test_typing_is_refused_until_the_agent_opts_in_and_deleted_when_she_opts_out(morning):
    kari = morning.kari
    with pytest.raises(Forbidden):
        do_record_typing_minute(keys=80, corrections=30, pause_variance=0.4, actor=kari)
    do_set_typing_opt_in(kari, True, actor=kari)
    for minute in range(5):
        morning.clock.move_to(at(minute))
        do_record_typing_minute(keys=80, corrections=24, pause_variance=0.4, actor=kari)
    assert measured(kari, at(5))["typing_strain"] == (0.3, True)
    assert WellbeingAlert.objects.get().signal == "typing_strain"
    do_set_typing_opt_in(kari, False, actor=kari)
    assert not TypingMinute.objects.exists()
    assert measured(kari, at(5))["typing_strain"] == (None, False)
    with pytest.raises(Forbidden):
        do_record_typing_minute(keys=80, corrections=30, pause_variance=0.4, actor=kari)


def test_only_the_agent_chooses_to_be_measured(morning):
    with pytest.raises(Forbidden):
        do_set_typing_opt_in(morning.kari, True, actor=morning.siv)


def test_the_typing_endpoint_takes_three_numbers_and_nothing_else(morning):
    client = Client()
    client.force_login(morning.kari)
    url = "/api/v1/wellbeing/typing"
    body = {"keys": 60, "corrections": 6, "pause_variance": 0.2}
    refused = client.post(url, body, content_type="application/json")
    assert refused.status_code == 403
    assert client.put(
        "/api/v1/wellbeing/me/typing", {"on": True}, content_type="application/json"
    ).json()["typing_opt_in"]
    keystrokes = {**body, "keystrokes": ["h", "e", "i"]}
    assert client.post(url, keystrokes, content_type="application/json").status_code == 422
    too_many = {**body, "corrections": 61}
    assert client.post(url, too_many, content_type="application/json").status_code == 400
    nan = '{"keys": 60, "corrections": 6, "pause_variance": NaN}'
    assert client.post(url, nan, content_type="application/json").status_code in (400, 422)
    stored = client.post(url, body, content_type="application/json")
    assert stored.status_code == 200, stored.content
    assert stored.json()["corrections_ratio"] == 0.1
    again = client.post(url, body, content_type="application/json")  # a retry, same minute
    assert again.status_code == 200 and TypingMinute.objects.count() == 1


def test_a_team_can_turn_wellbeing_off_and_change_thresholds(morning):
    do_set_wellbeing_settings(morning.oslo, actor=None, break_minutes=30)
    morning.clock.move_to(at(31))
    assert measured(morning.kari, at(31))["no_break"] == (31.0, True)
    do_set_wellbeing_settings(morning.oslo, actor=None, enabled=False)
    assert sweep_agents(at(31)) == 0


def test_the_sweep_is_one_of_the_workers_periodic_jobs_and_purges_old_data(morning):
    assert ("wellbeing.sweep", sweep_wellbeing) in periodic_jobs()
    for agent in (morning.kari, morning.ola):  # off work: no break alerts in this story
        do_set_presence(agent, "offline", actor=agent)
    do_set_typing_opt_in(morning.kari, True, actor=morning.kari)
    do_record_typing_minute(keys=40, corrections=2, pause_variance=0.1, actor=morning.kari)
    WellbeingAlert.objects.create(
        agent=morning.kari, signal="no_break", value=130, threshold=120, created_at=at(0)
    )
    sweep_agents(at(60 * 23))
    assert TypingMinute.objects.count() == 1  # kept 24 hours
    sweep_agents(at(60 * 24 + 1))
    assert not TypingMinute.objects.exists()
    assert WellbeingAlert.objects.count() == 1  # alerts: 30 days
    sweep_agents(at(60 * 24 * 30 + 1))
    assert not WellbeingAlert.objects.exists()
