"""Scenarios of the simulator itself (short runs): overflow, closed teams, surges, the command."""

from __future__ import annotations

from datetime import time

from django.core.management import call_command

from teamline.analytics import erlang
from teamline.routing import engine
from teamline.routing.scenarios import AgentSpec, Scenario, StreamSpec, TeamSpec, load_scenario
from teamline.routing.simulator import simulate

OSLO, BERGEN = "Oslo", "Bergen"
# Oslo is swamped (7 Erlangs for 6 agents), Bergen has room (3 Erlangs for 6 agents).
SWAMPED = (
    StreamSpec(team=OSLO, rate_per_hour=7 * 12, aht=300, patience=600),
    StreamSpec(team=BERGEN, rate_per_hour=3 * 12, aht=300, patience=600),
)


def two_teams(policy: engine.Policy, *, oslo: TeamSpec | None = None, **kwargs) -> Scenario:
    agents = tuple(AgentSpec(f"oslo {i}", (OSLO,)) for i in range(6)) + tuple(
        AgentSpec(f"bergen {i}", (BERGEN,)) for i in range(6)
    )
    return Scenario(
        teams=(oslo or TeamSpec(OSLO, timezone="Europe/Oslo"), TeamSpec(BERGEN)),
        agents=agents,
        streams=kwargs.pop("streams", SWAMPED),
        policy=policy,
        hours=kwargs.pop("hours", 40),
        warmup_hours=1,
        seed=11,
        **kwargs,
    )


HOME_THEN_OVERFLOW = engine.Policy(
    name="Home 60 s, then overflow",
    steps=(engine.Step(engine.HOME_TEAM, timeout_seconds=60), engine.Step(engine.OVERFLOW_TEAMS)),
)
TEAM_ONLY = engine.Policy(name="Team only", steps=(engine.Step(engine.HOME_TEAM),))


def test_overflow_after_a_timeout_shifts_load_to_the_other_team():
    alone = simulate(two_teams(TEAM_ONLY))
    shared = simulate(two_teams(HOME_THEN_OVERFLOW))
    oslo_alone, bergen_alone = alone.teams
    oslo_shared, bergen_shared = shared.teams
    assert oslo_alone.overflowed == 0
    # A good share of Oslo's customers are answered by Bergen after their minute at home…
    assert oslo_shared.overflowed > 0.1 * oslo_shared.answered
    # …while Bergen's own rarely need Oslo (only those who wait a minute at home).
    assert bergen_shared.overflowed < 0.2 * oslo_shared.overflowed
    # …which Bergen's occupancy shows, and Oslo's customers feel.
    assert bergen_shared.occupancy > bergen_alone.occupancy + 0.1
    assert oslo_shared.abandon_rate.high < oslo_alone.abandon_rate.low
    assert oslo_shared.asa.high < oslo_alone.asa.low
    # Nobody waits at home much longer than the step's timeout before Bergen may answer.
    assert oslo_shared.service_level.value > oslo_alone.service_level.value


def test_a_closed_team_overflows_at_once():
    # Oslo's hours are Saturdays only; the run is on a Monday: its customers go to Bergen
    # straight away (the home step is skipped while the team is closed, no 60 s wait).
    closed = TeamSpec(OSLO, timezone="Europe/Oslo", hours=((5, time(9), time(17)),))
    stream = StreamSpec(team=OSLO, rate_per_hour=3 * 12, aht=300, patience=600)
    result = simulate(two_teams(HOME_THEN_OVERFLOW, oslo=closed, streams=(stream,), hours=20))
    oslo = result.teams[0]
    assert oslo.offered > 500
    assert oslo.overflowed == oslo.answered > 0
    assert oslo.occupancy == 0.0  # Oslo's agents are online but their team serves nobody
    # 3 Erlangs for Bergen's 6 agents: most are answered at once, none waits out a home step.
    assert oslo.asa.high < 30
    assert oslo.service_level.low > 0.8


def test_a_surge_shows_in_the_queue_length_series():
    # Three times the usual arrivals between 04:00 and 05:00.
    profile = [1.0] * 24
    profile[4] = 3.0
    stream = StreamSpec(team=OSLO, rate_per_hour=4 * 12, aht=300, patience=900, profile=profile)
    result = simulate(two_teams(TEAM_ONLY, streams=(stream,), hours=8, samples=480))
    series = dict(zip(result.series_hours, result.series_teams[OSLO], strict=True))
    before = max(v for h, v in series.items() if 2 <= h < 4)
    during = max(v for h, v in series.items() if 4 <= h < 5.5)
    after = max(v for h, v in series.items() if 7 <= h < 8)
    assert during > 3 * max(before, 1)
    assert during > 3 * max(after, 1)
    assert result.series_teams[BERGEN] == [0] * len(result.series_hours)


