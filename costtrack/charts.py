"""Server-rendered SVG charts: no JavaScript, no CDN, readable by screen readers.

Each chart is an inline ``<svg role="img">`` with a ``<title>``, a ``<desc>`` and an
``aria-label`` summing it up, plus the figures as a table (``templates/reports/_chart.html``
renders both), so the numbers are there for anyone who cannot see the drawing. Every piece
of text goes through ``escape``.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import count

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from costtrack.core.money import round_money

_ids = count(1)
ZERO = Decimal(0)
COLOURS = ("#1f6feb", "#2f9e44", "#e8a317", "#845ef7", "#d63939", "#0c8599")
POSITIVE, NEGATIVE = "#2f9e44", "#d63939"


def format_money(value: Decimal, currency: str) -> str:
    """``1234.5`` USD → ``1,234.50``."""
    return f"{round_money(value, currency):,}"


@dataclass
class Chart:
    """A rendered chart and the figures behind it (for the data table)."""

    title: str
    currency: str
    labels: list[str]
    values: list[Decimal]
    svg: SafeString = SafeString("")
    dom_id: str = ""
    rows: list[tuple[str, str]] = field(default_factory=list)

    @property
    def total(self) -> str:
        return format_money(sum(self.values, ZERO), self.currency)

    @property
    def empty(self) -> bool:
        return not any(self.values)


def _chart(title: str, labels: Sequence[str], values: Sequence[Decimal], currency: str) -> Chart:
    chart = Chart(
        title=title, currency=currency, labels=[str(x) for x in labels], values=list(values)
    )
    chart.dom_id = f"chart-{next(_ids)}"
    chart.rows = [
        (lbl, format_money(v, currency)) for lbl, v in zip(chart.labels, chart.values, strict=True)
    ]
    return chart


def _summary(chart: Chart) -> str:
    if not chart.values:
        return f"{chart.title}: no data."
    top = max(range(len(chart.values)), key=lambda i: chart.values[i])
    return (
        f"{chart.title}: {len(chart.values)} values, total {chart.total} {chart.currency}; "
        f"highest {chart.labels[top]} at {chart.rows[top][1]} {chart.currency}."
    )


def _open_svg(chart: Chart, width: int, height: int) -> list[SafeString]:
    summary = _summary(chart)
    return [
        format_html(
            '<svg xmlns="http://www.w3.org/2000/svg" class="chart-svg" id="{id}" '
            'viewBox="0 0 {w} {h}" width="100%" role="img" aria-label="{summary}" '
            'aria-describedby="{id}-desc" preserveAspectRatio="xMinYMin meet">'
            '<title>{title}</title><desc id="{id}-desc">{summary}</desc>',
            id=chart.dom_id,
            w=width,
            h=height,
            summary=summary,
            title=chart.title,
        )
    ]


def _close_svg(parts: list[SafeString]) -> SafeString:
    parts.append(SafeString("</svg>"))
    return format_html_join("", "{}", ((p,) for p in parts))


def _n(value: float) -> str:
    return f"{value:.1f}"


def _axis(x1: float, x2: float, y: float, colour: str) -> SafeString:
    return format_html(
        '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="{}" stroke-width="1"/>',
        _n(x1), _n(x2), _n(y), _n(y), colour,
    )  # fmt: skip


def _scale(values: Sequence[Decimal]) -> tuple[float, float]:
    low = float(min([ZERO, *values]))
    high = float(max([ZERO, *values]))
    if high == low:
        high = low + 1
    return low, high


def column_chart(
    *, title: str, labels: Sequence[str], values: Sequence[Decimal], currency: str
) -> Chart:
    """Vertical bars, one per label (e.g. twelve months), with the axis at zero."""
    chart = _chart(title, labels, values, currency)
    width, height, top, bottom, left = 720, 240, 16, 40, 8
    plot = height - top - bottom
    low, high = _scale(chart.values)
    span = high - low
    zero_y = top + plot * high / span
    slot = (width - 2 * left) / max(len(chart.values), 1)
    parts = _open_svg(chart, width, height)
    for i, (label, value) in enumerate(zip(chart.labels, chart.values, strict=True)):
        v = float(value)
        bar_h = abs(v) / span * plot
        y = zero_y - bar_h if v >= 0 else zero_y
        x = left + i * slot + slot * 0.15
        parts.append(
            format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}</title></rect>'
                '<text x="{}" y="{}" font-size="11" text-anchor="middle" fill="#5b6878">{}</text>',
                _n(x), _n(y), _n(slot * 0.7), _n(bar_h), COLOURS[0],
                f"{label}: {chart.rows[i][1]} {currency}",
                _n(x + slot * 0.35), height - bottom + 16, label,
            )
        )  # fmt: skip
    parts.append(_axis(left, width - left, zero_y, "#5b6878"))
    chart.svg = _close_svg(parts)
    return chart


def bar_chart(
    *,
    title: str,
    labels: Sequence[str],
    values: Sequence[Decimal],
    currency: str,
    colour_by_sign: bool = False,
) -> Chart:
    """Horizontal bars with their labels and figures, largest first as given.

    ``colour_by_sign`` draws positive bars green and negative ones red (margins), instead
    of one colour per bar."""
    chart = _chart(title, labels, values, currency)
    width, row_h, label_w, value_w = 720, 26, 220, 130
    height = max(row_h * len(chart.values), row_h) + 8
    low, high = _scale(chart.values)
    span = high - low
    plot = width - label_w - value_w
    zero_x = label_w + plot * (-low) / span
    parts = _open_svg(chart, width, height)
    for i, (label, value) in enumerate(zip(chart.labels, chart.values, strict=True)):
        v = float(value)
        bar_w = abs(v) / span * plot
        x = zero_x if v >= 0 else zero_x - bar_w
        y = 4 + i * row_h
        short = label if len(label) <= 30 else label[:29] + "…"
        parts.append(
            format_html(
                '<text x="{}" y="{}" font-size="12" text-anchor="end" fill="#1d2733">{}</text>'
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}</title></rect>'
                '<text x="{}" y="{}" font-size="12" fill="#1d2733">{}</text>',
                label_w - 8, _n(y + row_h * 0.65), short,
                _n(x), y + 3, _n(bar_w), row_h - 8,
                (POSITIVE if v >= 0 else NEGATIVE) if colour_by_sign else COLOURS[i % len(COLOURS)],
                f"{label}: {chart.rows[i][1]} {currency}",
                width - value_w + 8, _n(y + row_h * 0.65), chart.rows[i][1],
            )
        )  # fmt: skip
    chart.svg = _close_svg(parts)
    return chart


def line_chart(
    *, title: str, labels: Sequence[str], values: Sequence[Decimal], currency: str
) -> Chart:
    """A line through the values with a dot (and tooltip) at each point."""
    chart = _chart(title, labels, values, currency)
    width, height, top, bottom, left = 720, 240, 16, 40, 24
    plot_h, plot_w = height - top - bottom, width - 2 * left
    low, high = _scale(chart.values)
    span = high - low
    n = max(len(chart.values) - 1, 1)
    points = [
        (left + plot_w * i / n, top + plot_h * (high - float(v)) / span)
        for i, v in enumerate(chart.values)
    ]
    parts = _open_svg(chart, width, height)
    zero_y = top + plot_h * high / span
    parts.append(_axis(left, width - left, zero_y, "#d9dee5"))
    if points:
        path = " ".join(f"{_n(x)},{_n(y)}" for x, y in points)
        parts.append(
            format_html(
                '<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>',
                path,
                COLOURS[0],
            )
        )
    for i, (x, y) in enumerate(points):
        parts.append(
            format_html(
                '<circle cx="{}" cy="{}" r="4" fill="{}"><title>{}</title></circle>'
                '<text x="{}" y="{}" font-size="11" text-anchor="middle" fill="#5b6878">{}</text>',
                _n(x), _n(y), COLOURS[0], f"{chart.labels[i]}: {chart.rows[i][1]} {currency}",
                _n(x), height - bottom + 16, chart.labels[i],
            )
        )  # fmt: skip
    chart.svg = _close_svg(parts)
    return chart
