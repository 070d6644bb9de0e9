"""Erlang A (M/M/N+M), checked against a brute-force solution of the birth-death chain.

Neither erlanglib nor call-center-tools implements Erlang A, so the independent check is
tests/analytics/brute_force.py: the chain solved from its rates (Decimal products,
first-step analysis, uniformization), sharing no formula or code with erlang.py.
"""

from __future__ import annotations

import itertools
import math

import pytest

from teamline.analytics import erlang
from tests.analytics import brute_force

TIMES = (0.0, 10.0, 20.0, 60.0, 300.0)

# (agents, load, aht, patience): patience equal to, shorter and longer than AHT, N > A,
# N = A and N < A (unstable without abandonment), one agent drowning, hundreds of agents.
CASES = [
    pytest.param(10, 8.0, 300.0, 300.0, TIMES, id="10-agents-80%"),
    pytest.param(10, 9.5, 300.0, 120.0, TIMES, id="10-agents-95%-impatient"),
    pytest.param(10, 9.5, 300.0, 1800.0, TIMES, id="10-agents-95%-patient"),
    pytest.param(10, 10.0, 300.0, 600.0, TIMES, id="N=A"),
    pytest.param(10, 12.0, 300.0, 180.0, TIMES, id="N<A"),
    pytest.param(1, 5.0, 60.0, 30.0, TIMES, id="one-agent-overloaded"),
    pytest.param(100, 90.0, 300.0, 600.0, TIMES, id="100-agents-90%"),
    pytest.param(100, 110.0, 240.0, 90.0, (0.0, 20.0, 120.0), id="100-agents-N<A"),
    pytest.param(300, 320.0, 300.0, 600.0, (0.0, 20.0), id="300-agents-N<A"),
    pytest.param(500, 480.0, 300.0, 600.0, (0.0, 20.0), id="500-agents-480-erlangs"),
]


@pytest.mark.parametrize(("agents", "load", "aht", "patience", "times"), CASES)
def test_matches_brute_force_birth_death_chain(
    agents: int, load: float, aht: float, patience: float, times: tuple[float, ...]
) -> None:
    ours = erlang.erlang_a(agents, load, aht, patience)
    exact = brute_force.solve(agents, load, aht, patience, times)

    assert ours.p_wait == pytest.approx(exact.p_wait, rel=1e-10)
    assert ours.p_abandon == pytest.approx(exact.p_abandon, rel=1e-10)
    assert ours.p_answered == pytest.approx(exact.p_answered, rel=1e-10)
    assert ours.asa == pytest.approx(exact.asa, rel=1e-10)
    assert ours.mean_wait == pytest.approx(exact.mean_wait, rel=1e-10)
    assert ours.occupancy == pytest.approx(exact.occupancy, rel=1e-10)
    for t in times:
        assert ours.service_level(t) == pytest.approx(exact.service_level[t], abs=1e-12), t
        assert ours.p_queue_time_exceeds(t) == pytest.approx(
            exact.p_queue_time_exceeds[t], abs=1e-12
        ), t


def test_definitions_fit_together() -> None:
    result = erlang.erlang_a(20, 19.0, 300.0, 240.0)
    # No wait means answered at once: SL(0) = 1 − P(wait); P(W > 0) = P(wait).
    assert result.service_level(0) == pytest.approx(1 - result.p_wait, rel=1e-12)
    assert result.p_queue_time_exceeds(0) == pytest.approx(result.p_wait, rel=1e-12)
    # Everybody is eventually answered or gone.
    assert result.service_level(1e6) == pytest.approx(result.p_answered, rel=1e-12)
    assert result.p_queue_time_exceeds(1e6) == 0.0
    # E[W] = P(answered)·ASA + P(abandoned)·E[W | abandoned], with E[W | abandoned] > 0.
    assert result.mean_wait > result.p_answered * result.asa
    # Service level rises with the target time, the waiting tail falls.
    levels = [result.service_level(t) for t in range(0, 600, 15)]
    assert levels == sorted(levels)
    tails = [result.p_queue_time_exceeds(t) for t in range(0, 600, 15)]
    assert tails == sorted(tails, reverse=True)


