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
LABEL_SIZE = 10.0  # px: every text of a chart (bar labels excepted) — set on the <svg> itself
LABEL_CHAR = 6.2  # px: a generous average character width of DejaVu Sans at LABEL_SIZE


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
    label_x: float = 0.0  # where the label is anchored
    anchor: str = "start"  # its text-anchor: the average's label starts at the left of the
    # plot, the norm's and the threshold's end at its right, so they do not cover each other
    below: bool = False  # the label goes under the line (another line runs just above it)

    @property
    def label_y(self) -> float:
        return self.y + LABEL_SIZE + 1 if self.below else self.y - 3

    @property
    def label_box(self) -> tuple[float, float, float, float]:
        """x, y, width, height of a pale box behind the label: the label stays legible where
        it crosses the bars (its width estimated from the number of characters)."""
        width = LABEL_CHAR * len(self.label) + 4
        x = self.label_x - 2 if self.anchor == "start" else self.label_x - width + 2
        return x, self.label_y - LABEL_SIZE, width, LABEL_SIZE + 3


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
    def label_size(self) -> float:
        return bar_label_size(len(self.bars))

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
    """At least this much height: room for the labels under the bars, or for none."""
    return bottom + (110.0 if labelled else 24.0)


def _lines(average: float | None, norm: float, sufficient: float, bottom: float) -> list[Line]:
    right = WIDTH - RIGHT - 2
    lines = [
        Line(
            _y(sufficient, bottom),
            sufficient,
            f"voldoende {_dutch(sufficient)}",
            "sufficient",
            right,
            "end",
        ),
        Line(_y(norm, bottom), norm, f"norm {_dutch(norm)}", "norm", right, "end"),
    ]
    if average is not None:
        label = f"gemiddelde {average:.2f}".replace(".", ",")
        lines.append(Line(_y(average, bottom), average, label, "average", LEFT + 4))

    # A label sits just above its line, or just below it when another line runs through
    # that place (and not through the place below).
    def crossed(line: Line, top: float, bottom: float) -> bool:
        return any(top < other.y < bottom for other in lines if other is not line)

    return [
        replace(line, below=True)
        if crossed(line, line.y - LABEL_SIZE - 4, line.y)
        and not crossed(line, line.y, line.y + LABEL_SIZE + 4)
        else line
        for line in lines
    ]


def _dutch(value: float) -> str:
    return f"{value:g}".replace(".", ",")


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
    labelled = labelled and not dense
    chart_width, height = WIDTH, _height(bottom, False)
    if labelled:
        # Room for the labels, which run down to the right at 60°: below the plot, and past
        # its right edge for the last bars' long names.
        size = bar_label_size(len(placed))
        lengths = [LABEL_CHAR / LABEL_SIZE * size * len(p.bar.label) for p in placed]
        right = max(p.label_x + 0.5 * length for p, length in zip(placed, lengths, strict=True))
        chart_width = max(WIDTH, math.ceil(right + 4))
        height = max(_height(bottom, True), math.ceil(bottom + 10 + 0.87 * max(lengths)))
    return BarChart(
        title,
        chart_width,
        height,
        LEFT,
        WIDTH - RIGHT,
        bottom,
        placed,
        _lines(average, norm, sufficient, bottom),
        ticks,
        labelled,
        dense,
        tuple((band, "".join(d)) for band, d in sorted(paths.items())),
    )


def bar_label_size(bars: int) -> float:
    """px: the labels under the bars of a chart of this many bars."""
    return 9.0 if bars < 40 else 6.0


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
