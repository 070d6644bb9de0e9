"""Erlang B and C, checked against two independent implementations from PyPI.

* erlanglib: the textbook factorial formulas in Decimal arithmetic (exact to many digits);
  its functions take (N, A). It sets the thread's decimal precision to 1000 digits when
  imported, so the import below puts the context back, and each call gets its own context.
  For N ≤ A it returns nonsense (e.g. 1.86 for N = 10, A = 12), so it is only asked about
  stable queues.
* call-center-tools: a float recurrence; its functions take (A, N), the other way round.

Both take P(wait) as an input to their service level and ASA formulas; they are given their
own P(wait), so the whole chain of each is independent of ours.
"""

from __future__ import annotations

import decimal
import functools
import math
import types

import call_center_tools
import pytest

from teamline.analytics import erlang


def _import_erlanglib() -> types.ModuleType:
    saved = decimal.getcontext().copy()
    try:
        import erlanglib
    finally:
        decimal.setcontext(saved)
    return erlanglib


erlanglib = _import_erlanglib()

AHT = 300.0  # seconds

# (agents, occupancy A/N): the issue's 10 agents at 80 % and 95 % and 100 agents at 90 %,
# light and extreme loads, and 300-500 agents for stability.
GRID = [
    (1, 0.5),
    (2, 0.6),
    (5, 0.7),
    (10, 0.8),
    (10, 0.95),
    (20, 0.85),
    (50, 0.97),
    (100, 0.5),
    (100, 0.9),
    (100, 0.99),
    (300, 0.95),
    (400, 0.9),
    (500, 0.96),
]
CASES = [pytest.param(n, occ * n, id=f"N={n}-occ={occ}") for n, occ in GRID]


@functools.cache  # its exact Decimal sums take ~20 ms at 500 agents; ask once per input
def _erlanglib(function_name: str, *args: float) -> float:
    with decimal.localcontext() as ctx:
        ctx.prec = 60
        return float(getattr(erlanglib, function_name)(*args))


@pytest.mark.parametrize(("agents", "load"), CASES)
def test_probability_of_waiting_matches_both_libraries(agents: int, load: float) -> None:
    ours = erlang.erlang_c(agents, load)
    assert ours == pytest.approx(_erlanglib("erlang_c", agents, load), rel=1e-12)
    assert ours == pytest.approx(call_center_tools.erlang_c(load, agents), rel=1e-12)
    assert 0 < ours < 1


@pytest.mark.parametrize(("agents", "load"), CASES)
@pytest.mark.parametrize("target_time", [0.0, 20.0, 60.0])
def test_service_level_matches_both_libraries(agents: int, load: float, target_time: float) -> None:
    ours = erlang.service_level(agents, load, AHT, target_time)
    p_wait = _erlanglib("erlang_c", agents, load)
    theirs = _erlanglib("service_level", agents, load, p_wait, target_time, AHT)
    assert ours == pytest.approx(theirs, rel=1e-12)
    p_wait = call_center_tools.erlang_c(load, agents)
    theirs = call_center_tools.calc_service_level(load, agents, p_wait, target_time, AHT)
    assert ours == pytest.approx(theirs, rel=1e-12)


@pytest.mark.parametrize(("agents", "load"), CASES)
def test_average_speed_of_answer_matches_both_libraries(agents: int, load: float) -> None:
    ours = erlang.average_speed_of_answer(agents, load, AHT)
    p_wait = _erlanglib("erlang_c", agents, load)
    assert ours == pytest.approx(
        _erlanglib("average_speed_of_answer", agents, load, p_wait, AHT), rel=1e-12
    )
    p_wait = call_center_tools.erlang_c(load, agents)
    assert ours == pytest.approx(
        call_center_tools.calc_average_speed_of_answer(load, agents, p_wait, AHT), rel=1e-12
    )
    assert erlang.occupancy(agents, load) == pytest.approx(load / agents)


@pytest.mark.parametrize(("agents", "load"), CASES)
def test_erlang_b_matches_both_libraries(agents: int, load: float) -> None:
    ours = erlang.erlang_b(agents, load)
    assert ours == pytest.approx(_erlanglib("erlang_b", agents, load), rel=1e-12)
    assert ours == pytest.approx(call_center_tools.erlang_b(load, agents), rel=1e-12)


