"""Bar charts as inline SVG, drawn on the server: no script, no chart
library, no style attributes (the CSP forbids them). Colours come from
classes in static/console/insight.css; every label is escaped.

A chart is never the only way to read a figure: `BarChart` keeps its
categories and series so the template renders the same numbers as a table.
"""

import math
from dataclasses import dataclass

from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.safestring import mark_safe

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 36, 44
LABEL_CHARS = 16


@dataclass(frozen=True)
class Series:
    name: str
    values: tuple
    css: str  # a class from insight.css: series-0 .. series-3


@dataclass(frozen=True)
class BarChart:
    chart_id: str
    title: str
    categories: tuple
    series: tuple
    svg: str

    @property
    def rows(self):
        """(category, [value per series]) for the data table."""
        return [(category, [s.values[i] for s in self.series]) for i, category in enumerate(self.categories)]


def _nice_max(value):
    """The smallest 1, 2, 2.5 or 5 times a power of ten that is >= value (at
    least 2, so that counts get whole-number ticks at 0, half and top)."""
    if value <= 2:
        return 2
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def _short(label):
    label = str(label)
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def _number(value):
    return number_format(value, decimal_pos=0 if float(value).is_integer() else 1)


def bar_chart(*, chart_id, title, categories, series):
    """Grouped vertical bars: one group per category, one bar per series."""
    categories, series = tuple(categories), tuple(series)
    top = _nice_max(max((v for s in series for v in s.values), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    group_w = plot_w / max(len(categories), 1)
    bar_w = max(group_w * 0.8 / max(len(series), 1), 1)
    base = TOP + plot_h

    parts = [format_html('<title id="{}-title">{}</title>', chart_id, title)]
    for fraction in (0, 0.5, 1):  # grid lines and axis labels
        y = base - fraction * plot_h
        parts.append(format_html(
            '<line class="chart-grid" x1="{}" x2="{}" y1="{}" y2="{}" stroke="#c8c8d0"/>'
            '<text class="chart-axis" x="{}" y="{}" text-anchor="end">{}</text>',
            LEFT, WIDTH - RIGHT, f"{y:.1f}", f"{y:.1f}", LEFT - 6, f"{y + 4:.1f}", _number(top * fraction),
        ))
    for i, category in enumerate(categories):
        x0 = LEFT + i * group_w + group_w * 0.1
        for j, s in enumerate(series):
            value = s.values[i]
            h = plot_h * value / top
            x = x0 + j * bar_w
            parts.append(format_html(
                '<rect class="bar {}" x="{}" y="{}" width="{}" height="{}"/>',
                s.css, f"{x:.1f}", f"{base - h:.1f}", f"{max(bar_w - 2, 1):.1f}", f"{h:.1f}",
            ))
            if value:
                parts.append(format_html(
                    '<text class="chart-value" x="{}" y="{}" text-anchor="middle">{}</text>',
                    f"{x + bar_w / 2 - 1:.1f}", f"{base - h - 3:.1f}", _number(value),
                ))
        parts.append(format_html(
            '<text class="chart-label" x="{}" y="{}" text-anchor="middle">{}</text>',
            f"{LEFT + (i + 0.5) * group_w:.1f}", base + 18, _short(category),
        ))
    x = LEFT
    for s in series:  # legend: colour and name (the table repeats it in words)
        parts.append(format_html(
            '<rect class="bar {}" x="{}" y="8" width="12" height="12"/>'
            '<text class="chart-legend" x="{}" y="18">{}</text>',
            s.css, x, x + 16, s.name,
        ))
        x += 24 + 8 * len(str(s.name))
    svg = format_html(
        '<svg class="chart" role="img" aria-labelledby="{}-title" viewBox="0 0 {} {}" width="{}" height="{}" '
        'xmlns="http://www.w3.org/2000/svg" focusable="false">{}</svg>',
        chart_id, WIDTH, HEIGHT, WIDTH, HEIGHT, mark_safe("".join(parts)),  # parts are built by format_html
    )
    return BarChart(chart_id=chart_id, title=str(title), categories=categories, series=series, svg=svg)

