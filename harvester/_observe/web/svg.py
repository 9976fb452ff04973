"""Plots drawn on the server as inline SVG: no script, no CDN, readable offline and on a phone.

Three shapes cover the dashboard: stacked bars (runs per hour by status), lines (durations,
rate budget, archive growth) and horizontal gauges (token lifetimes). Pure functions from
numbers to SVG text; every label is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

WIDTH = 720
HEIGHT = 200
LEFT, RIGHT, TOP, BOTTOM = 52, 10, 14, 28

STATUS_COLOURS = {
    "success": "#2e9e5b",
    "failed": "#d64545",
    "forbidden": "#e58a2c",
    "not_found": "#b8860b",
    "maintenance": "#5a7bd8",
    "skipped": "#9aa0a6",
    "interrupted": "#8e5bd8",
}
LINE_COLOURS = ("#2a6fdb", "#d64545", "#2e9e5b", "#e58a2c", "#8e5bd8", "#00897b")


def _scale_max(value: float) -> float:
    """A round upper bound for an axis (1, 2, 5 × 10^n)."""
    if value <= 0:
        return 1.0
    step = 1.0
    while step * 10 <= value:
        step *= 10
    while step > value * 10:
        step /= 10
    for factor in (1, 2, 5, 10):
        if step * factor >= value:
            return step * factor
    return step * 10


def _number(value: float) -> str:
    if abs(value) >= 1_000_000_000:
        return f"{value / 1e9:.3g}G"
    if abs(value) >= 1_000_000:
        return f"{value / 1e6:.3g}M"
    if abs(value) >= 1000:
        return f"{value / 1000:.3g}k"
    return f"{value:.3g}"


def _frame(title: str, top: float, x_labels: Sequence[str], body: list[str], unit: str) -> str:
    """The axes, grid, ticks and title around a plot's shapes."""
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="plot" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" preserveAspectRatio="xMidYMid meet">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(5):
        y = TOP + plot_h * i / 4
        value = top * (4 - i) / 4
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" class="grid"/>'
        )
        parts.append(
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(_number(value))}{escape(unit)}</text>"
        )
    if x_labels:
        count = len(x_labels)
        every = max(1, count // 6)
        for i in range(0, count, every):
            x = LEFT + plot_w * (i + 0.5) / count
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="middle">'
                f"{escape(x_labels[i])}</text>"
            )
    parts.extend(body)
    parts.append("</svg>")
    return "".join(parts)


def stacked_bars(
    title: str, x_labels: Sequence[str], stacks: Mapping[str, Sequence[int]], unit: str = ""
) -> str:
    """One bar per x label, stacked by series (e.g. status), coloured by STATUS_COLOURS."""
    count = len(x_labels)
    totals = [sum(series[i] for series in stacks.values()) for i in range(count)]
    top = _scale_max(max(totals, default=0))
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    bar_w = plot_w / max(count, 1)
    body: list[str] = []
    for i in range(count):
        base = 0.0
        for name, series in stacks.items():
            value = series[i]
            if not value:
                continue
            h = plot_h * value / top
            y = TOP + plot_h - plot_h * base / top - h
            colour = STATUS_COLOURS.get(name, "#607d8b")
            body.append(
                f'<rect x="{LEFT + i * bar_w:.2f}" y="{y:.2f}" width="{max(bar_w - 0.6, 0.6):.2f}"'
                f' height="{h:.2f}" fill="{colour}"><title>{escape(x_labels[i])}: {value} '
                f"{escape(name)}</title></rect>"
            )
            base += value
    return _frame(title, top, x_labels, body, unit)


def lines(
    title: str,
    x_labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    unit: str = "",
    floor: float | None = None,
) -> str:
    """One polyline per series over shared x labels; None leaves a gap. `floor` draws a dashed
    reference line (e.g. the rate limit)."""
    count = len(x_labels)
    values = [v for s in series.values() for v in s if v is not None]
    top = _scale_max(max([*values, floor or 0], default=0))
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    body: list[str] = []

    def point(i: int, v: float) -> str:
        x = LEFT + plot_w * (i + 0.5) / max(count, 1)
        return f"{x:.1f},{TOP + plot_h - plot_h * v / top:.1f}"

    if floor is not None:
        y = TOP + plot_h - plot_h * floor / top
        body.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" class="ref"/>'
        )
    for n, (name, points) in enumerate(series.items()):
        colour = LINE_COLOURS[n % len(LINE_COLOURS)]
        run: list[str] = []
        segments: list[list[str]] = []
        for i, v in enumerate(points):
            if v is None:
                if run:
                    segments.append(run)
                run = []
            else:
                run.append(point(i, v))
        if run:
            segments.append(run)
        for segment in segments:
            if len(segment) == 1:
                cx, cy = segment[0].split(",")
                body.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{colour}"/>')
            else:
                body.append(
                    f'<polyline points="{" ".join(segment)}" fill="none" stroke="{colour}" '
                    f'stroke-width="2"><title>{escape(name)}</title></polyline>'
                )
    return _frame(title, top, x_labels, body, unit)


def gauges(title: str, items: Sequence[tuple[str, float, float, str]]) -> str:
    """Horizontal bars: (label, value, full scale, caption), e.g. a token's time left."""
    row = 34
    height = TOP + row * max(len(items), 1) + 6
    parts = [
        f'<svg class="plot" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}" preserveAspectRatio="xMidYMid meet">',
        f"<title>{escape(title)}</title>",
    ]
    span = WIDTH - 180 - RIGHT
    for i, (label, value, full, caption) in enumerate(items):
        y = TOP + i * row
        share = 0.0 if full <= 0 else min(max(value / full, 0.0), 1.0)
        colour = "#2e9e5b" if share > 0.25 else "#e58a2c" if share > 0.05 else "#d64545"
        parts.append(f'<text x="0" y="{y + 15}">{escape(label)}</text>')
        parts.append(f'<rect x="170" y="{y + 2}" width="{span}" height="18" class="track"/>')
        parts.append(
            f'<rect x="170" y="{y + 2}" width="{span * share:.1f}" height="18" fill="{colour}"/>'
        )
        parts.append(f'<text x="176" y="{y + 15}" class="caption">{escape(caption)}</text>')
    if not items:
        parts.append(f'<text x="0" y="{TOP + 15}">nothing stored</text>')
    parts.append("</svg>")
    return "".join(parts)
