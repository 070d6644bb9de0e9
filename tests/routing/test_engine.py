"""The decision layer on its own: plain data and an injected clock, no database (this is what
the simulator drives)."""

from datetime import UTC, datetime, timedelta

from teamline.routing import engine
from teamline.routing.engine import Agent, Context, Item, Policy, Step
from teamline.teams.hours import Calendar

NOW = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
OSLO, BERGEN = 1, 2
CALENDARS = {
    OSLO: Calendar(team_id=OSLO, name="Oslo", timezone="Europe/Oslo"),
    BERGEN: Calendar(team_id=BERGEN, name="Bergen", timezone="Europe/Oslo"),
}


def agent(id, team, **kwargs):
    defaults = {"name": f"agent {id}", "capacity": {"chat": 2}, "team_ids": frozenset({team})}
    return Agent(id=id, **{**defaults, **kwargs})


def test_decide_prefers_the_least_occupied_then_longest_idle():
    agents = {
        1: agent(1, OSLO, load={"chat": 1}),
        2: agent(2, OSLO, last_assigned_at=NOW - timedelta(minutes=5)),
        3: agent(3, OSLO, last_assigned_at=NOW - timedelta(minutes=9)),
        4: agent(4, BERGEN),
    }
    item = Item(channel_kind="chat", enqueued_at=NOW, home_team_id=OSLO)
    decision = engine.decide(item, engine.DEFAULT_POLICY, Context(NOW, CALENDARS, agents))
    assert decision.eligible == (3, 2, 1)  # Bergen is not in the pool yet
    assert decision.agent_id == 3
    assert decision.reason == "home team, longest idle"


def test_the_clock_moves_items_through_the_steps():
    busy = agent(1, OSLO, load={"chat": 2})
    agents = {1: busy, 2: agent(2, BERGEN)}
    item = Item(channel_kind="chat", enqueued_at=NOW, home_team_id=OSLO, last_agent_id=1)
    policy = engine.DEFAULT_POLICY
    at = [
        engine.place(item, policy, Context(NOW + timedelta(seconds=s), CALENDARS, agents))
        for s in (0, 60, 240)
    ]
    assert [p.step.kind for p in at] == ["last_agent", "home_team", "overflow_teams"]
    assert at[1].entered_at == NOW + timedelta(seconds=60)
    assert at[2].entered_at == NOW + timedelta(seconds=240)
    assert at[2].scope == "all"
    assert (
        engine.decide(
            item, policy, Context(NOW + timedelta(seconds=240), CALENDARS, agents)
        ).agent_id
        == 2
    )


def test_explain_reads_like_a_supervisor_would_say_it():
    agents = {1: agent(1, OSLO, load={"chat": 2})}
    item = Item(channel_kind="chat", enqueued_at=NOW, home_team_id=OSLO, step_index=1)
    ctx = Context(NOW + timedelta(seconds=133), CALENDARS, agents)
    placement = engine.place(item, engine.DEFAULT_POLICY, ctx)
    assert engine.explain(item, placement, engine.DEFAULT_POLICY, ctx) == (
        "waiting for team Oslo, step 2 of 4, overflow in 47 s"
    )


def test_skills_need_the_step_minimum_proficiency():
    policy = Policy(steps=(Step("home_team", min_proficiency=3),), required_skills={"billing": 1})
    agents = {
        1: agent(1, OSLO, skills={"billing": 2}),
        2: agent(2, OSLO, skills={"billing": 3}),
    }
    item = Item(channel_kind="chat", enqueued_at=NOW, home_team_id=OSLO)
    assert engine.decide(item, policy, Context(NOW, CALENDARS, agents)).eligible == (2,)


def test_aging_order_is_a_fixed_key():
    """Urgent and VIP first; but a normal chat that has waited long enough beats a new urgent one,
    and the order never changes with the clock (so the queue can be an index)."""
    normal = Item(channel_kind="chat", enqueued_at=NOW)
    vip = Item(channel_kind="chat", enqueued_at=NOW + timedelta(seconds=30), vip=True)
    urgent = Item(channel_kind="chat", enqueued_at=NOW + timedelta(seconds=60), priority=2)
    much_later = Item(channel_kind="chat", enqueued_at=NOW + timedelta(seconds=400), priority=2)
    for clock in (NOW + timedelta(seconds=400), NOW + timedelta(hours=3)):
        scores = [engine.effective_priority(i, clock) for i in (normal, vip, urgent, much_later)]
        assert scores[2] > scores[1] > scores[0] > scores[3]
    keys = [
        engine.rank_at(i.enqueued_at, i.channel_kind, i.priority, i.vip) for i in (normal, urgent)
    ]
    assert keys[1] < keys[0]


def test_a_closed_team_admits_nothing_and_the_promise_is_its_next_opening():
    closed = Calendar(
        team_id=OSLO,
        name="Oslo",
        timezone="Europe/Oslo",
        service_mode="closed",
        service_mode_until=NOW + timedelta(hours=2),
    )
    item = Item(channel_kind="chat", enqueued_at=NOW, home_team_id=OSLO)
    ctx = Context(NOW, {OSLO: closed}, {1: agent(1, OSLO)})
    decision = engine.decide(item, engine.DEFAULT_POLICY, ctx)
    assert decision.agent_id is None
    assert decision.placement.step.kind == "after_hours"
    assert decision.placement.promise_at == NOW + timedelta(hours=2)
    assert decision.placement.next_check_at == NOW + timedelta(hours=2) or (
        decision.placement.next_check_at <= NOW + timedelta(seconds=engine.MAX_RECHECK_SECONDS)
    )
