"""Plots drawn on the server as inline SVG: no script, no CDN, readable offline and on a phone.

Three shapes cover the dashboard: stacked bars (runs per hour by status), lines (durations,
rate budget, archive growth) and horizontal gauges (token lifetimes). Pure functions from
numbers to SVG text; every label is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

# The outer <svg> has no viewBox: its units are CSS pixels, so every label is drawn at the
# page's font size however wide the plot is (a 720-unit viewBox shrank them to 5 px in a
# 340 px column). Only the shapes sit in an inner <svg> stretched to the plot's width.
HEIGHT = 200  # px
TOP, BOTTOM = 18, 22  # px: room for the top value's label, and the x labels' band
INNER_W = 1000  # the inner viewBox's width: shapes are laid out on it, then stretched
EDGE = 12.0  # % of the width kept free of x labels at each side (a centred label is cut)

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
    """The grid, the value labels (above their line, at the left) and the x labels around a
    plot's shapes; `body` is drawn on the inner INNER_W x plot height viewBox."""
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="plot" width="100%" height="{HEIGHT}" role="img" '
        f'aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<svg x="0" y="{TOP}" width="100%" height="{plot_h}" viewBox="0 0 {INNER_W} {plot_h}" '
        'preserveAspectRatio="none" overflow="visible">',
    ]
    for i in range(5):
        y = plot_h * i / 4
        parts.append(
            f'<line x1="0" y1="{y:.1f}" x2="{INNER_W}" y2="{y:.1f}" class="grid" '
            'vector-effect="non-scaling-stroke"/>'
        )
    parts.extend(body)
    parts.append("</svg>")
    for i in range(4):  # the bottom line is 0: left unlabelled, the x labels sit there
        value = top * (4 - i) / 4
        parts.append(
            f'<text x="2" y="{TOP + plot_h * i / 4 - 3:.1f}" class="value">'
            f"{escape(_number(value))}{escape(unit)}</text>"
        )
    if x_labels:
        count = len(x_labels)
        every = max(1, count // 6)
        shown = 0
        for i in range(every // 2, count, every):
            x = 100 * (i + 0.5) / count
            if not EDGE <= x <= 100 - EDGE:
                continue
            narrow = " x-odd" if shown % 2 else ""  # left out when the plot is narrow
            parts.append(
                f'<text x="{x:.2f}%" y="{HEIGHT - 6}" text-anchor="middle" class="x{narrow}">'
                f"{escape(x_labels[i])}</text>"
            )
            shown += 1
    parts.append("</svg>")
    return "".join(parts)


def stacked_bars(
    title: str, x_labels: Sequence[str], stacks: Mapping[str, Sequence[int]], unit: str = ""
) -> str:
    """One bar per x label, stacked by series (e.g. status), coloured by STATUS_COLOURS."""
    count = len(x_labels)
    totals = [sum(series[i] for series in stacks.values()) for i in range(count)]
    top = _scale_max(max(totals, default=0))
    plot_h = HEIGHT - TOP - BOTTOM
    bar_w = INNER_W / max(count, 1)
    body: list[str] = []
    for i in range(count):
        base = 0.0
        for name, series in stacks.items():
            value = series[i]
            if not value:
                continue
            h = plot_h * value / top
            y = plot_h - plot_h * base / top - h
            colour = STATUS_COLOURS.get(name, "#607d8b")
            body.append(
                f'<rect x="{i * bar_w:.2f}" y="{y:.2f}" width="{max(bar_w * 0.85, 0.6):.2f}"'
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
    plot_h = HEIGHT - TOP - BOTTOM
    body: list[str] = []
    dots: list[str] = []  # drawn in CSS pixels: a stretched circle would be an ellipse

    def point(i: int, v: float) -> str:
        x = INNER_W * (i + 0.5) / max(count, 1)
        return f"{x:.1f},{plot_h - plot_h * v / top:.1f}"

    if floor is not None:
        y = plot_h - plot_h * floor / top
        body.append(
            f'<line x1="0" y1="{y:.1f}" x2="{INNER_W}" y2="{y:.1f}" class="ref" '
            'vector-effect="non-scaling-stroke"/>'
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
                cx, cy = (float(c) for c in segment[0].split(","))
                dots.append(
                    f'<circle cx="{100 * cx / INNER_W:.2f}%" cy="{TOP + cy:.1f}" r="2.5" '
                    f'fill="{colour}"><title>{escape(name)}</title></circle>'
                )
            else:
                body.append(
                    f'<polyline points="{" ".join(segment)}" fill="none" stroke="{colour}" '
                    'stroke-width="2" vector-effect="non-scaling-stroke">'
                    f"<title>{escape(name)}</title></polyline>"
                )
    return (
        _frame(title, top, x_labels, body, unit).removesuffix("</svg>") + "".join(dots) + "</svg>"
    )


def gauges(title: str, items: Sequence[tuple[str, float, float, str, str]]) -> str:
    """Horizontal bars: (label, value, full scale, caption, when), e.g. a token's time left. The
    label and caption are a line above their bar, in the page's colours (an empty bar hides
    nothing); `when` follows them where the plot is wide enough."""
    row = 42
    height = row * max(len(items), 1) + 4
    parts = [
        f'<svg class="plot" width="100%" height="{height}" role="img" '
        f'aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, value, full, caption, when) in enumerate(items):
        y = i * row
        share = 0.0 if full <= 0 else min(max(value / full, 0.0), 1.0)
        colour = "#2e9e5b" if share > 0.25 else "#e58a2c" if share > 0.05 else "#d64545"
        parts.append(
            f'<text x="0" y="{y + 15}"><tspan class="label">{escape(label)}</tspan>'
            f' · {escape(caption)}<tspan class="when"> · {escape(when)}</tspan></text>'
        )
        parts.append(f'<rect x="0" y="{y + 21}" width="100%" height="14" class="track"/>')
        parts.append(
            f'<rect x="0" y="{y + 21}" width="{100 * share:.1f}%" height="14" fill="{colour}"/>'
        )
    if not items:
        parts.append('<text x="0" y="15">nothing stored</text>')
    parts.append("</svg>")
    return "".join(parts)
