"""Line plots as inline SVG, drawn on the server: no plotting library in the browser, readable without colour.

Each series gets its own dash pattern and marker shape as well as a colour, and a legend names it, so a
grey-scale print or a colour-blind reader tells the lines apart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

#: Dash patterns and marker shapes, combined by ``style``; colours are only a second cue.
DASHES = ["", "6 3", "2 2", "8 3 2 3"]
MARKERS = ["circle", "square", "triangle", "diamond"]
COLOURS = ["#1f4e79", "#b35900", "#2e7d32", "#6a1b9a"]
MAX_POINTS = 400  # longer series are decimated evenly (a plot is ~600 px wide)


def line_plot(
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    width: int = 640,
    height: int = 300,
    mark: tuple[int, str] | None = None,
) -> str:
    """An ``<svg>`` element plotting each ``(label, values)`` against its index (1-based), with axes, ticks
    and a legend; non-finite values leave gaps. ``title`` becomes the accessible name. ``mark`` = (x, text)
    draws a labelled vertical line at 1-based index x (e.g. the epoch whose weights were kept)."""
    left, right, top, bottom = 56, 12, 12, 44 + 18 * math.ceil(len(series) / 2)
    plot_w, plot_h = width - left - right, height - top - bottom
    finite = [v for _, values in series for v in values if math.isfinite(v)]
    longest = max((len(values) for _, values in series), default=1)
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    pad = (hi - lo) * 0.05
    lo, hi = lo - pad, hi + pad

    def x_of(i: float) -> float:
        return left + (i / max(longest - 1, 1)) * plot_w

    def y_of(v: float) -> float:
        return top + (1 - (v - lo) / (hi - lo)) * plot_h

    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{escape(title)}" preserveAspectRatio="xMidYMid meet"><title>{escape(title)}</title>'
        ),
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" class="frame"/>',
    ]
    for value in _ticks(lo, hi):
        y = y_of(value)
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{value:g}</text>'
        )
    for index in _ticks(0, longest - 1, integer=True):
        x = x_of(index)
        parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 16}" class="tick" text-anchor="middle">{index + 1}</text>')
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h + 32}" class="axis" text-anchor="middle">'
        f"{escape(x_label)}</text>"
        f'<text x="14" y="{top + plot_h / 2:.1f}" class="axis" text-anchor="middle" '
        f'transform="rotate(-90 14 {top + plot_h / 2:.1f})">{escape(y_label)}</text>'
    )
    for k, (label, values) in enumerate(series):
        dash, marker, colour = style(k)
        step = max(1, math.ceil(len(values) / MAX_POINTS))
        points = [(x_of(i), y_of(v)) for i, v in enumerate(values) if i % step == 0 and math.isfinite(v)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        path = " ".join(f"{'M' if j == 0 else 'L'}{x:.1f},{y:.1f}" for j, (x, y) in enumerate(points))
        parts.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="1.8"{dash_attr}/>')
        marks = points[:: max(1, len(points) // 12)]
        parts += [_marker(marker, x, y, colour) for x, y in marks]
        lx, ly = left + (k % 2) * plot_w / 2, top + plot_h + 48 + 18 * (k // 2)
        parts.append(
            f'<line x1="{lx:.1f}" x2="{lx + 28:.1f}" y1="{ly - 4}" y2="{ly - 4}" stroke="{colour}" '
            f'stroke-width="1.8"{dash_attr}/>{_marker(marker, lx + 14, ly - 4, colour)}'
            f'<text x="{lx + 34:.1f}" y="{ly}" class="legend">{escape(label)}</text>'
        )
    if mark is not None:
        x, anchor = x_of(mark[0] - 1), "end" if mark[0] - 1 > (longest - 1) / 2 else "start"
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + plot_h}" class="mark" stroke="#222" '
            f'stroke-width="1.2" stroke-dasharray="4 3"/><text x="{x + (-4 if anchor == "end" else 4):.1f}" '
            f'y="{top + 12}" class="mark-label" text-anchor="{anchor}">{escape(mark[1])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def style(k: int) -> tuple[str, str, str]:
    """Series ``k``'s dash pattern, marker and colour: the marker and colour shift by one every four series, so
    the first sixteen all look different, in grey too (cycling all three together, series k and k + 4 were the
    same line: the fifth class of a source drawn as its first). server/web/static/hub.js draws live plots alike."""
    shifted = (k + k // len(DASHES)) % len(MARKERS)
    return DASHES[k % len(DASHES)], MARKERS[shifted], COLOURS[shifted]


def _marker(shape: str, x: float, y: float, colour: str) -> str:
    r = 3.2
    if shape == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{colour}"/>'
    if shape == "square":
        return (
            f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r}" height="{2 * r}" fill="white" stroke="{colour}"/>'
        )
    if shape == "triangle":
        return (
            f'<path d="M{x:.1f},{y - r - 1:.1f} L{x + r + 1:.1f},{y + r:.1f} L{x - r - 1:.1f},{y + r:.1f} Z" '
            f'fill="{colour}"/>'
        )
    return (
        f'<path d="M{x:.1f},{y - r - 1:.1f} L{x + r + 1:.1f},{y:.1f} L{x:.1f},{y + r + 1:.1f} L{x - r - 1:.1f},{y:.1f} Z" '
        f'fill="white" stroke="{colour}"/>'
    )


def _ticks(lo: float, hi: float, count: int = 5, integer: bool = False) -> list[float]:
    """About ``count`` round tick values between ``lo`` and ``hi`` (steps of 1, 2 or 5 × 10^k)."""
    span = hi - lo
    if span <= 0:
        return [lo]
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    if integer:
        step = max(1, round(step))
    first = math.ceil(lo / step) * step
    ticks, value = [], first
    while value <= hi + 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks
