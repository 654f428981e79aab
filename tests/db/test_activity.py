"""Hourly activity counts: upserts add up, series bucket them by hour and day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from spacecal import activity
from spacecal.db.engine import Database


async def test_counts_add_up_and_bucket(database: Database) -> None:
    base = datetime(2031, 3, 4, 10, 0, tzinfo=UTC)
    business = 987_654
    async with database.engine.begin() as conn:
        await activity.record_activity(
            conn,
            [
                activity.Activity(business, "google", activity.NOTIFICATION, 3),
                activity.Activity(business, "google", activity.NOTIFICATION, 2),
                activity.Activity(business, "microsoft", activity.SYNC),
            ],
            at=base + timedelta(minutes=59),
        )
        await activity.record_activity(
            conn,
            [activity.Activity(business, "google", activity.REFUSAL)],
            at=base + timedelta(hours=2),
        )
    async with database.engine.connect() as conn:
        hourly = await activity.activity_series(
            conn,
            since=base,
            until=base + timedelta(hours=3),
            bucket=timedelta(hours=1),
            business_id=business,
        )
        daily = await activity.activity_series(
            conn,
            since=base,
            until=base + timedelta(days=1),
            bucket=timedelta(days=1),
            business_id=business,
        )
        google_only = await activity.activity_series(
            conn,
            since=base,
            until=base + timedelta(hours=3),
            bucket=timedelta(hours=1),
            business_id=business,
            provider="google",
        )
    assert hourly[activity.NOTIFICATION] == [5, 0, 0]
    assert hourly[activity.SYNC] == [1, 0, 0]
    assert hourly[activity.REFUSAL] == [0, 0, 1]
    assert daily[activity.NOTIFICATION] == [5]
    assert google_only[activity.SYNC] == [0, 0, 0]


async def test_unknown_kind_is_refused(database: Database) -> None:
    async with database.engine.begin() as conn:
        with pytest.raises(ValueError, match="unknown activity kind"):
            await activity.record_activity(
                conn, [activity.Activity(1, "google", "bogus")], at=datetime.now(UTC)
            )
