"""A supervisor sees the live calls of the teams they supervise: who is talking to whom, on
which medium, in which state and for how long, how long the caller waited in line and, while
they still wait, their place in line. Other teams' calls stay out of sight; agents see no such
list; admins see every team's."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from teamline.accounts.models import Role
from teamline.calls.actions import do_accept_call, do_end_call, do_mark_call_connected
from teamline.calls.models import CallMedium, CallState
from teamline.calls.queries import live_calls_for_supervisor
from teamline.core.errors import Forbidden
from teamline.core.testing import (
    create_agent,
    create_customer,
    create_team,
    create_user,
)
from tests.calls.supervision_support import call_from, quiet_phone  # noqa: F401 - a fixture

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("quiet_phone")]


@pytest.fixture
def north():
    return create_team("North")


@pytest.fixture
def south():
    return create_team("South")


@pytest.mark.integration
def test_a_supervisor_sees_their_teams_calls_with_who_how_long_and_the_queue(north, south):
    kari = create_agent("kari", team=north, presence="available", display_name="Kari")
    supervisor = create_user("sunniva", role=Role.SUPERVISOR, supervises=north)
    nora = create_customer(team=north, name="Nora")
    talking = call_from(nora)
    assert talking.conversation.assignee == kari
    talking = do_mark_call_connected(do_accept_call(talking, actor=kari))
    # Kari has her one voice call: the next two callers wait in line, in order.
    first = call_from(create_customer(team=north, name="Ola"))
    second = call_from(create_customer(team=north, name="Per"))
    elsewhere = call_from(create_customer(team=south, name="Siri"))

    later = timezone.now() + timedelta(minutes=4, seconds=12)
    live = live_calls_for_supervisor(supervisor, now=later)

    assert [row.call for row in live.rows] == [talking, first, second]
    assert elsewhere not in [row.call for row in live.rows]
    assert live.total == 3
    answered, one, two = live.rows
    assert answered.agent == kari and not answered.ringing
    assert answered.call.state == CallState.ACTIVE
    assert answered.team == north
    assert 250 <= answered.seconds_in_state <= 253
    assert answered.queue_seconds is not None and answered.queue_seconds < 5
    assert one.agent is None and one.call.state == CallState.WAITING
    assert (one.queue.position, two.queue.position) == (1, 2)
    assert 250 <= one.queue_seconds <= 253
    assert not one.monitorable and answered.monitorable


def test_a_call_ringing_for_an_agent_shows_that_agent(north):
    kari = create_agent("kari", team=north, presence="available")
    supervisor = create_user(role=Role.SUPERVISOR, supervises=north)
    ringing = call_from(create_customer(team=north))
    (row,) = live_calls_for_supervisor(supervisor).rows
    assert row.call == ringing and row.agent == kari and row.ringing


def test_ended_calls_leave_the_list_and_browser_calls_cannot_be_monitored(north):
    kari = create_agent("kari", team=north, presence="available")
    supervisor = create_user(role=Role.SUPERVISOR, supervises=north)
    video = do_mark_call_connected(
        do_accept_call(call_from(create_customer(team=north), CallMedium.VIDEO), actor=kari)
    )
    (row,) = live_calls_for_supervisor(supervisor).rows
    assert row.call == video and row.browser and not row.monitorable
    do_end_call(video, reason="the customer hung up")
    assert live_calls_for_supervisor(supervisor).rows == []


def test_an_admin_sees_every_team_and_an_agent_sees_none(north, south):
    a = call_from(create_customer(team=north))
    b = call_from(create_customer(team=south))
    admin = create_user(role=Role.ADMIN)
    assert {row.call for row in live_calls_for_supervisor(admin).rows} == {a, b}
    agent = create_agent(team=north)
    with pytest.raises(Forbidden):
        live_calls_for_supervisor(agent)
    # A supervisor of another team only: nothing of North's.
    other = create_user(role=Role.SUPERVISOR, supervises=south)
    assert [row.call for row in live_calls_for_supervisor(other).rows] == [b]


def test_the_list_is_bounded_and_costs_the_same_queries_for_more_calls(north):
    supervisor = create_user(role=Role.SUPERVISOR, supervises=north)
    for _ in range(3):
        call_from(create_customer(team=north))
    with CaptureQueriesContext(connection) as few:
        live_calls_for_supervisor(supervisor)
    for _ in range(4):
        call_from(create_customer(team=north))
    with CaptureQueriesContext(connection) as more:
        live = live_calls_for_supervisor(supervisor, limit=5)
    assert len(more.captured_queries) == len(few.captured_queries)
    assert (len(live.rows), live.total) == (5, 7)