@pytest.mark.parametrize(("agents", "load"), [(10, 8.0), (10, 9.5), (100, 90.0), (500, 480.0)])
def test_tends_to_erlang_c_as_patience_grows(agents: int, load: float) -> None:
    aht = 300.0
    c_wait = erlang.erlang_c(agents, load)
    c_asa = erlang.average_speed_of_answer(agents, load, aht)
    c_sl = erlang.service_level(agents, load, aht, 20)
    gaps, abandons = [], []
    for patience in (1e3, 1e5, 1e7, 1e9, 1e11):
        result = erlang.erlang_a(agents, load, aht, patience)
        gaps.append(abs(result.asa - c_asa) / c_asa)
        abandons.append(result.p_abandon)
    # The gap closes like AHT / patience: 100 times smaller for 100 times more patience.
    for wider, narrower in itertools.pairwise(gaps[2:]):
        assert narrower == pytest.approx(wider / 100, rel=0.05)
    assert abandons == sorted(abandons, reverse=True)
    assert result.p_wait == pytest.approx(c_wait, rel=1e-6)
    assert result.asa == pytest.approx(c_asa, rel=1e-6)
    assert result.service_level(20) == pytest.approx(c_sl, rel=1e-6)
    assert result.p_queue_time_exceeds(20) == pytest.approx(1 - c_sl, rel=1e-6)

    infinite = erlang.erlang_a(agents, load, aht, math.inf)
    assert (infinite.p_wait, infinite.p_abandon, infinite.asa) == (c_wait, 0.0, c_asa)
    assert infinite.service_level(20) == c_sl
    assert infinite.p_queue_time_exceeds(20) == pytest.approx(1 - c_sl, rel=1e-12)


def test_infinite_patience_with_too_few_agents_is_erlang_c_unstable() -> None:
    result = erlang.erlang_a(10, 12.0, 300.0, math.inf)
    assert (result.p_wait, result.p_abandon, result.asa) == (1.0, 0.0, math.inf)
    assert result.service_level(20) == 0.0
    assert result.p_queue_time_exceeds(20) == 1.0


@pytest.mark.parametrize(("agents", "load"), [(10, 8.0), (500, 480.0), (200, 230.0)])
def test_patience_equal_to_aht_is_a_poisson_count(agents: int, load: float) -> None:
    # With θ = μ every contact in the system leaves at the same rate, waiting or not, so the
    # number in the system is Poisson(A) (M/M/∞): P(wait) = P(X ≥ N) and
    # P(abandon) = E[(X − N)⁺] / A.
    def pmf(k: int) -> float:
        return math.exp(k * math.log(load) - load - math.lgamma(k + 1))

    top = int(load + 40 * math.sqrt(load)) + 40
    p_wait = math.fsum(pmf(k) for k in range(agents, top))
    p_abandon = math.fsum((k - agents) * pmf(k) for k in range(agents, top)) / load
    result = erlang.erlang_a(agents, load, 300.0, 300.0)
    assert result.p_wait == pytest.approx(p_wait, rel=1e-12)
    assert result.p_abandon == pytest.approx(p_abandon, rel=1e-12)


@pytest.mark.parametrize(
    ("agents", "load", "patience"),
    [(500, 480.0, 300.0), (500, 480.0, 3e6), (1000, 1100.0, 300.0), (2000, 10.0, 60.0)],
)
def test_hundreds_of_agents_do_not_overflow(agents: int, load: float, patience: float) -> None:
    result = erlang.erlang_a(agents, load, 300.0, patience)
    for value in (result.p_wait, result.p_abandon, result.service_level(20), result.occupancy):
        assert 0 <= value <= 1
    assert math.isfinite(result.asa)
    assert math.isfinite(result.mean_wait)


def test_far_overloaded_queue_sums_from_the_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    # 150 Erlangs on 100 agents, customers willing to wait 1500 handle times: the queue-length
    # distribution peaks near 75,000, so it is summed outwards from there (log-gamma start,
    # digamma prefix). The plain upward sum must give the same numbers.
    args = (100, 150.0, 300.0, 450_000.0)
    from_mode = erlang.erlang_a(*args)
    monkeypatch.setattr(erlang, "_DIRECT_SUM_LIMIT", 10**9)
    upwards = erlang.erlang_a(*args)
    for name in ("p_wait", "p_abandon", "asa", "mean_wait", "occupancy"):
        assert getattr(from_mode, name) == pytest.approx(getattr(upwards, name), rel=1e-9), name
    # Both are ~0; the log-gamma start (arguments ~1e5) carries ~1e-10 absolute error.
    assert from_mode.service_level(20) == pytest.approx(upwards.service_level(20), abs=1e-9)
    assert from_mode.p_abandon == pytest.approx(1 - 100 / 150, rel=1e-3)


