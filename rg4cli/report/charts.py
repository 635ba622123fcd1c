"""SVG charts written by rg4: grouped bars with interval whiskers, and line charts.

Plain SVG strings, no library and nothing fetched at view time. Each chart is an
`role="img"` figure with a title and a text description for screen readers; the numbers
themselves are in the page's tables. Colours: the Okabe-Ito palette (distinct for the
common colour-vision deficiencies), each series also named in a legend.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from html import escape

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
WIDTH, HEIGHT = 520, 260
LEFT, RIGHT, TOP, BOTTOM = 60, 12, 30, 46

# A bar: its value and, when the summary has one, its interval.
Bar = tuple[float, float | None, float | None] | None


def _nice_max(value: float) -> float:
    if value <= 0 or not math.isfinite(value):
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if step * exp >= value:
            return step * exp
    return 10 * exp


def _ticks(top: float, n: int = 5) -> list[float]:
    return [top * i / n for i in range(n + 1)]


def _fmt(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 100 or float(v).is_integer() else f"{v:.3g}"


def _frame(title: str, desc: str, body: list[str], legend: Sequence[str]) -> str:
    key = f"c{zlib.crc32((title + desc).encode()):08x}"  # stable ids: the same run gives the same page
    items = []
    x = LEFT
    for i, name in enumerate(legend):
        colour = PALETTE[i % len(PALETTE)]
        items.append(
            f'<rect x="{x}" y="8" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14}" y="17" class="legend">{escape(name)}</text>'
        )
        x += 24 + 7 * len(name)
    return (
        f'<figure class="chart"><figcaption>{escape(title)}</figcaption>'
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{key}t {key}d" '
        f'><title id="{key}t">{escape(title)}</title>'
        f'<desc id="{key}d">{escape(desc)}</desc>' + "".join(items) + "".join(body) + "</svg></figure>"
    )


def _axes(top: float, label: str) -> list[str]:
    h = HEIGHT - TOP - BOTTOM
    out = []
    for t in _ticks(top):
        y = TOP + h - h * t / top
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{LEFT - 4}" y="{y + 4:.1f}" class="tick" text-anchor="end">{_fmt(t)}</text>')
    out.append(
        f'<text x="12" y="{TOP + h / 2:.0f}" class="axis" text-anchor="middle" '
        f'transform="rotate(-90 12 {TOP + h / 2:.0f})">{escape(label)}</text>'
    )
    return out


def bar_chart(
    title: str, groups: Sequence[str], series: Sequence[tuple[str, Sequence[Bar]]], *, ylabel: str = ""
) -> str:
    """Grouped bars: one group per x label, one bar per series; whiskers where intervals are known."""
    values = [v for _, bars in series for b in bars if b is not None for v in (b[0], b[2]) if v is not None]
    top = _nice_max(max(values, default=1.0))
    h, w = HEIGHT - TOP - BOTTOM, WIDTH - LEFT - RIGHT
    body = _axes(top, ylabel)
    gw = w / max(1, len(groups))
    bw = gw * 0.8 / max(1, len(series))
    desc = []
    for gi, group in enumerate(groups):
        gx = LEFT + gi * gw
        body.append(
            f'<text x="{gx + gw / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" class="tick" text-anchor="middle">'
            f"{escape(group)}</text>"
        )
        for si, (name, bars) in enumerate(series):
            bar = bars[gi] if gi < len(bars) else None
            if bar is None:
                continue
            value, low, high = bar
            x = gx + gw * 0.1 + si * bw
            y = TOP + h - h * max(0.0, value) / top
            interval = f" [{_fmt(low)}, {_fmt(high)}]" if low is not None and high is not None else ""
            desc.append(f"{group} {name}: {_fmt(value)}{interval}")
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw * 0.92:.1f}" height="{TOP + h - y:.1f}" '
                f'fill="{PALETTE[si % len(PALETTE)]}"><title>{escape(desc[-1])}</title></rect>'
            )
            if low is not None and high is not None:
                cx = x + bw * 0.46
                y1, y2 = (TOP + h - h * max(0.0, v) / top for v in (low, high))
                body.append(
                    f'<path d="M{cx - 3:.1f},{y1:.1f}H{cx + 3:.1f}M{cx:.1f},{y1:.1f}V{y2:.1f}'
                    f'M{cx - 3:.1f},{y2:.1f}H{cx + 3:.1f}" class="whisker"/>'
                )
    return _frame(title, "; ".join(desc) or "no data", body, [name for name, _ in series])


def line_chart(
    title: str, series: Sequence[tuple[str, Sequence[tuple[float, float]]]], *, xlabel: str = "", ylabel: str = ""
) -> str:
    """One polyline per series (e.g. the training loss by step)."""
    points = [p for _, pts in series for p in pts]
    if not points:
        return _frame(title, "no data", [], [])
    x_max = _nice_max(max(1.0, max(x for x, _ in points)))
    top = _nice_max(max(y for _, y in points))
    h, w = HEIGHT - TOP - BOTTOM, WIDTH - LEFT - RIGHT
    body = _axes(top, ylabel)
    for t in _ticks(x_max):
        x = LEFT + w * t / x_max
        body.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" class="tick" text-anchor="middle">{_fmt(t)}</text>')
    body.append(
        f'<text x="{LEFT + w / 2:.0f}" y="{HEIGHT - 8}" class="axis" text-anchor="middle">{escape(xlabel)}</text>'
    )
    desc = []
    for si, (name, pts) in enumerate(series):
        if not pts:
            continue
        path = " ".join(f"{LEFT + w * x / x_max:.1f},{TOP + h - h * max(0.0, y) / top:.1f}" for x, y in _thin(pts))
        body.append(f'<polyline points="{path}" fill="none" stroke="{PALETTE[si % len(PALETTE)]}" stroke-width="1.6"/>')
        desc.append(f"{name}: {_fmt(pts[0][1])} at step {pts[0][0]:.0f} to {_fmt(pts[-1][1])} at {pts[-1][0]:.0f}")
    return _frame(title, "; ".join(desc), body, [name for name, pts in series if pts])


def _thin(points: Sequence[tuple[float, float]], most: int = 400) -> Sequence[tuple[float, float]]:
    """At most `most` points (every k-th, the last kept): a 100,000-step log stays a small path."""
    if len(points) <= most:
        return points
    k = math.ceil(len(points) / most)
    return [*points[::k], points[-1]]
