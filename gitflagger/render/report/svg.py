"""Small server-side SVG charts: a step line per series, phase bands, threshold lines, marked points.

Written here rather than taken from a charting library: the report needs two
chart shapes, and the libraries that draw them either run in the browser
(a script to inline and keep patched) or pull in a plotting stack (matplotlib:
tens of MB for a few lines). About a hundred lines of SVG, with every point
carrying ``data-*`` attributes, also lets a browser test read the numbers back.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html import escape

WIDTH, HEIGHT = 760, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 28


@dataclass(frozen=True)
class Point:
    time: datetime
    value: float | None
    """``None``: nothing measured, drawn as a cross on the axis."""
    label: str
    failed: bool = False


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[Point]
    css: str = "s0"


@dataclass(frozen=True)
class Band:
    start: datetime
    end: datetime
    phase: str


@dataclass(frozen=True)
class Chart:
    title: str
    series: Sequence[Series]
    y_range: tuple[float, float] | None = None
    bands: Sequence[Band] = ()
    thresholds: Sequence[tuple[str, float]] = field(default_factory=tuple)
    unit: str = ""
    x_range: tuple[datetime, datetime] | None = None
    """Shared by the charts of one rollout, so a step sits at the same x in each."""


def draw(chart: Chart) -> str:
    """The chart as one ``<svg>`` element; every text escaped."""
    times = [p.time for s in chart.series for p in s.points] + [b.end for b in chart.bands]
    times += list(chart.x_range or ())
    t0 = min(times)
    span = max((t - t0).total_seconds() for t in times) or 1.0
    lo, hi = chart.y_range or _y_range(chart)
    ticks = _ticks(lo, hi)
    lo, hi = min(lo, ticks[0]), max(hi, ticks[-1])

    def x(t: datetime) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * (t - t0).total_seconds() / span

    def y(v: float) -> float:
        return TOP + (HEIGHT - TOP - BOTTOM) * (1 - (v - lo) / ((hi - lo) or 1))

    out = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
           f'aria-label="{escape(chart.title)}">']
    for band in chart.bands:
        w = max(x(band.end) - x(band.start), 1.0)
        out.append(f'<rect class="band {_css(band.phase)}" x="{x(band.start):.1f}" y="{TOP}" width="{w:.1f}" '
                   f'height="{HEIGHT - TOP - BOTTOM}"><title>{escape(band.phase)}</title></rect>')
    for tick in ticks:
        at = y(tick)
        out.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{at:.1f}" y2="{at:.1f}"/>'
                   f'<text class="axis" x="{LEFT - 4}" y="{at + 4:.1f}" text-anchor="end">'
                   f"{_num(tick)}</text>")
    out.append(f'<text class="axis" x="{LEFT}" y="{HEIGHT - 8}">{escape(t0.strftime("%H:%M:%S"))}</text>')
    out.append(f'<text class="axis" x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" text-anchor="end">'
               f'+{_duration(span)}</text>')
    for name, value in chart.thresholds:
        at = y(value)
        out.append(f'<line class="threshold" data-threshold="{value:g}" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
                   f'y1="{at:.1f}" y2="{at:.1f}"><title>{escape(name)} {_num(value)}</title></line>')
    for series in chart.series:
        measured = [p for p in series.points if p.value is not None]
        path = _step_path([(x(p.time), y(p.value)) for p in measured if p.value is not None])
        if path:
            out.append(f'<path class="line {series.css}" d="{path}"/>')
        for p in series.points:
            css = f"pt {series.css}{' failed' if p.failed else ''}"
            shown = "" if p.value is None else f"{p.value:g}"
            data = f'data-series="{escape(series.name)}" data-value="{shown}"'
            tip = f"<title>{escape(p.label)}</title>"
            if p.value is None:
                cx, cy = x(p.time), y(lo)
                cross = f"M{cx - 4:.1f},{cy - 4:.1f}l8,8m0,-8l-8,8"
                out.append(f'<path class="{css} none" {data} d="{cross}">{tip}</path>')
            else:
                r = 4.5 if p.failed else 3
                out.append(f'<circle class="{css}" {data} cx="{x(p.time):.1f}" cy="{y(p.value):.1f}" r="{r}">'
                           f"{tip}</circle>")
    out.append("</svg>")
    return "".join(out)


def _y_range(chart: Chart) -> tuple[float, float]:
    values = [p.value for s in chart.series for p in s.points if p.value is not None]
    values += [v for _, v in chart.thresholds]
    if not values:
        return 0.0, 1.0
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.1 or abs(hi) * 0.05 or 1.0
    return lo - pad, hi + pad


def _ticks(lo: float, hi: float) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 × 10ⁿ apart) covering ``lo``…``hi``, about five of them."""
    raw = (hi - lo) / 4 or 1.0
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(lo / step) * step
    count = math.ceil((hi - first) / step - 1e-9)
    return [first + i * step for i in range(count + 1)]


def _step_path(points: Sequence[tuple[float, float]]) -> str:
    """A step line: the value holds until the next point, as a weight does between steps."""
    if not points:
        return ""
    parts = [f"M{points[0][0]:.1f},{points[0][1]:.1f}"]
    for (_, prev_y), (px, py) in itertools.pairwise(points):
        parts.append(f"H{px:.1f}" if py == prev_y else f"H{px:.1f}V{py:.1f}")
    return "".join(parts)


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:.0f}"


def _duration(seconds: float) -> str:
    minutes, sec = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{sec:02d}s"


def _css(phase: str) -> str:
    return "phase-" + "".join(c for c in phase.lower() if c.isalnum())
