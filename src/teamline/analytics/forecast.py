"""Contact forecasts per 15-minute interval of a team's local day, chosen by backtest.

Pure functions, no Django, no I/O: :mod:`teamline.analytics.staffing` reads a team's history
from the fact table and calls :func:`forecast_day`. docs/analytics.md ("Forecast") describes
the method for users; this docstring is the reference.

A day is a team's *local* day cut into 96 clock slots (00:00, 00:15, … 23:45 on the wall
clock). On the day clocks go forward the skipped hour's slots are empty; on the day they go
back the repeated hour's contacts fall into the same four slots. History is a list of
:class:`Day` (one per local day, oldest first, with whether the day was a holiday in the
team's calendar).

Candidate methods, each a weekly-and-daily seasonal model (weekly: a weekday is predicted
from the same weekday; daily: slot by slot):

``last_week``
    Seasonal naive: the same slot of the latest ordinary same weekday.
``mean_4_weeks``
    The mean of the same slot over the latest four ordinary same weekdays.
``level_shape``
    The classic workforce-management split: the day's total is a weighted mean of the latest
    six ordinary same-weekday totals (weights 6, 5, … 1: recent weeks count most), spread over
    the day by the mean intraday shape (each slot's share of its day) of the latest eight.
    Shapes are smoother than counts, so noise in single slots averages out.

Holidays (a public or team holiday, from the team's calendar) are not ordinary days: every
method predicts one as the holiday *shape* (the mean share per slot over past holidays,
else the latest Sunday's) times the *ratio* past holidays had to the ordinary level of their
weekday (the median; without past holidays the latest Sunday's total stands in), and ordinary
days are predicted from ordinary days only.

The method is chosen per series by a rolling-origin backtest (:func:`backtest`): each of the
latest ``backtest_days`` days is predicted from the days before it, and the method with the
lowest WAPE (Σ|actual − forecast| ÷ Σ actual) wins. MAPE (the mean of |actual − forecast| ÷
actual over the intervals with at least one contact) is reported beside it; WAPE decides
because MAPE explodes on quiet intervals.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

SLOTS = 96  # 15-minute clock slots in a day
SUNDAY = 6

# How far back each method looks, in same-weekday occurrences.
LEVEL_WEEKS = 6
SHAPE_WEEKS = 8
MEAN_WEEKS = 4
# Fewest ordinary same weekdays a forecast needs; with fewer the answer is "not enough history".
MIN_WEEKS = 1


class NotEnoughHistory(ValueError):
    """No ordinary same weekday before the day to forecast."""


@dataclass(frozen=True)
class Day:
    day: date
    counts: tuple[float, ...]
    holiday: bool = False

    def __post_init__(self) -> None:
        if len(self.counts) != SLOTS:
            raise ValueError(f"a day has {SLOTS} slots, got {len(self.counts)}")
        if any(not math.isfinite(c) or c < 0 for c in self.counts):
            raise ValueError("counts are finite and not negative")

    @property
    def total(self) -> float:
        return math.fsum(self.counts)


Method = Callable[[Sequence[Day], date], list[float]]


def _ordinary_same_weekday(history: Sequence[Day], day: date, count: int) -> list[Day]:
    """The latest ``count`` ordinary (not holiday) days before ``day`` on its weekday."""
    found: list[Day] = []
    for past in reversed(history):
        if past.day >= day or past.holiday or past.day.weekday() != day.weekday():
            continue
        found.append(past)
        if len(found) == count:
            break
    if len(found) < MIN_WEEKS:
        raise NotEnoughHistory(f"no ordinary {day:%A} before {day}")
    return found


def _shape(days: Sequence[Day]) -> list[float]:
    """Mean share of each slot in its day (days without contacts count as flat)."""
    shares = [0.0] * SLOTS
    used = 0
    for d in days:
        total = d.total
        if total <= 0:
            continue
        used += 1
        for i, c in enumerate(d.counts):
            shares[i] += c / total
    if not used:
        return [1.0 / SLOTS] * SLOTS
    return [s / used for s in shares]


def last_week(history: Sequence[Day], day: date) -> list[float]:
    return list(_ordinary_same_weekday(history, day, 1)[0].counts)


def mean_4_weeks(history: Sequence[Day], day: date) -> list[float]:
    days = _ordinary_same_weekday(history, day, MEAN_WEEKS)
    return [math.fsum(d.counts[i] for d in days) / len(days) for i in range(SLOTS)]


def _level(history: Sequence[Day], day: date) -> float:
    days = _ordinary_same_weekday(history, day, LEVEL_WEEKS)
    weights = range(len(days), 0, -1)  # the latest first, so it weighs most
    return math.fsum(w * d.total for w, d in zip(weights, days, strict=True)) / sum(weights)


def level_shape(history: Sequence[Day], day: date) -> list[float]:
    level = _level(history, day)
    shape = _shape(_ordinary_same_weekday(history, day, SHAPE_WEEKS))
    return [level * s for s in shape]


METHODS: dict[str, Method] = {
    "last_week": last_week,
    "mean_4_weeks": mean_4_weeks,
    "level_shape": level_shape,
}


def _holiday(history: Sequence[Day], day: date) -> list[float]:
    """A holiday: the shape of past holidays times their ratio to their weekday's level."""
    past = [d for d in history if d.holiday and d.day < day]
    ratios = []
    for h in past:
        try:
            ordinary = _level([d for d in history if d.day < h.day], h.day)
        except NotEnoughHistory:
            continue
        if ordinary > 0:
            ratios.append(h.total / ordinary)
    try:
        level = _level(history, day)
    except NotEnoughHistory:
        level = 0.0
    if ratios and level > 0:
        return [level * statistics.median(ratios) * s for s in _shape(past)]
    sunday = [d for d in history if d.day < day and d.day.weekday() == SUNDAY]
    if not sunday:
        raise NotEnoughHistory(f"no past holiday or Sunday before {day}")
    return list(sunday[-1].counts)


