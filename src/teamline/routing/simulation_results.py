"""What a run of the routing simulator (`simulator.py`) measured: estimates with their
Student-t confidence intervals, the results per team and overall, several replications
combined, and the two ways they are shown (the text report, the queue-length plot)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .scenarios import Scenario

# --- Confidence intervals -------------------------------------------------------------------


def _t_two_sided_coverage(t: float, df: int) -> float:
    """P(|T| ≤ t) for Student's t with integer `df` (Abramowitz & Stegun 26.7.3-4)."""
    theta = math.atan(t / math.sqrt(df))
    s, c = math.sin(theta), math.cos(theta)
    if df % 2 == 1:
        if df == 1:
            return 2 * theta / math.pi
        term, total = c, c
        for k in range(3, df - 1, 2):
            term *= c * c * (k - 1) / k
            total += term
        return 2 / math.pi * (theta + s * total)
    term, total = 1.0, 1.0
    for k in range(2, df - 1, 2):
        term *= c * c * (k - 1) / k
        total += term
    return s * total


def t_quantile(confidence: float, df: int) -> float:
    """The half-width multiplier of a two-sided Student-t interval (e.g. 2.093 for 95 %, 19)."""
    if df <= 0:
        return math.inf
    if df > 1000:
        return statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    low, high = 0.0, 1e6
    for _ in range(200):
        middle = (low + high) / 2
        if _t_two_sided_coverage(middle, df) < confidence:
            low = middle
        else:
            high = middle
    return (low + high) / 2


@dataclass(frozen=True)
class Estimate:
    """A point estimate and the half-width of its confidence interval."""

    value: float
    half_width: float
    samples: int = 0

    @property
    def low(self) -> float:
        return self.value - self.half_width

    @property
    def high(self) -> float:
        return self.value + self.half_width

    def contains(self, x: float) -> bool:
        return self.low <= x <= self.high

    def __str__(self) -> str:
        return f"{self.value:.4g} ± {self.half_width:.2g}"


def interval(values: Sequence[float], confidence: float, point: float | None = None) -> Estimate:
    """Student-t interval over independent (or batch) estimates."""
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return Estimate(math.nan, math.nan, 0)
    mean = statistics.fmean(values)
    if len(values) < 2:
        return Estimate(point if point is not None else mean, math.inf, len(values))
    spread = statistics.stdev(values) / math.sqrt(len(values))
    return Estimate(
        point if point is not None else mean,
        t_quantile(confidence, len(values) - 1) * spread,
        len(values),
    )


# --- Results --------------------------------------------------------------------------------


@dataclass
class Outcomes:
    """Per counted contact: wait (seconds), answered; kept as parallel lists for speed."""

    waits: list[float] = field(default_factory=list)
    answered: list[bool] = field(default_factory=list)
    overflowed: int = 0

    def add(self, wait: float, answered: bool) -> None:
        self.waits.append(wait)
        self.answered.append(answered)

    def measures(self, target: float, lo: int = 0, hi: int | None = None) -> tuple[float, ...]:
        """(service level, ASA, P(abandon)) of contacts lo..hi."""
        waits, answered = self.waits[lo:hi], self.answered[lo:hi]
        n = len(waits)
        if n == 0:
            return (math.nan, math.nan, math.nan)
        served = [w for w, a in zip(waits, answered, strict=True) if a]
        within = sum(1 for w in served if w <= target)
        asa = math.fsum(served) / len(served) if served else math.nan
        return (within / n, asa, (n - len(served)) / n)


@dataclass
class TeamResult:
    name: str
    offered: int
    answered: int
    abandoned: int
    service_level: Estimate
    asa: Estimate
    abandon_rate: Estimate
    occupancy: float
    overflowed: int = 0


@dataclass
class Result:
    """One run (or the aggregate of several replications)."""

    scenario: Scenario
    overall: TeamResult
    teams: list[TeamResult]
    ci_method: str
    # Queue length over time: sample instants (hours since start), total and per team.
    series_hours: list[float]
    series_total: list[int]
    series_teams: dict[str, list[int]]
    events: int
    wall_seconds: float
    replications: int = 1


# --- Replications combined -----------------------------------------------------------------