@pytest.mark.parametrize(
    ("agents", "load", "patience"), [(10, 15.0, 1500.0), (1, 5.0, 6000.0), (20, 40.0, 900.0)]
)
def test_summing_from_the_mode_matches_brute_force(
    agents: int, load: float, patience: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(erlang, "_DIRECT_SUM_LIMIT", 5)
    ours = erlang.erlang_a(agents, load, 300.0, patience)
    exact = brute_force.solve(agents, load, 300.0, patience, (20.0,))
    assert ours.p_wait == pytest.approx(exact.p_wait, rel=1e-10)
    assert ours.p_abandon == pytest.approx(exact.p_abandon, rel=1e-10)
    assert ours.asa == pytest.approx(exact.asa, rel=1e-10)
    assert ours.service_level(20) == pytest.approx(exact.service_level[20.0], abs=1e-12)


def test_absurdly_patient_overloaded_queue_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # Twice the load the agents can take and customers who wait 10^12 handle times: the
    # queue-length series would need ~10^8 terms. (The cap is lowered to keep this fast.)
    monkeypatch.setattr(erlang, "_MAX_TERMS", 10_000)
    with pytest.raises(ValueError, match="out of the supported range"):
        erlang.erlang_a(10, 20.0, 1.0, 1e12)


@pytest.mark.parametrize(("start", "count"), [(1.0, 100), (0.3, 1000), (16.0, 65), (2e9, 200_000)])
def test_harmonic_prefix(start: float, count: int) -> None:
    direct = math.fsum(1 / (start + i) for i in range(count))
    assert erlang._harmonic(start, count) == pytest.approx(direct, rel=1e-14)


# --- Staffing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("load", "aht", "patience", "target_time", "target", "max_abandon"),
    [
        (6.667, 240.0, 120.0, 20.0, 0.8, None),
        (6.667, 240.0, 60.0, 20.0, 0.8, 0.05),
        (90.0, 300.0, 600.0, 20.0, 0.9, None),
        (480.0, 300.0, 180.0, 30.0, 0.8, 0.02),
    ],
)
def test_agents_for_service_level_is_the_smallest_that_meets_the_targets(
    load: float,
    aht: float,
    patience: float,
    target_time: float,
    target: float,
    max_abandon: float | None,
) -> None:
    agents = erlang.erlang_a_agents_for_service_level(
        load, aht, patience, target_time, target, max_abandon=max_abandon
    )

    def meets(n: int) -> bool:
        result = erlang.erlang_a(n, load, aht, patience)
        abandon_ok = max_abandon is None or result.p_abandon <= max_abandon
        return abandon_ok and result.service_level(target_time) >= target

    assert meets(agents)
    assert not meets(agents - 1)


def test_staffing_example_against_brute_force() -> None:
    load = erlang.offered_load(100, 3600, 240)
    agents = erlang.erlang_a_agents_for_service_level(load, 240, 120, 20, 0.8)
    assert agents == 9
    assert brute_force.solve(9, load, 240, 120, (20.0,)).service_level[20.0] >= 0.8
    assert brute_force.solve(8, load, 240, 120, (20.0,)).service_level[20.0] < 0.8
    # docs/staffing.md: 9 agents lose 5.7 % of contacts; capping abandonment at 5 % takes 10.
    assert erlang.erlang_a(9, load, 240, 120).p_abandon == pytest.approx(0.057, abs=5e-4)
    assert erlang.erlang_a_agents_for_service_level(load, 240, 120, 20, 0.8, max_abandon=0.05) == 10


# --- Validation -----------------------------------------------------------------------------


@pytest.mark.parametrize("patience", [0, -60, math.nan, -math.inf, "120", None])
def test_rejects_bad_patience(patience: object) -> None:
    with pytest.raises(ValueError, match="patience"):
        erlang.erlang_a(10, 8.0, 300.0, patience)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("agents", "load", "aht", "name"),
    [
        (0, 8.0, 300.0, "agents"),
        (10.5, 8.0, 300.0, "agents"),
        (10, 0, 300.0, "load"),
        (10, math.nan, 300.0, "load"),
        (10, -8.0, 300.0, "load"),
        (10, 8.0, 0, "aht"),
        (10, 8.0, math.inf, "aht"),
    ],
)
def test_rejects_bad_inputs(agents: object, load: object, aht: object, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        erlang.erlang_a(agents, load, aht, 120.0)  # type: ignore[arg-type]


def test_rejects_bad_times_and_targets() -> None:
    result = erlang.erlang_a(10, 8.0, 300.0, 120.0)
    with pytest.raises(ValueError, match="target_time"):
        result.service_level(-1)
    with pytest.raises(ValueError, match="target_time"):
        result.service_level(math.nan)
    with pytest.raises(ValueError, match="max_abandon"):
        erlang.erlang_a_agents_for_service_level(8.0, 300, 120, 20, 0.8, max_abandon=0)
    with pytest.raises(ValueError, match="target_service_level"):
        erlang.erlang_a_agents_for_service_level(8.0, 300, 120, 20, 1.0)