def predict(method: str, history: Sequence[Day], day: date, *, holiday: bool) -> list[float]:
    """The forecast of ``day``'s 96 slots by ``method`` from the days before it."""
    if holiday:
        return _holiday(history, day)
    return METHODS[method](history, day)


@dataclass
class Errors:
    """Accumulated forecast errors of one method over a backtest."""

    absolute: float = 0.0
    actual: float = 0.0
    percentage_sum: float = 0.0
    percentage_count: int = 0
    days: int = 0

    def add(self, actual: Sequence[float], forecast: Sequence[float]) -> None:
        self.days += 1
        for a, f in zip(actual, forecast, strict=True):
            self.absolute += abs(a - f)
            self.actual += a
            if a > 0:
                self.percentage_sum += abs(a - f) / a
                self.percentage_count += 1

    @property
    def wape(self) -> float | None:
        return self.absolute / self.actual if self.actual else None

    @property
    def mape(self) -> float | None:
        return self.percentage_sum / self.percentage_count if self.percentage_count else None


@dataclass
class Backtest:
    method: str
    days: int
    errors: dict[str, Errors] = field(default_factory=dict)
    holidays: Errors = field(default_factory=Errors)

    @property
    def chosen(self) -> Errors:
        return self.errors[self.method]


def backtest(history: Sequence[Day], *, backtest_days: int = 28) -> Backtest:
    """Predict each of the latest ``backtest_days`` ordinary days from the days before it with
    every method; the lowest WAPE wins (ties: the simpler method, in METHODS order). Holidays in
    the window are scored apart (they use the same holiday model whatever the method)."""
    window = history[-backtest_days:] if backtest_days else []
    errors = {name: Errors() for name in METHODS}
    holidays = Errors()
    for index, target in enumerate(window, start=len(history) - len(window)):
        before = history[:index]
        try:
            if target.holiday:
                holidays.add(target.counts, _holiday(before, target.day))
                continue
            forecasts = {name: method(before, target.day) for name, method in METHODS.items()}
        except NotEnoughHistory:
            continue
        for name, values in forecasts.items():
            errors[name].add(target.counts, values)
    scored = [(e.wape, i, name) for i, (name, e) in enumerate(errors.items()) if e.wape is not None]
    method = min(scored)[2] if scored else "last_week"
    return Backtest(method=method, days=len(window), errors=errors, holidays=holidays)


@dataclass(frozen=True)
class Forecast:
    day: date
    holiday: bool
    counts: list[float]
    backtest: Backtest


def forecast_day(
    history: Sequence[Day], day: date, *, holiday: bool, backtest_days: int = 28
) -> Forecast:
    """Choose the method on the history, then forecast ``day`` (after the history's end)."""
    chosen = backtest(history, backtest_days=backtest_days)
    counts = predict(chosen.method, history, day, holiday=holiday)
    return Forecast(day=day, holiday=holiday, counts=counts, backtest=chosen)
