"""The contact forecast, backtested on a generated year whose true rates are known.

The best any forecast can do on Poisson counts is to predict the true rate: its error is the
noise alone. The chosen method must come close to that, beat the seasonal naive method, and
forecast holidays from past holidays rather than from their weekday.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import holidays
import pytest

from teamline.analytics import synthetic
from teamline.analytics.forecast import (
    SLOTS,
    Day,
    Errors,
    NotEnoughHistory,
    backtest,
    forecast_day,
    predict,
)

START = date(2025, 12, 1)
NORWAY = holidays.country_holidays("NO", years=[2025, 2026, 2027])


def year(days: int = 365) -> list[Day]:
    return synthetic.history(START, days, holidays=NORWAY.keys())


def oracle(days: list[Day]) -> Errors:
    """The errors of predicting each day's true rate."""
    errors = Errors()
    for d in days:
        errors.add(d.counts, synthetic.rate(d.day, start=START, holiday=d.holiday))
    return errors


def test_the_chosen_method_comes_within_a_tenth_of_the_noise_over_eight_weeks() -> None:
    history = year()
    result = backtest(history, backtest_days=56)
    ordinary = [d for d in history[-56:] if not d.holiday]
    best = oracle(ordinary)

    assert result.chosen.days == len(ordinary)
    assert result.method == "level_shape"
    assert result.chosen.wape is not None and best.wape is not None
    assert result.chosen.wape <= best.wape * 1.10
    # Seasonal naive carries last week's noise into this week: clearly worse.
    naive = result.errors["last_week"].wape
    assert naive is not None and naive > result.chosen.wape * 1.2
    # MAPE, dominated by the quiet night slots, is close to the noise's too.
    assert result.chosen.mape is not None and best.mape is not None
    assert result.chosen.mape <= best.mape * 1.10


def test_a_holiday_is_forecast_from_past_holidays_not_from_its_weekday() -> None:
    history = year(365 + 160)  # to mid-May 2027: Christmas, Easter, 1 and 17 May behind it
    day = date(2027, 5, 17)  # Constitution Day, a Monday
    assert day in NORWAY and day.weekday() == 0
    before = [d for d in history if d.day < day]

    as_holiday = predict("level_shape", before, day, holiday=True)
    as_monday = predict("level_shape", before, day, holiday=False)
    truth = synthetic.rate(day, start=START, holiday=True)

    assert math.fsum(as_monday) > 3 * math.fsum(truth)
    assert math.fsum(as_holiday) == pytest.approx(math.fsum(truth), rel=0.15)
    # Its shape is the holidays' (a midday plateau), not a working day's morning peak.
    assert max(range(SLOTS), key=lambda s: as_holiday[s]) in range(11 * 4, 15 * 4)


def test_holidays_in_the_backtest_window_are_scored_apart() -> None:
    history = year(365 + 30)  # December 2026: Christmas inside the last 28 days
    result = backtest(history, backtest_days=28)
    assert result.holidays.days >= 2
    scored = [d for d in history[-28:] if d.holiday]
    assert result.holidays.wape is not None
    assert result.holidays.wape <= (oracle(scored).wape or 0) * 1.5


def test_a_forecast_names_its_method_and_error() -> None:
    history = year(120)
    day = history[-1].day + timedelta(days=1)
    result = forecast_day(history, day, holiday=False)
    assert len(result.counts) == SLOTS
    assert result.backtest.method in ("last_week", "mean_4_weeks", "level_shape")
    assert all(c >= 0 for c in result.counts)
    truth = synthetic.rate(day, start=START, holiday=False)
    assert math.fsum(result.counts) == pytest.approx(math.fsum(truth), rel=0.05)


def test_without_a_past_same_weekday_there_is_no_forecast() -> None:
    history = year(5)
    with pytest.raises(NotEnoughHistory):
        predict("mean_4_weeks", history, history[-1].day + timedelta(days=2), holiday=False)


@pytest.mark.parametrize("counts", [(1.0,) * 95, (-1.0,) + (0.0,) * 95, (math.nan,) * 96])
def test_a_day_refuses_counts_that_are_not_96_finite_non_negative_numbers(counts) -> None:
    with pytest.raises(ValueError):
        Day(day=START, counts=counts)