@pytest.mark.parametrize(
    ("agents", "load"),
    [(1000, 950.0), (2000, 1990.0), (500, 10.0), (5000, 4000.0)],
)
def test_large_and_lopsided_queues_do_not_overflow(agents: int, load: float) -> None:
    ours = erlang.erlang_c(agents, load)
    assert ours == pytest.approx(call_center_tools.erlang_c(load, agents), rel=1e-11, abs=1e-300)
    assert 0 <= ours < 1
    assert 0 <= erlang.service_level(agents, load, AHT, 20) <= 1
    assert math.isfinite(erlang.average_speed_of_answer(agents, load, AHT))


def test_the_issue_example_500_agents_at_480_erlangs() -> None:
    assert erlang.erlang_c(500, 480.0) == pytest.approx(0.26651251996236414, rel=1e-13)
    assert erlang.service_level(500, 480.0, AHT, 20) == pytest.approx(
        _erlanglib("service_level", 500, 480.0, _erlanglib("erlang_c", 500, 480.0), 20, AHT),
        rel=1e-13,
    )


@pytest.mark.parametrize(("agents", "load"), [(10, 10.0), (10, 12.0), (1, 1.0), (100, 250.0)])
def test_no_more_agents_than_load_is_unstable(agents: int, load: float) -> None:
    assert erlang.erlang_c(agents, load) == 1.0
    assert call_center_tools.erlang_c(load, agents) == 1
    assert erlang.service_level(agents, load, AHT, 20) == 0.0
    assert erlang.average_speed_of_answer(agents, load, AHT) == math.inf
    assert erlang.occupancy(agents, load) == 1.0


# --- Textbook values ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agents", "load", "blocking"),
    [
        # Published Erlang B tables: the load N channels carry at a given grade of service.
        (10, 4.461, 0.01),
        (10, 5.084, 0.02),
        (20, 12.031, 0.01),
        (50, 37.901, 0.01),
        (100, 84.064, 0.01),
    ],
)
def test_erlang_b_table(agents: int, load: float, blocking: float) -> None:
    # The tables print loads to 4-5 significant digits.
    assert erlang.erlang_b(agents, load) == pytest.approx(blocking, rel=1e-3)


@pytest.mark.parametrize("rho", [0.1, 0.5, 0.9, 0.99])
def test_single_agent_is_m_m_1(rho: float) -> None:
    # M/M/1: P(wait) = ρ, the wait of those who wait is exponential with rate (1 − ρ)/AHT.
    assert erlang.erlang_c(1, rho) == pytest.approx(rho, rel=1e-14)
    assert erlang.average_speed_of_answer(1, rho, AHT) == pytest.approx(
        rho * AHT / (1 - rho), rel=1e-14
    )
    assert erlang.service_level(1, rho, AHT, 20) == pytest.approx(
        1 - rho * math.exp(-(1 - rho) * 20 / AHT), rel=1e-14
    )


@pytest.mark.parametrize("rho", [0.2, 0.6, 0.95])
def test_two_agents_is_m_m_2(rho: float) -> None:
    # M/M/2 with per-agent utilisation ρ: P(wait) = 2ρ² / (1 + ρ).
    assert erlang.erlang_c(2, 2 * rho) == pytest.approx(2 * rho**2 / (1 + rho), rel=1e-14)


# --- Staffing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("contacts_per_hour", "aht", "target_time", "target_service_level"),
    [
        (100, 240, 20, 0.8),  # docs/staffing.md example
        (200, 180, 20, 0.8),  # 100 contacts per half hour, 3 minutes
        (720, 240, 15, 0.8),
        (1000, 300, 20, 0.9),
        (6000, 300, 30, 0.8),  # 500 Erlangs
        (5900, 300, 30, 0.8),
        (50, 600, 60, 0.95),
    ],
)
def test_agents_for_service_level_matches_call_center_tools(
    contacts_per_hour: float, aht: float, target_time: float, target_service_level: float
) -> None:
    load = erlang.offered_load(contacts_per_hour, 3600, aht)
    ours = erlang.agents_for_service_level(load, aht, target_time, target_service_level)
    # The same search with the library's own primitives.
    agents = math.floor(load) + 1
    while True:
        p_wait = call_center_tools.erlang_c(load, agents)
        sl = call_center_tools.calc_service_level(load, agents, p_wait, target_time, aht)
        if sl >= target_service_level:
            break
        agents += 1
    assert ours == agents
    if load != int(load):
        # Its own staffing search divides by zero when the load is a whole number of Erlangs
        # (it starts at N = A and computes the ASA there).
        theirs = call_center_tools.calc_staffing(
            contacts_per_hour,
            aht,
            max_occupancy=1.0,
            target_answer_time=target_time,
            target_service_level=target_service_level,
        ).agents
        assert ours == theirs
    assert erlang.service_level(ours, load, aht, target_time) >= target_service_level
    assert erlang.service_level(ours - 1, load, aht, target_time) < target_service_level


