"""Hourly activity counts for the console's charts.

One row per (hour, business, provider, kind), bumped with an upsert in the caller's
transaction, so a count is exactly as durable as the change it counts. Callers that
see many events at once (the notification dispatcher) record them in one call with
`count=n`, which keeps the hot row's lock short.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal.db.models import ActivityHourly

NOTIFICATION = "notification"
SYNC = "sync"
BOOKING_FROM_CALENDAR = "booking_from_calendar"
REFUSAL = "refusal"
KINDS = (NOTIFICATION, SYNC, BOOKING_FROM_CALENDAR, REFUSAL)

_UPSERT = text(
    "INSERT INTO activity_hourly (hour, business_id, provider, kind, count)"
    " VALUES (:hour, :business_id, :provider, :kind, :count)"
    " ON CONFLICT (hour, business_id, provider, kind)"
    " DO UPDATE SET count = activity_hourly.count + EXCLUDED.count"
)


def hour_of(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Activity:
    business_id: int
    provider: str
    kind: str
    count: int = 1


async def record_activity(
    conn: AsyncConnection, items: Iterable[Activity], *, at: datetime
) -> None:
    """Add counts for the hour holding `at` (spacecal's clock, passed by the caller).

    Rows are written in key order so two transactions bumping the same rows cannot
    deadlock."""
    hour = hour_of(at)
    merged: dict[tuple[int, str, str], int] = {}
    for item in items:
        if item.kind not in KINDS:
            raise ValueError(f"unknown activity kind {item.kind!r}")
        if item.count > 0:
            key = (item.business_id, item.provider, item.kind)
            merged[key] = merged.get(key, 0) + item.count
    for (business_id, provider, kind), count in sorted(merged.items()):
        await conn.execute(
            _UPSERT,
            {
                "hour": hour,
                "business_id": business_id,
                "provider": provider,
                "kind": kind,
                "count": count,
            },
        )


async def activity_series(
    conn: AsyncConnection,
    *,
    since: datetime,
    until: datetime,
    bucket: timedelta,
    business_id: int | None = None,
    provider: str | None = None,
) -> dict[str, list[int]]:
    """Counts per kind in consecutive buckets from `since` (inclusive) to `until`
    (exclusive). `bucket` is a whole number of hours (an hour or a day)."""
    hours = int(bucket.total_seconds() // 3600)
    if hours < 1 or bucket != timedelta(hours=hours):
        raise ValueError("bucket must be a whole number of hours")
    start = hour_of(since)
    n = max(0, -(-int((until - start).total_seconds()) // int(bucket.total_seconds())))
    query = (
        select(ActivityHourly.kind, ActivityHourly.hour, func.sum(ActivityHourly.count))
        .where(ActivityHourly.hour >= start, ActivityHourly.hour < until)
        .group_by(ActivityHourly.kind, ActivityHourly.hour)
    )
    if business_id is not None:
        query = query.where(ActivityHourly.business_id == business_id)
    if provider is not None:
        query = query.where(ActivityHourly.provider == provider)
    series = {kind: [0] * n for kind in KINDS}
    for kind, hour, total in (await conn.execute(query)).all():
        index = int((hour - start).total_seconds() // bucket.total_seconds())
        if kind in series and 0 <= index < n:
            series[kind][index] += int(total)
    return series
