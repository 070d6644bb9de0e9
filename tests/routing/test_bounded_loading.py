"""The hot path loads only the best few candidates (routing.queries.load_routing_context); the
engine must choose exactly as it does with every online agent loaded (load_context)."""

import random
from datetime import UTC, datetime, time, timedelta

import pytest

from teamline.accounts.models import AgentProfile, Presence, User
from teamline.conversations.models import Conversation, Status
from teamline.core.testing import create_agent, create_customer, create_inbox, create_team
from teamline.routing import engine
from teamline.routing.models import SurgeEpisode
from teamline.routing.queries import (
    cached_calendars,
    load_context,
    load_routing_context,
    policy_for_inbox,
    trusted_prefix,
)
from teamline.teams.actions import do_set_business_hours, do_set_service_mode
from teamline.teams.hours import note_config_change
from teamline.teams.models import ServiceMode, Team

from .support import policy

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Oslo
LANGUAGES = ["nb", "en", "sv-SE", " NB_no", "EN-gb", "de"]
PRESENCES = [Presence.AVAILABLE] * 4 + [Presence.BUSY, Presence.AWAY, Presence.OFFLINE]


def world(rng: random.Random) -> tuple[list[Team], list[User]]:
    teams = [create_team(f"T{i}") for i in range(rng.randint(2, 5))]
    for team in teams:
        mode = rng.choice([ServiceMode.NORMAL] * 3 + [ServiceMode.LIMITED, ServiceMode.CLOSED])
        Team.objects.filter(pk=team.pk).update(service_mode=mode)
    if rng.random() < 0.3:
        Team.objects.filter(pk=teams[0].pk).update(fallback_team=teams[-1])
    note_config_change()  # raw updates bypass the signals the routing config cache listens to
    if rng.random() < 0.3:
        SurgeEpisode.objects.create(
            team=rng.choice(teams),
            started_at=NOW,
            queue_length=9,
            longest_wait_seconds=0,
            peak_queue_length=9,
            reason="test",
        )
    agents = []
    inbox = create_inbox(teams[0])
    customer = create_customer(team=teams[0])
    for _ in range(rng.randint(4, 14)):
        user = create_agent(capacity={"chat": rng.randint(0, 3), "voice": 1})
        for team in rng.sample(teams, rng.randint(0, 2)):
            team.members.add(user)
        AgentProfile.objects.filter(user=user).update(
            presence=rng.choice(PRESENCES),
            languages=rng.sample(LANGUAGES, rng.randint(0, 2)),
            skills={"billing": rng.randint(0, 3)} if rng.random() < 0.6 else {},
            wrap_up_until=NOW + timedelta(seconds=30) if rng.random() < 0.15 else None,
            last_assigned_at=(
                rng.choice([None, NOW - timedelta(minutes=rng.randint(1, 5))])
                if rng.random() < 0.8
                else NOW - timedelta(minutes=3)  # ties
            ),
        )
        if rng.random() < 0.1:
            User.objects.filter(pk=user.pk).update(is_active=False)
        for _ in range(rng.randint(0, 3)):
            Conversation.objects.create(
                customer=customer,
                inbox=inbox,
                team=teams[0],
                channel="webchat",
                channel_kind="chat",
                assignee=user,
                status=Status.OPEN,
            )
        agents.append(user)
    return teams, agents


def random_item(rng: random.Random, teams: list[Team], agents: list[User]) -> engine.Item:
    enqueued = NOW - timedelta(seconds=rng.choice([5, 100, 400]))
    return engine.Item(
        id=1,
        channel_kind="chat",
        enqueued_at=enqueued,
        priority=rng.choice([0, 0, 2]),
        required_skills={"billing": rng.randint(1, 3)} if rng.random() < 0.4 else {},
        language=rng.choice(["", "", "nb-NO", "en", "fr"]),
        home_team_id=rng.choice([None, *(team.pk for team in teams)]),
        last_agent_id=rng.choice([None, None, *(agent.pk for agent in agents)]),
        step_index=rng.randint(0, 3),
        step_entered_at=enqueued,
        opt_out_of_team=rng.random() < 0.15,
    )


def random_policy(rng: random.Random, teams: list[Team]) -> engine.Policy:
    if rng.random() < 0.5:
        return engine.DEFAULT_POLICY
    targets = tuple(sorted(team.pk for team in rng.sample(teams, rng.randint(1, len(teams)))))
    return engine.Policy(
        name="Random",
        steps=(
            engine.Step(engine.LAST_AGENT, timeout_seconds=60),
            engine.Step(engine.HOME_TEAM, timeout_seconds=rng.choice([None, 180])),
            engine.Step(
                engine.OVERFLOW_TEAMS,
                target_team_ids=targets,
                only_when_saturated=rng.random() < 0.5,
                required_skills={"billing": 1} if rng.random() < 0.3 else {},
            ),
            engine.Step(engine.AFTER_HOURS),
        ),
        language_relax_seconds=rng.choice([None, 300]),
    )


@pytest.mark.parametrize("seed", range(12))
def test_bounded_loading_chooses_like_full_loading(seed):
    rng = random.Random(seed)
    teams, agents = world(rng)
    for _ in range(15):
        item = random_item(rng, teams, agents)
        policy = random_policy(rng, teams)
        full = engine.decide(item, policy, load_context(item, policy, NOW))
        for limit in (1, 2, 3, 20):
            ctx, cut = load_routing_context(item, policy, NOW, limit=limit)
            bounded = engine.decide(item, policy, ctx)
            assert bounded.placement == full.placement
            prefix = trusted_prefix(bounded.eligible, cut)
            assert full.eligible[: len(prefix)] == prefix, (seed, limit)
            if cut is None:
                assert bounded == full, (seed, limit)
            elif prefix:
                assert bounded.agent_id == full.agent_id
        ctx, cut = load_routing_context(item, policy, NOW)
        assert cut is None  # small worlds: every candidate fits


def test_the_config_cache_sees_changes_made_in_this_process():
    team = create_team("Oslo")
    inbox = create_inbox(team)
    assert cached_calendars({team.pk}, now=NOW)[team.pk].service_mode == ServiceMode.NORMAL
    assert policy_for_inbox(inbox.pk)[1] is None
    do_set_service_mode(team, ServiceMode.CLOSED)
    assert cached_calendars({team.pk}, now=NOW)[team.pk].service_mode == ServiceMode.CLOSED
    do_set_business_hours(team, [(0, time(9), time(17))])
    assert cached_calendars({team.pk}, now=NOW)[team.pk].intervals == ((0, time(9), time(17)),)
    row = policy(inbox, {"kind": "home_team"})
    assert policy_for_inbox(inbox.pk)[1] == row.pk
