"""The geometry of the pages' charts, drawn by their templates as inline SVG (no script, no library).

Used by a campaign's results page (counts) and the admin reputation page (rates,
with the guardrail thresholds drawn as guide lines).

Coordinates are in the SVG's own units (its ``viewBox``); the page scales it.
Every chart has a table beside it with the same numbers, for screen readers
and for reading exact values.
"""

from dataclasses import dataclass, field
from datetime import datetime

WIDTH = 720
LINE_HEIGHT = 240
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 48, 12, 12, 28
RATE_MARGIN_LEFT = 88  # room for "10.0 %" in labels large enough to read when the chart is drawn small
BAR_ROW = 26
BAR_LABEL = 180  # room for the domain name, left of its bar
X_TICKS = 6
DOTS_UP_TO = 48  # points per line that are marked (a single point draws no line)


@dataclass(frozen=True)
class Line:
    key: str
    points: str  # "x,y x,y …", for <polyline points>
    dots: list[tuple[float, float]] = field(default_factory=list)  # a mark per point, when there are few


@dataclass(frozen=True)
class Tick:
    position: float
    value: int | float | datetime


@dataclass(frozen=True)
class Guide:
    """A horizontal reference line across the plot (a threshold), at ``value`` on the y axis."""

    key: str
    position: float
    value: float


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    lines: list[Line] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    guides: list[Guide] = field(default_factory=list)


@dataclass(frozen=True)
class Segment:
    key: str
    x: float
    width: float
    value: int


@dataclass(frozen=True)
class BarRow:
    label: str
    y: int
    segments: list[Segment]
    total: int


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    label_width: int
    row_height: int
    rows: list[BarRow]


def nice_ceiling(value: int) -> int:
    """The axis maximum: ``value`` rounded up to 1, 2 or 5 times a power of ten (at least 1)."""
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            if value <= step * magnitude:
                return step * magnitude
        magnitude *= 10


def nice_fraction_ceiling(value: float) -> float:
    """A rate axis maximum: ``value`` rounded up to 1, 2 or 5 times a power of ten (at least 0.001, 0.1 %)."""
    magnitude = 0.001
    while True:
        for step in (1, 2, 5):
            if value <= round(step * magnitude, 10):
                return round(step * magnitude, 10)
        magnitude *= 10


def line_chart(starts: list[datetime], series: dict[str, list[int]]) -> LineChart | None:
    """Lines over time, one per key of ``series`` (its values in the order of ``starts``); None with no point."""
    peak = nice_ceiling(max((v for values in series.values() for v in values), default=0))
    return _lines(starts, series, peak=peak, y_values=[v for v in (0, peak // 2, peak) if v or peak == 1])


def rate_chart(
    starts: list[datetime], series: dict[str, list[float]], guides: dict[str, float] | None = None
) -> LineChart | None:
    """Rates (fractions) over time, with horizontal ``guides`` (thresholds); the axis always shows every guide."""
    guides = guides or {}
    highest = max([v for values in series.values() for v in values] + list(guides.values()), default=0.0)
    peak = nice_fraction_ceiling(highest)
    chart = _lines(starts, series, peak=peak, y_values=[0.0, peak / 2, peak], left=RATE_MARGIN_LEFT)
    if chart is None:
        return None
    plot = chart.bottom - chart.top
    drawn = [Guide(key=key, position=round(chart.bottom - plot * value / peak, 1), value=value)
             for key, value in guides.items()]  # fmt: skip
    return LineChart(**{**chart.__dict__, "guides": drawn})


def _lines(
    starts: list[datetime], series: dict, *, peak: float, y_values: list, left: int = MARGIN_LEFT
) -> LineChart | None:
    if not starts:
        return None
    right = WIDTH - MARGIN_RIGHT
    top, bottom = MARGIN_TOP, LINE_HEIGHT - MARGIN_BOTTOM
    steps = max(len(starts) - 1, 1)

    def x(i: int) -> float:
        return round(left + (right - left) * i / steps, 1) if len(starts) > 1 else (left + right) / 2

    def y(value: float) -> float:
        return round(bottom - (bottom - top) * max(value, 0) / peak, 1)

    lines = []
    for key, values in series.items():
        coordinates = [(x(i), y(v)) for i, v in enumerate(values)]
        lines.append(
            Line(
                key=key,
                points=" ".join(f"{cx},{cy}" for cx, cy in coordinates),
                dots=coordinates if len(coordinates) <= DOTS_UP_TO else [],
            )
        )
    every = max(1, -(-len(starts) // X_TICKS))  # at most X_TICKS labels, evenly spaced
    return LineChart(
        width=WIDTH, height=LINE_HEIGHT, left=left, right=right, top=top, bottom=bottom, lines=lines,
        y_ticks=[Tick(position=y(v), value=v) for v in y_values],
        x_ticks=[Tick(position=x(i), value=starts[i]) for i in range(0, len(starts), every)],
    )  # fmt: skip


def bar_chart(rows: list[tuple[str, dict[str, int]]]) -> BarChart | None:
    """Horizontal stacked bars, one per ``(label, {key: value})``, on one scale; None with no row."""
    if not rows:
        return None
    peak = max(sum(values.values()) for _, values in rows) or 1
    room = WIDTH - BAR_LABEL - MARGIN_RIGHT
    drawn = []
    for index, (label, values) in enumerate(rows):
        x, segments = float(BAR_LABEL), []
        for key, value in values.items():
            width = round(room * value / peak, 1)
            if width > 0:
                segments.append(Segment(key=key, x=round(x, 1), width=width, value=value))
            x += width
        drawn.append(BarRow(label=label, y=index * BAR_ROW, segments=segments, total=sum(values.values())))
    return BarChart(width=WIDTH, height=len(rows) * BAR_ROW, label_width=BAR_LABEL, row_height=BAR_ROW, rows=drawn)


def progress_segments(parts: list[tuple[str, int]], whole: int) -> list[Segment]:
    """The progress bar's coloured parts, left to right, on a 0-1000 scale of ``whole``."""
    x, segments = 0.0, []
    for key, value in parts:
        width = round(1000 * value / whole, 1) if whole else 0
        if width > 0:
            segments.append(Segment(key=key, x=round(x, 1), width=width, value=value))
        x += width
    return segments
