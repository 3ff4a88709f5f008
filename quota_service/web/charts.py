"""Charts as inline SVG, rendered on the server: no JavaScript, no chart library, no CDN.

Every piece of text that goes into a chart passes through `markupsafe.escape`; the numbers are
formatted here. Colours come from CSS classes in static/nexus.css.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from markupsafe import Markup, escape

from ..services.forecast import Forecast

GIB = 1024**3


@dataclass(frozen=True)
class Line:
    points: Sequence[tuple[date, float]]
    css: str
    label: str
    dashed: bool = False


@dataclass(frozen=True)
class HLine:
    y: float
    css: str
    label: str


def _fmt(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.0f}"
    return f"{value:.1f}".rstrip("0").rstrip(".") or "0"


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = float(10 ** (len(str(int(value))) - 1))
    for step in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if value <= step * magnitude:
            return step * magnitude
    return value


def line_chart(
    lines: Sequence[Line],
    hlines: Sequence[HLine] = (),
    *,
    title: str,
    x_range: tuple[date, date],
    unit: str,
    width: int = 640,
    height: int = 240,
) -> Markup:
    """Lines over dates with optional horizontal reference lines (budgets, quotas)."""
    left, right, top, bottom = 64, 40, 16, 36
    x0, x1 = x_range
    if x1 <= x0:
        x1 = x0 + timedelta(days=1)
    span = (x1 - x0).days
    y_top = _nice_max(
        max(
            [v for line in lines for _, v in line.points] + [h.y for h in hlines] + [0.0],
        )
        * 1.05
    )
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(day: date) -> float:
        return left + plot_w * (day - x0).days / span

    def py(value: float) -> float:
        return top + plot_h * (1 - value / y_top)

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(5):
        value = y_top * i / 4
        y = py(value)
        parts.append(
            f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(_fmt(value))}</text>"
        )
    for i in range(5):
        day = x0 + timedelta(days=round(span * i / 4))
        parts.append(
            f'<text class="axis" x="{px(day):.1f}" y="{height - bottom + 18}" '
            f'text-anchor="middle">{escape(day.isoformat())}</text>'
        )
    parts.append(
        f'<text class="axis unit" x="{left}" y="{top - 4}">{escape(unit)}</text>'
        if top > 12
        else ""
    )
    for h in hlines:
        y = py(h.y)
        parts.append(
            f'<line class="ref {escape(h.css)}" x1="{left}" y1="{y:.1f}" '
            f'x2="{width - right}" y2="{y:.1f}"/>'
            f'<text class="ref-label {escape(h.css)}" x="{width - right - 4}" y="{y - 4:.1f}" '
            f'text-anchor="end">{escape(h.label)}</text>'
        )
    for line in lines:
        if not line.points:
            continue
        coords = " ".join(f"{px(d):.1f},{py(v):.1f}" for d, v in line.points)
        dash = ' stroke-dasharray="6 4"' if line.dashed else ""
        parts.append(
            f'<polyline class="series {escape(line.css)}" points="{coords}" fill="none"{dash}>'
            f"<title>{escape(line.label)}</title></polyline>"
        )
    parts.append(
        f'<line class="axis-line" x1="{left}" y1="{top + plot_h}" x2="{width - right}" '
        f'y2="{top + plot_h}"/>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every dynamic piece is escaped above


def usage_chart(forecast: Forecast, today: date) -> Markup:
    """Cumulative CPU-hours this period, the budget, and the forecast at the current pace."""
    cumulative = forecast.cumulative
    used_points: list[tuple[date, float]] = [(forecast.period_start, 0.0), *cumulative]
    if used_points[-1][0] < today:
        used_points.append((today, forecast.used))
    end = forecast.runs_out_on or forecast.period_end or today + timedelta(days=30)
    end = max(end, today + timedelta(days=1))
    if forecast.period_end is not None:
        end = min(end, forecast.period_end) if forecast.runs_out_on else forecast.period_end
    end = max(end, today + timedelta(days=1))
    projected = forecast.used + forecast.pace_per_day * (end - today).days
    lines = [Line(used_points, "used", "CPU-hours used")]
    if forecast.pace_per_day > 0:
        lines.append(
            Line(
                [(today, forecast.used), (end, min(projected, max(forecast.budget, projected)))],
                "forecast",
                f"forecast at {_fmt(forecast.pace_per_day)} CPU-hours/day",
                dashed=True,
            )
        )
    return line_chart(
        lines,
        [HLine(forecast.budget, "budget", f"budget {_fmt(forecast.budget)}")],
        title=f"CPU-hours used by {forecast.label}",
        x_range=(forecast.period_start, end),
        unit="CPU-hours",
    )


def gauge(
    used: float, soft: float | None, hard: float | None, *, title: str, unit: str = "GiB"
) -> Markup:
    """A horizontal bar of use against a soft and a hard limit."""
    width, height, left, right = 640, 56, 8, 8
    scale_max = _nice_max(max(used, hard or 0.0, soft or 0.0, 1e-9) * 1.1)
    plot_w = width - left - right

    def px(value: float) -> float:
        return left + plot_w * min(value, scale_max) / scale_max

    state = "ok"
    if hard is not None and used > hard:
        state = "over-hard"
    elif soft is not None and used > soft:
        state = "over-soft"
    parts = [
        f'<svg class="chart gauge" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<rect class="track" x="{left}" y="8" width="{plot_w}" height="20" rx="3"/>',
        f'<rect class="fill {state}" x="{left}" y="8" width="{px(used) - left:.1f}" height="20" '
        'rx="3"/>',
    ]
    for value, css, label in ((soft, "soft", "soft"), (hard, "hard", "hard")):
        if value is None:
            continue
        x = px(value)
        parts.append(
            f'<line class="limit {css}" x1="{x:.1f}" y1="4" x2="{x:.1f}" y2="32"/>'
            f'<text class="axis" x="{x:.1f}" y="48" text-anchor="middle">'
            f"{escape(label)} {escape(_fmt(value))} {escape(unit)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every dynamic piece is escaped above


def bar_chart(rows: Sequence[tuple[str, float]], *, title: str, unit: str) -> Markup:
    """Horizontal bars, one per row, labelled with the value."""
    row_h, label_w, width = 26, 220, 640
    height = max(row_h * len(rows) + 8, 34)
    top = _nice_max(max([v for _, v in rows] + [0.0]))
    plot_w = width - label_w - 90
    parts = [
        f'<svg class="chart bars" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    if not rows:
        parts.append(f'<text class="axis" x="8" y="20">{escape("nothing to show yet")}</text>')
    for i, (label, value) in enumerate(rows):
        y = 4 + i * row_h
        w = plot_w * value / top if top else 0
        short = label if len(label) <= 32 else label[:31] + "…"
        parts.append(
            f'<text class="axis" x="{label_w - 8}" y="{y + 16}" text-anchor="end">'
            f"{escape(short)}</text>"
            f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}">'
            f"<title>{escape(label)}: {escape(_fmt(value))} {escape(unit)}</title></rect>"
            f'<text class="axis" x="{label_w + w + 6:.1f}" y="{y + 16}">'
            f"{escape(_fmt(value))} {escape(unit)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every dynamic piece is escaped above


def storage_chart(
    points: Sequence[tuple[date, float, float]], soft: float | None, hard: float | None
) -> Markup:
    """Home and scratch use (GiB) at each scan, with the home quota."""
    if not points:
        return Markup("")
    days = [p[0] for p in points]
    hlines = []
    if soft is not None:
        hlines.append(HLine(soft, "soft", f"home soft quota {_fmt(soft)} GiB"))
    if hard is not None:
        hlines.append(HLine(hard, "hard", f"home hard quota {_fmt(hard)} GiB"))
    return line_chart(
        [
            Line([(d, h) for d, h, _ in points], "home", "home (GiB)"),
            Line([(d, s) for d, _, s in points], "scratch", "scratch (GiB)"),
        ],
        hlines,
        title="Home and scratch use over time",
        x_range=(min(days), max(days)),
        unit="GiB",
        height=200,
    )