def _combine_team(parts: list[TeamResult], confidence: float) -> TeamResult:
    def over(attribute: str) -> Estimate:
        values = [getattr(part, attribute).value for part in parts]
        return interval(values, confidence)

    return TeamResult(
        name=parts[0].name,
        offered=sum(p.offered for p in parts),
        answered=sum(p.answered for p in parts),
        abandoned=sum(p.abandoned for p in parts),
        service_level=over("service_level"),
        asa=over("asa"),
        abandon_rate=over("abandon_rate"),
        occupancy=statistics.fmean(p.occupancy for p in parts),
        overflowed=sum(p.overflowed for p in parts),
    )


def combine_replications(scenario: Scenario, results: list[Result]) -> Result:
    confidence = scenario.confidence
    first = results[0]
    return Result(
        scenario=scenario,
        overall=_combine_team([r.overall for r in results], confidence),
        teams=[
            _combine_team([r.teams[i] for r in results], confidence)
            for i in range(len(first.teams))
        ],
        ci_method=(
            f"independent replications: {len(results)} runs (seeds {scenario.seed}…"
            f"{scenario.seed + len(results) - 1}), each with warm-up deletion, Student t, "
            f"{confidence:.0%}"
        ),
        series_hours=first.series_hours,
        series_total=first.series_total,
        series_teams=first.series_teams,
        events=sum(r.events for r in results),
        wall_seconds=sum(r.wall_seconds for r in results),
        replications=len(results),
    )


# --- Output ---------------------------------------------------------------------------------


def format_report(result: Result) -> str:
    sc = result.scenario
    target = f"{sc.target_seconds:g} s"
    lines = [
        f"{len(sc.teams)} team(s), {len(sc.agents)} agents, policy {sc.policy.name!r}, "
        f"{sc.hours:g} h (warm-up {sc.warmup_hours:g} h), seed {sc.seed}",
        f"confidence intervals: {result.ci_method}",
        "",
        f"{'team':<16} {'offered':>8} {'SL ≤ ' + target:>17} {'ASA s':>15} "
        f"{'abandoned':>17} {'occupancy':>9} {'overflow':>8}",
    ]
    for row in [*result.teams, result.overall] if len(result.teams) > 1 else [result.overall]:
        lines.append(
            f"{row.name[:16]:<16} {row.offered:>8} "
            f"{_pct(row.service_level):>17} {_num(row.asa):>15} {_pct(row.abandon_rate):>17} "
            f"{row.occupancy:>9.1%} {row.overflowed:>8}"
        )
    peak = max(result.series_total) if result.series_total else 0
    lines += [
        "",
        f"peak queue {peak}, {result.events:,} events in {result.wall_seconds:.2f} s"
        + (f" over {result.replications} replications" if result.replications > 1 else ""),
    ]
    return "\n".join(lines)


def _pct(estimate: Estimate) -> str:
    if math.isnan(estimate.value):
        return "-"
    return f"{estimate.value:.1%} ± {estimate.half_width * 100:.1f}"


def _num(estimate: Estimate) -> str:
    if math.isnan(estimate.value):
        return "-"
    return f"{estimate.value:.1f} ± {estimate.half_width:.1f}"


def plot_queue(result: Result, path: str | Path, *, max_teams: int = 8) -> None:
    """A PNG of the queue length over time: every team together, and the busiest teams."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=100)
    ax.step(result.series_hours, result.series_total, where="post", label="all teams", lw=1.4)
    if len(result.series_teams) > 1:
        busiest = sorted(
            result.series_teams.items(), key=lambda kv: max(kv[1], default=0), reverse=True
        )[:max_teams]
        for name, values in busiest:
            ax.step(result.series_hours, values, where="post", label=name, lw=0.8, alpha=0.8)
    sc = result.scenario
    if sc.warmup_hours:
        ax.axvspan(0, sc.warmup_hours, color="grey", alpha=0.12, label="warm-up")
    ax.set_xlabel("hours since start")
    ax.set_ylabel("contacts waiting")
    overall = result.overall
    ax.set_title(
        f"Queue length — SL {overall.service_level.value:.1%} within "
        f"{sc.target_seconds:g} s, ASA {overall.asa.value:.0f} s, "
        f"abandoned {overall.abandon_rate.value:.1%}"
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
