"""The activity chart, drawn on the server as inline SVG.

No JavaScript and nothing fetched: the console must work on a machine without
internet and under a strict Content-Security-Policy (SVG presentation attributes are
not styles). Each series is a polyline carrying its numbers in `data-values`, so a
test (or a curious operator) reads exactly what was drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from markupsafe import Markup, escape
from sqlalchemy.ext.asyncio import AsyncEngine

from spacecal import activity

KIND_LABELS = {
    activity.NOTIFICATION: "Notifications",
    activity.SYNC: "Syncs",
    activity.BOOKING_FROM_CALENDAR: "Bookings made from calendars",
    activity.REFUSAL: "Refusals",
}
KIND_COLOURS = {
    activity.NOTIFICATION: "#2f5bd3",
    activity.SYNC: "#1d6b34",
    activity.BOOKING_FROM_CALENDAR: "#b25e00",
    activity.REFUSAL: "#9b1c12",
}

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 30, 14, 34


@dataclass(frozen=True)
class Series:
    """Counts per kind over consecutive buckets, with each bucket's start."""

    key: str  # "day" (hourly buckets) or "month" (daily buckets)
    title: str
    starts: list[datetime]
    counts: dict[str, list[int]]

    def total(self, kind: str) -> int:
        return sum(self.counts.get(kind, []))


def windows(now: datetime) -> list[tuple[str, str, datetime, datetime, timedelta]]:
    """The two charts: the last 24 hours by hour, the last 30 days by day (UTC), each
    ending with the bucket that holds `now`."""
    hour = activity.hour_of(now)
    midnight = hour.replace(hour=0)
    return [
        (
            "day",
            "Last 24 hours, by hour (UTC)",
            hour - timedelta(hours=23),
            hour + timedelta(hours=1),
            timedelta(hours=1),
        ),
        (
            "month",
            "Last 30 days, by day (UTC)",
            midnight - timedelta(days=29),
            midnight + timedelta(days=1),
            timedelta(days=1),
        ),
    ]


async def load_series(
    engine: AsyncEngine,
    now: datetime,
    *,
    business_id: int | None,
    providers: tuple[str, ...],
) -> list[Series]:
    """Both charts' numbers from `activity_series`, summed over `providers`."""
    found = []
    async with engine.connect() as conn:
        for key, title, since, until, bucket in windows(now):
            counts: dict[str, list[int]] = {}
            for provider in providers:
                part = await activity.activity_series(
                    conn,
                    since=since,
                    until=until,
                    bucket=bucket,
                    business_id=business_id,
                    provider=provider,
                )
                for kind, values in part.items():
                    mine = counts.setdefault(kind, [0] * len(values))
                    counts[kind] = [a + b for a, b in zip(mine, values, strict=True)]
            n = len(next(iter(counts.values()))) if counts else 0
            counts = {kind: counts.get(kind, [0] * n) for kind in activity.KINDS}
            starts = [since + bucket * i for i in range(n)]
            found.append(Series(key, title, starts, counts))
    return found


def _nice_ceiling(value: int) -> int:
    """The chart's top: four grid steps of 1, 2 or 5 x 10^k, the smallest that
    reaches `value` (so every grid line falls on a whole number)."""
    scale = 1
    while True:
        for m in (1, 2, 5):
            if 4 * m * scale >= value:
                return 4 * m * scale
        scale *= 10


def _label(start: datetime, key: str) -> str:
    return f"{start:%H:00}" if key == "day" else f"{start:%d %b}"


def svg(series: Series) -> Markup:
    """One line chart: a polyline per kind, a point per bucket with a tooltip, axes,
    a grid and a legend."""
    n = len(series.starts)
    top = _nice_ceiling(max((max(v) for v in series.counts.values() if v), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: int) -> float:
        return TOP + plot_h - plot_h * v / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="chart-{series.key}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{escape(series.title)}" data-buckets="{n}">',
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
    ]
    for g in range(5):
        value = top * g // 4
        gy = y(value)
        parts.append(
            f'<line x1="{LEFT}" y1="{gy:.1f}" x2="{WIDTH - RIGHT}" y2="{gy:.1f}" '
            f'stroke="#dde2ea" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{gy + 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="#5b6475">{value}</text>'
        )
    every = max(1, n // 8)
    for i, start in enumerate(series.starts):
        last = i == n - 1
        if (i % every == 0 and n - 1 - i >= every) or last:
            anchor = "end" if last and n > 1 else "middle"
            parts.append(
                f'<text x="{x(i) + (6 if anchor == "end" else 0):.1f}" y="{HEIGHT - BOTTOM + 16}" '
                f'font-size="11" text-anchor="{anchor}" fill="#5b6475">'
                f"{_label(start, series.key)}</text>"
            )
    parts.append(
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" '
        f'stroke="#5b6475" stroke-width="1"/>'
    )
    for kind in activity.KINDS:
        values = series.counts[kind]
        colour = KIND_COLOURS[kind]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(
            f'<polyline class="series" data-kind="{kind}" '
            f'data-values="{",".join(str(v) for v in values)}" points="{points}" '
            f'fill="none" stroke="{colour}" stroke-width="2" stroke-linejoin="round"/>'
        )
        for i, v in enumerate(values):
            if v:
                tip = f"{KIND_LABELS[kind]}: {v} ({_label(series.starts[i], series.key)})"
                parts.append(
                    f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}">'
                    f"<title>{escape(tip)}</title></circle>"
                )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped or ours