def test_surge_thresholds_widen_the_pool():
    # With a surge threshold Oslo counts as saturated once 5 wait, so its items leave the home
    # step at once instead of after its (long) timeout.
    patient = engine.Policy(
        name="Home 10 min",
        steps=(
            engine.Step(engine.HOME_TEAM, timeout_seconds=600),
            engine.Step(engine.OVERFLOW_TEAMS),
        ),
    )
    plain = simulate(two_teams(patient, hours=20))
    surging = simulate(two_teams(patient, oslo=TeamSpec(OSLO, surge_queue_length=5), hours=20))
    assert surging.teams[0].overflowed > 2 * plain.teams[0].overflowed
    assert max(surging.series_teams[OSLO]) < max(plain.series_teams[OSLO])


def test_skills_and_languages_are_respected():
    teams = (TeamSpec(OSLO),)
    agents = (
        AgentSpec("kari", (OSLO,), languages=("nb",), skills={"billing": 3}),
        AgentSpec("li", (OSLO,), languages=("zh",), skills={"billing": 3}),
        AgentSpec("ola", (OSLO,), languages=("nb",)),
    )
    stream = StreamSpec(team=OSLO, rate_per_hour=6, aht=300, skills={"billing": 2}, language="nb")
    policy = engine.Policy(
        name="Strict", steps=(engine.Step(engine.HOME_TEAM),), language_relax_seconds=None
    )
    sim = simulate(
        Scenario(teams=teams, agents=agents, streams=(stream,), policy=policy, hours=200)
    )
    # Only Kari may serve: the queue behaves like one agent at 0.5 Erlang (Erlang C), although
    # three are online (with all three, 98 % would be answered within 20 s).
    one_agent = erlang.service_level(1, 0.5, 300, 20)
    assert sim.overall.service_level.contains(one_agent)
    assert sim.overall.service_level.high < erlang.service_level(3, 0.5, 300, 20)
    assert abs(sim.overall.occupancy - 0.5 / 3) < 0.03


def test_the_command_reports_and_plots(tmp_path, capsys):
    plot = tmp_path / "queue.png"
    call_command(
        "simulate",
        "--agents=10",
        "--rate=96",
        "--hours=30",
        "--seed=3",
        "--plot",
        str(plot),
        "--progress=never",
    )
    out = capsys.readouterr().out
    assert "all teams" in out
    assert "Erlang C (N=10, A=8.00 Erlangs)" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


SCENARIO_TOML = """
hours = 6
warmup_hours = 0.5
seed = 5
start = "2025-01-06T06:00:00+00:00"
target_seconds = 30

[policy]
name = "Billing"
steps = [
  { kind = "home_team", timeout = 120 },
  { kind = "overflow_teams", targets = ["Bergen"] },
  { kind = "after_hours" },
]

[[teams]]
name = "Oslo"
timezone = "Europe/Oslo"
hours = [["mon-fri", "08:00", "20:00"]]
fallback = "Bergen"

[[teams]]
name = "Bergen"

[[agents]]
name = "oslo"
count = 4
teams = ["Oslo"]
capacity = { chat = 3 }
shift = ["08:00", "16:00"]

[[agents]]
name = "bergen"
count = 3
teams = ["Bergen"]
capacity = { chat = 3 }

[[streams]]
team = "Oslo"
rate = 60
channel = "chat"
aht = 600
handle = "lognormal"
cv = 0.8
patience = 900
priorities = { normal = 0.9, urgent = 0.1 }
"""


def test_a_scenario_file_with_hours_shifts_and_a_policy(tmp_path):
    path = tmp_path / "scenario.toml"
    path.write_text(SCENARIO_TOML)
    scenario = load_scenario(path)
    assert scenario.policy.steps[1].target_team_ids == (2,)
    assert len(scenario.agents) == 7
    result = simulate(scenario)
    oslo, bergen = result.teams
    # Oslo opens at 08:00 local (07:00 UTC), an hour into the run: Bergen (its fallback and
    # overflow) serves the first contacts, Oslo's shift the rest.
    assert oslo.overflowed > 0
    assert oslo.answered - oslo.overflowed > oslo.overflowed
    assert bergen.offered == 0
    assert result.overall.offered == oslo.offered


def test_the_command_reads_a_scenario_file(tmp_path, capsys):
    path = tmp_path / "scenario.toml"
    path.write_text(SCENARIO_TOML)
    call_command("simulate", "--scenario", str(path), "--replications=2", "--progress=never")
    out = capsys.readouterr().out
    assert "independent replications: 2 runs" in out
    assert "Oslo" in out and "Bergen" in out
