"""Bar charts for the Reports page, drawn on the server as SVG (no chart library, nothing run
in the browser, no style attribute: the colours and hatching are classes of desk.css).

A chart is a picture of the table printed under it: the SVG is `aria-hidden` and the table is
what assistive technology reads. Series differ by fill pattern (solid, hatched, outlined) and
are named in a legend, so no figure is told by colour alone. This module only lays out
geometry; the template writes the elements (autoescaped).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

WIDTH = 720
HEIGHT = 260
LEFT = 56
RIGHT = 12
TOP = 12
BOTTOM = 44
MAX_LABELS = 12


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class XLabel:
    x: float
    label: str


@dataclass
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    plot_right: int = WIDTH - RIGHT
    plot_bottom: int = HEIGHT - BOTTOM
    bars: list[Bar] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    labels: list[XLabel] = field(default_factory=list)


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10ⁿ at least `value` (1 for nothing)."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def bar_chart(
    labels: list[str],
    series: list[list[float | None]],
    *,
    top: float | None = None,
    tick_format: str = "{:g}",
) -> Chart:
    """Grouped bars: one group per label, one bar per series (None draws nothing). The y axis
    runs from 0 to `top` (default: a round number above the largest value) with 5 ticks."""
    chart = Chart()
    plot_w = chart.plot_right - chart.left
    plot_h = chart.plot_bottom - chart.top
    values = [v for row in series for v in row if v is not None]
    ceiling = top if top is not None else nice_ceiling(max(values, default=0))
    for step in range(5):
        tick = ceiling * step / 4
        y = chart.plot_bottom - plot_h * step / 4
        chart.ticks.append(Tick(y=round(y, 1), label=tick_format.format(tick)))
    groups = max(len(labels), 1)
    group_w = plot_w / groups
    bar_w = group_w * 0.8 / max(len(series), 1)
    every = math.ceil(len(labels) / MAX_LABELS) if labels else 1
    for index, label in enumerate(labels):
        x0 = chart.left + group_w * index + group_w * 0.1
        for number, row in enumerate(series):
            value = row[index]
            if value is None:
                continue
            height = plot_h * min(max(value, 0) / ceiling, 1)
            chart.bars.append(
                Bar(
                    x=round(x0 + bar_w * number, 1),
                    y=round(chart.plot_bottom - height, 1),
                    width=round(max(bar_w - 1, 1), 1),
                    height=round(height, 1),
                    series=number,
                )
            )
        if index % every == 0:
            chart.labels.append(XLabel(x=round(x0 + group_w * 0.4, 1), label=label))
    return chart
