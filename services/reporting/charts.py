"""Chart geometry for inline SVG, in the style of slide 24 (pure; templates draw it).

Scores run from 0 to 10 on the vertical axis. Bars are red below `sufficient` (5.5,
insufficient), yellow from there (sufficient, work to do) and green from the `norm` 7 (the
minimum aim); the average of all bars is marked dark yellow and the norm dark green.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

WIDTH = 720.0
PLOT = 180.0
TOP = 16.0
LEFT = 34.0
RIGHT = 12.0
MAX = 10.0


def band_of(value: float, norm: float, sufficient: float) -> str:
    if value >= norm:
        return "green"
    return "yellow" if value >= sufficient else "red"


@dataclass(frozen=True)
class Bar:
    key: str
    label: str
    title: str
    value: float
    band: str
    highlight: bool = False
    link_kind: str = ""  # "municipality" | "chamber" | "" (no drill-down link)


@dataclass(frozen=True)
class PlacedBar:
    bar: Bar
    x: float
    y: float
    width: float
    height: float
    label_x: float


@dataclass(frozen=True)
class Line:
    y: float
    value: float
    label: str
    kind: str  # "average" | "norm" | "sufficient"


@dataclass(frozen=True)
class Tick:
    y: float
    value: float
    label: str = ""

    @property
    def text(self) -> str:
        return self.label or f"{self.value:g}"


@dataclass(frozen=True)
class BarChart:
    title: str
    width: float
    height: float
    plot_left: float
    plot_right: float
    plot_bottom: float
    bars: list[PlacedBar]
    lines: list[Line]
    ticks: list[Tick]
    labelled: bool
    dense: bool = False  # too many bars to label or click: drawn as one path per band
    band_paths: tuple[tuple[str, str], ...] = ()  # band → SVG path of all its bars (dense or print)

    @property
    def values(self) -> list[float]:
        return [p.bar.value for p in self.bars]

    @property
    def highlighted(self) -> list[PlacedBar]:
        return [p for p in self.bars if p.bar.highlight]


DENSE = 60
"""From this many bars on a chart draws each band as one path (a national chart of 342
municipalities stays light in HTML and PDF); the highlighted bar is still drawn on top."""


def _y(value: float, bottom: float) -> float:
    clipped = max(0.0, min(MAX, value))
    return bottom - (bottom - TOP) * clipped / MAX


def _frame(labelled: bool) -> tuple[float, list[Tick]]:
    bottom = TOP + PLOT
    return bottom, [Tick(_y(v, bottom), v) for v in range(0, 11, 2)]


def _height(bottom: float, labelled: bool) -> float:
    return bottom + (110.0 if labelled else 24.0)


def _lines(average: float | None, norm: float, sufficient: float, bottom: float) -> list[Line]:
    lines = [
        Line(_y(sufficient, bottom), sufficient, f"voldoende {sufficient:g}", "sufficient"),
        Line(_y(norm, bottom), norm, f"norm {norm:g}", "norm"),
    ]
    if average is not None:
        lines.append(
            Line(
                _y(average, bottom),
                average,
                f"gemiddelde {average:.2f}".replace(".", ","),
                "average",
            )
        )
    return lines


def bar_chart(
    title: str,
    bars: Sequence[Bar],
    average: float | None,
    norm: float,
    sufficient: float,
) -> BarChart:
    """Bars in the given order across the plot, a label under each when they have one."""
    labelled = any(b.label for b in bars)
    bottom, ticks = _frame(labelled)
    span = WIDTH - LEFT - RIGHT
    step = span / max(1, len(bars))
    gap = min(4.0, step * 0.2)
    placed = []
    width = max(0.5, min(step - gap, 48.0))
    for i, b in enumerate(bars):
        x = LEFT + i * step + (step - width) / 2
        y = _y(b.value, bottom)
        placed.append(PlacedBar(b, x, y, width, bottom - y, x + width / 2))
    dense = len(placed) >= DENSE
    paths: dict[str, list[str]] = {}
    for p in placed:
        paths.setdefault(p.bar.band, []).append(
            f"M{p.x:.2f} {p.y:.2f}h{p.width:.2f}v{p.height:.2f}h{-p.width:.2f}z"
        )
    return BarChart(
        title,
        WIDTH,
        _height(bottom, labelled and not dense),
        LEFT,
        WIDTH - RIGHT,
        bottom,
        placed,
        _lines(average, norm, sufficient, bottom),
        ticks,
        labelled and not dense,
        dense,
        tuple((band, "".join(d)) for band, d in sorted(paths.items())),
    )


@dataclass(frozen=True)
class Histogram:
    title: str
    chart: BarChart
    counts: list[tuple[float, float, int]]  # bin low, bin high, municipalities

    @property
    def total(self) -> int:
        return sum(c for _, _, c in self.counts)


def histogram(
    title: str,
    values: Sequence[float],
    average: float | None,
    norm: float,
    sufficient: float,
    width: float = 0.5,
) -> Histogram:
    """Municipalities per bin of `width` points (bins align with 5.5 and 7); bar heights are
    scaled so the fullest bin reaches 10."""
    bins = int(MAX / width)
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, max(0, int(v / width)))] += 1
    peak = max(counts) if any(counts) else 1
    edges = [(i * width, (i + 1) * width, counts[i]) for i in range(bins)]
    bars = [
        Bar(
            key=f"{low:g}",
            label=f"{low:g}".replace(".", ","),
            title=f"{low:g}–{high:g}: {n} gemeenten".replace(".", ","),
            value=MAX * n / peak,
            band=band_of(low, norm, sufficient),
        )
        for low, high, n in edges
    ]
    chart = bar_chart(title, bars, None, norm, sufficient)
    # The vertical axis counts municipalities; the scores (and the 5.5 and 7 lines) are on the
    # horizontal axis, so the bars' colours carry the bands and no score lines are drawn.
    step = max(1, math.ceil(peak / 5))
    counted = [
        Tick(_y(MAX * k / peak, chart.plot_bottom), MAX * k / peak, str(k))
        for k in range(0, peak + 1, step)
    ]
    chart = replace(chart, ticks=counted, lines=[])
    return Histogram(title, chart, edges)


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str
    value: float


@dataclass(frozen=True)
class Series:
    name: str
    points: list[Point]

    @property
    def path(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


@dataclass(frozen=True)
class LineChart:
    title: str
    width: float
    height: float
    plot_left: float
    plot_right: float
    plot_bottom: float
    series: list[Series]
    lines: list[Line]
    ticks: list[Tick]
    x_labels: list[tuple[float, str]]


def line_chart(
    title: str,
    series: Sequence[tuple[str, Sequence[tuple[str, float | None]]]],
    norm: float,
    sufficient: float,
) -> LineChart:
    """One line per named series over the same x labels (e.g. measurement waves)."""
    bottom, ticks = _frame(False)
    labels: list[str] = []
    for _, points in series:
        for label, _ in points:
            if label not in labels:
                labels.append(label)
    span = WIDTH - LEFT - RIGHT - 40
    step = span / max(1, len(labels) - 1)
    xs = {label: LEFT + 20 + i * step for i, label in enumerate(labels)}
    placed = [
        Series(
            name,
            [Point(xs[lbl], _y(v, bottom), lbl, v) for lbl, v in points if v is not None],
        )
        for name, points in series
    ]
    return LineChart(
        title,
        WIDTH,
        _height(bottom, False),
        LEFT,
        WIDTH - RIGHT,
        bottom,
        placed,
        _lines(None, norm, sufficient, bottom),
        ticks,
        [(xs[lbl], lbl) for lbl in labels],
    )
