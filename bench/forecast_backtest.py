"""Backtest the contact forecast on a generated year (docs/analytics.md, "Forecast and staffing").

Generates a history with known weekly and daily patterns and Norway's public holidays
(teamline.analytics.synthetic), then predicts every day after the first ten weeks from the days
before it, with each method and with the method the backtest would choose that day. Prints
WAPE and MAPE per 15-minute interval for each, for the holidays apart, and for the true rate
(the floor: the Poisson noise alone), plus the CPU time of one forecast. No database.

    .venv/bin/python bench/forecast_backtest.py [--days 400] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date
from pathlib import Path

import holidays

from teamline.analytics import synthetic
from teamline.analytics.forecast import METHODS, Errors, NotEnoughHistory, backtest, predict

START = date(2025, 12, 1)
WARM_UP_DAYS = 70


def _figures(errors: Errors) -> dict[str, float | int | None]:
    return {
        "days": errors.days,
        "wape": None if errors.wape is None else round(errors.wape, 4),
        "mape": None if errors.mape is None else round(errors.mape, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=400)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    norway = holidays.country_holidays("NO", years=range(START.year, START.year + 3))
    history = synthetic.history(START, args.days, holidays=norway.keys())

    per_method = {name: Errors() for name in METHODS}
    chosen, floor, holiday_errors, holiday_floor = Errors(), Errors(), Errors(), Errors()
    picks: dict[str, int] = {}
    cpu = []
    for index in range(WARM_UP_DAYS, len(history)):
        target, before = history[index], history[:index]
        truth = synthetic.rate(target.day, start=START, holiday=target.holiday)
        try:
            if target.holiday:
                holiday_errors.add(
                    target.counts, predict("level_shape", before, target.day, holiday=True)
                )
                holiday_floor.add(target.counts, truth)
                continue
            for name in METHODS:
                per_method[name].add(
                    target.counts, predict(name, before, target.day, holiday=False)
                )
            started = time.process_time()
            method = backtest(before).method
            forecast = predict(method, before, target.day, holiday=False)
            cpu.append(time.process_time() - started)
        except NotEnoughHistory:
            continue
        picks[method] = picks.get(method, 0) + 1
        chosen.add(target.counts, forecast)
        floor.add(target.counts, truth)

    report = {
        "benchmark": "forecast_backtest",
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "history_days": len(history),
        "backtested_days": chosen.days + holiday_errors.days,
        "chosen": _figures(chosen),
        "chosen_methods": picks,
        "methods": {name: _figures(e) for name, e in per_method.items()},
        "true_rate_floor": _figures(floor),
        "holidays": _figures(holiday_errors),
        "holidays_true_rate_floor": _figures(holiday_floor),
        "cpu_ms_per_forecast_with_backtest_median": round(sorted(cpu)[len(cpu) // 2] * 1000, 1),
    }
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