def test_docs_example() -> None:
    # docs/staffing.md: 100 contacts an hour, 4-minute AHT, 80 % answered within 20 s.
    load = erlang.offered_load(100, 3600, 240)
    assert load == pytest.approx(6.6667, rel=1e-4)
    assert erlang.agents_for_service_level(load, 240, 20, 0.8) == 10
    assert erlang.service_level(10, load, 240, 20) == pytest.approx(0.868, abs=5e-4)
    assert erlang.service_level(9, load, 240, 20) == pytest.approx(0.742, abs=5e-4)
    assert erlang.erlang_c(10, load) == pytest.approx(0.175, abs=5e-4)
    assert erlang.average_speed_of_answer(10, load, 240) == pytest.approx(12.6, abs=0.05)
    assert erlang.occupancy(10, load) == pytest.approx(0.667, abs=5e-4)
    assert erlang.agents_for_asa(load, 240, 30) == 10


@pytest.mark.parametrize(
    ("load", "target_asa"), [(6.667, 30.0), (8.0, 10.0), (90.0, 5.0), (480.0, 2.0)]
)
def test_agents_for_asa_matches_a_scan_with_the_libraries(load: float, target_asa: float) -> None:
    def asa(agents: int) -> float:
        if load < 100:  # erlanglib's exact Decimal sums get slow for hundreds of agents
            p_wait = _erlanglib("erlang_c", agents, load)
            return _erlanglib("average_speed_of_answer", agents, load, p_wait, AHT)
        p_wait = call_center_tools.erlang_c(load, agents)
        return call_center_tools.calc_average_speed_of_answer(load, agents, p_wait, AHT)

    agents = math.floor(load) + 1
    while asa(agents) > target_asa:
        agents += 1
    assert erlang.agents_for_asa(load, AHT, target_asa) == agents


# --- Validation -----------------------------------------------------------------------------

BAD_AGENTS = [0, -3, 2.5, 10.0, True, "10", None, math.nan]
BAD_POSITIVE = [0, -1, -0.5, math.nan, math.inf, "8", None, True]


@pytest.mark.parametrize("agents", BAD_AGENTS)
def test_rejects_bad_agents(agents: object) -> None:
    for call in (
        lambda: erlang.erlang_b(agents, 8.0),  # type: ignore[arg-type]
        lambda: erlang.erlang_c(agents, 8.0),  # type: ignore[arg-type]
        lambda: erlang.service_level(agents, 8.0, AHT, 20),  # type: ignore[arg-type]
        lambda: erlang.average_speed_of_answer(agents, 8.0, AHT),  # type: ignore[arg-type]
        lambda: erlang.occupancy(agents, 8.0),  # type: ignore[arg-type]
    ):
        with pytest.raises(ValueError, match="agents"):
            call()


@pytest.mark.parametrize("value", BAD_POSITIVE)
def test_rejects_bad_load_and_aht(value: object) -> None:
    with pytest.raises(ValueError, match="load"):
        erlang.erlang_c(10, value)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="load"):
        erlang.erlang_b(10, value)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="aht"):
        erlang.service_level(10, 8.0, value, 20)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="aht"):
        erlang.average_speed_of_answer(10, 8.0, value)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="target_asa"):
        erlang.agents_for_asa(8.0, AHT, value)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="period"):
        erlang.offered_load(100, value, AHT)  # type: ignore[arg-type]


@pytest.mark.parametrize("target_time", [-1, math.nan, math.inf])
def test_rejects_bad_target_time(target_time: float) -> None:
    with pytest.raises(ValueError, match="target_time"):
        erlang.service_level(10, 8.0, AHT, target_time)
    with pytest.raises(ValueError, match="target_time"):
        erlang.agents_for_service_level(8.0, AHT, target_time, 0.8)


@pytest.mark.parametrize("target", [0, 1, 1.5, -0.2, math.nan])
def test_rejects_unreachable_service_level_targets(target: float) -> None:
    with pytest.raises(ValueError, match="target_service_level"):
        erlang.agents_for_service_level(8.0, AHT, 20, target)
