"""The simulator (driving the real routing engine) against queueing theory.

Single team, single skill, Poisson arrivals, exponential handle times, first come first served:
the model of Erlang C (no abandonment) and Erlang A (exponential patience). The simulated
service level, ASA and abandonment must match `teamline.analytics.erlang` within the
simulation's own confidence interval.

CI method: batch means. Each run deletes a warm-up, counts the contacts arriving after it (in
arrival order), splits them into equal batches and takes a Student-t interval over the batch
estimates, at 99 % (about twenty intervals are checked in this file; at 95 % one in three runs
of the file would see a miss by chance). Seeds are fixed, so every run of the suite is the same.

The tolerance is the interval, not a constant, and each test also asserts that its interval is
narrow enough to mean something (a run too short to tell would otherwise pass) and, where it is
cheap, that the formula for one agent more or less falls outside it: the tests can fail.

Erlang C depends on the handle time only through t/AHT, so the heavily loaded cases use a
60-second AHT with a 4-second target (the same ratio as 20 s for a 5-minute AHT): waits stay
short compared with the engine's 5-minute safety-net re-checks, which keeps the runs cheap.
"""

from __future__ import annotations

import time

import pytest

from teamline.analytics import erlang
from teamline.routing.scenarios import simple_scenario
from teamline.routing.simulation_results import Estimate, TeamResult, t_quantile
from teamline.routing.simulator import simulate

CONFIDENCE = 0.99


def run(
    agents: int,
    load: float,
    *,
    aht: float,
    target: float,
    arrivals: int,
    warmup: float,
    patience: float | None = None,
    seed: int = 7,
    batches: int = 20,
) -> TeamResult:
    """About `arrivals` counted contacts after a warm-up of `warmup` handle times."""
    rate = load / aht * 3600
    scenario = simple_scenario(
        agents=agents,
        rate=rate,
        aht=aht,
        patience=patience,
        hours=arrivals / rate + warmup * aht / 3600,
        warmup_hours=warmup * aht / 3600,
        seed=seed,
        target_seconds=target,
        batches=batches,
        confidence=CONFIDENCE,
    )
    return simulate(scenario).overall


def assert_within(name: str, estimate: Estimate, expected: float) -> None:
    assert estimate.contains(expected), (
        f"{name}: simulated {estimate} ({CONFIDENCE:.0%} CI {estimate.low:.4g}…{estimate.high:.4g})"
        f" does not contain the formula's {expected:.4g}"
    )


def assert_erlang_c(result: TeamResult, agents: int, load: float, aht: float, target: float):
    assert result.abandoned == 0
    assert_within("SL", result.service_level, erlang.service_level(agents, load, aht, target))
    assert_within("ASA", result.asa, erlang.average_speed_of_answer(agents, load, aht))


def test_erlang_c_10_agents_at_80_percent():
    agents, load, aht, target = 10, 8.0, 300.0, 20.0
    started = time.perf_counter()
    result = run(agents, load, aht=aht, target=target, arrivals=40_000, warmup=50)
    elapsed = time.perf_counter() - started
    assert_erlang_c(result, agents, load, aht, target)
    assert abs(result.occupancy - load / agents) < 0.01
    # Narrow enough to tell one agent more or less apart.
    assert result.service_level.half_width < 0.05
    assert result.asa.half_width < 0.35 * result.asa.value
    for other in (agents - 1, agents + 1):
        assert not result.asa.contains(erlang.average_speed_of_answer(other, load, aht))
        assert not result.service_level.contains(erlang.service_level(other, load, aht, target))
    print(f"10 agents at 80 %: {result.offered} contacts in {elapsed:.2f} s")


def test_erlang_c_10_agents_at_95_percent():
    # The slowest to converge: the queue's relaxation time is ~AHT/(√N − √A)² ≈ 160 AHT
    # (~1,500 arrivals), so 60,000 contacts cover ~40 of them; 10 batches of ~4 relaxation
    # times each keep the batch estimates close to independent. The interval is wide: the
    # assertions below bound it, and a longer run is only a matter of patience.
    agents, load, aht, target = 10, 9.5, 60.0, 4.0
    result = run(agents, load, aht=aht, target=target, arrivals=60_000, warmup=300, batches=10)
    assert_erlang_c(result, agents, load, aht, target)
    assert result.service_level.half_width < 0.08
    # One agent more (SL 50 %, ASA 22 s) is outside; one fewer cannot keep up at all.
    assert not result.service_level.contains(erlang.service_level(11, load, aht, target))
    assert not result.asa.contains(erlang.average_speed_of_answer(11, load, aht))


def test_erlang_c_100_agents_at_90_percent():
    agents, load, aht, target = 100, 90.0, 60.0, 4.0
    result = run(agents, load, aht=aht, target=target, arrivals=60_000, warmup=20)
    assert_erlang_c(result, agents, load, aht, target)
    assert abs(result.occupancy - load / agents) < 0.01
    assert result.service_level.half_width < 0.08
    # 97 agents (SL 77 %) would be outside.
    assert not result.service_level.contains(erlang.service_level(97, load, aht, target))


@pytest.mark.parametrize(
    ("agents", "load", "patience"),
    [
        (10, 12.0, 180.0),  # fewer agents than Erlangs: Erlang C has no answer, Erlang A does
        (10, 8.0, 120.0),
        (50, 50.0, 300.0),  # as many agents as Erlangs
    ],
)
def test_erlang_a(agents, load, patience):
    aht, target = 300.0, 20.0
    result = run(
        agents, load, aht=aht, target=target, arrivals=30_000, warmup=20, patience=patience
    )
    model = erlang.erlang_a(agents, load, aht, patience)
    assert_within("P(abandon)", result.abandon_rate, model.p_abandon)
    assert_within("ASA", result.asa, model.asa)
    assert_within("SL", result.service_level, model.service_level(target))
    assert abs(result.occupancy - model.occupancy) < 0.01
    assert result.abandon_rate.half_width < 0.25 * model.p_abandon
    assert result.asa.half_width < 0.25 * model.asa
    # Abandonment matters: the infinitely patient model (Erlang C) is far outside the interval.
    if agents > load:
        assert not result.asa.contains(erlang.average_speed_of_answer(agents, load, aht))


def test_runs_are_deterministic_with_a_seed():
    kwargs = {"aht": 300.0, "target": 20.0, "arrivals": 2000, "warmup": 10, "patience": 120.0}
    first, again = run(10, 9.0, **kwargs), run(10, 9.0, **kwargs)
    other = run(10, 9.0, seed=8, **kwargs)
    assert first == again
    assert (other.offered, other.asa.value) != (first.offered, first.asa.value)


def test_student_t_quantiles():
    # Tabulated two-sided values.
    assert t_quantile(0.95, 19) == pytest.approx(2.093, abs=1e-3)
    assert t_quantile(0.99, 19) == pytest.approx(2.861, abs=1e-3)
    assert t_quantile(0.95, 1) == pytest.approx(12.706, abs=1e-3)
    assert t_quantile(0.99, 9) == pytest.approx(3.250, abs=1e-3)
    assert t_quantile(0.95, 5000) == pytest.approx(1.960, abs=1e-3)


def test_independent_replications_give_an_interval_over_runs():
    scenario = simple_scenario(
        agents=10, rate=8.0 / 300 * 3600, aht=300, hours=24, warmup_hours=2, seed=3
    )
    result = simulate(scenario, replications=5)
    assert result.replications == 5
    assert "independent replications" in result.ci_method
    assert result.overall.service_level.samples == 5
    assert result.overall.service_level.contains(erlang.service_level(10, 8.0, 300, 20))
