"""A generated history of contacts with known weekly and daily patterns and holidays.

The forecast's backtest (tests/analytics/test_forecast.py, bench/forecast_backtest.py) and the
demo's staffing page use it. The true rate of every slot is known (:func:`rate`), so a test can
compare a forecast with the best any method could do: predicting the rate itself, whose error
is the Poisson noise alone.

The pattern: a weekday level (Monday busiest, Sunday a third of it), an intraday shape with a
morning and an early-afternoon peak and quiet nights, a slow growth over the year, and holidays
at a quarter of their weekday's level with a flatter midday shape. Counts are Poisson draws
from a seeded generator, so a history is the same on every machine.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from datetime import date, timedelta

from .forecast import SLOTS, Day

# Contacts per day at the start of the history, Monday first.
WEEKDAY_LEVELS = (1500.0, 1350.0, 1300.0, 1250.0, 1150.0, 650.0, 500.0)
HOLIDAY_FACTOR = 0.25
GROWTH_PER_YEAR = 0.10


def _bump(slot: int, centre_hour: float, width_hours: float) -> float:
    hours = slot / 4 + 0.125
    return math.exp(-(((hours - centre_hour) / width_hours) ** 2) / 2)


def _normalised(weights: list[float]) -> tuple[float, ...]:
    total = math.fsum(weights)
    return tuple(w / total for w in weights)


ORDINARY_SHAPE = _normalised(
    [
        0.02 + _bump(s, 10.0, 1.6) + 0.8 * _bump(s, 14.0, 1.8) + 0.3 * _bump(s, 19.5, 1.5)
        for s in range(SLOTS)
    ]
)
HOLIDAY_SHAPE = _normalised([0.02 + _bump(s, 13.0, 3.0) for s in range(SLOTS)])


def rate(day: date, *, start: date, holiday: bool) -> list[float]:
    """The true expected contacts of each slot of ``day``."""
    growth = 1 + GROWTH_PER_YEAR * (day - start).days / 365
    level = WEEKDAY_LEVELS[day.weekday()] * growth
    if holiday:
        return [level * HOLIDAY_FACTOR * s for s in HOLIDAY_SHAPE]
    return [level * s for s in ORDINARY_SHAPE]


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw: Knuth's product of uniforms below 30, the normal approximation above."""
    if mean <= 0:
        return 0
    if mean >= 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, product, count = math.exp(-mean), rng.random(), 0
    while product > limit:
        product *= rng.random()
        count += 1
    return count


def history(
    start: date, days: int, *, holidays: Iterable[date] = (), seed: int = 2026
) -> list[Day]:
    """``days`` generated days from ``start``; ``holidays`` are served as holidays."""
    rng = random.Random(seed)
    holiday_set = set(holidays)
    result = []
    for n in range(days):
        day = start + timedelta(days=n)
        is_holiday = day in holiday_set
        counts = tuple(float(poisson(rng, r)) for r in rate(day, start=start, holiday=is_holiday))
        result.append(Day(day=day, counts=counts, holiday=is_holiday))
    return result
