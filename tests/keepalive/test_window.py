"""Graph's calendarView delta window: it reaches a margin past the booking horizon (so
Outlook events beyond the horizon are seen and refused at once), is re-based when
half of that margin is spent, and never spans more than Graph's 1,825 days."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx2
import pytest
from sqlalchemy import func, select, text
from tests.support.bookings import live_bookings, tomorrow_at
from tests.support.environments import KeepEnv, make_env

from spacecal import clock
from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.db.models import SyncRun
from spacecal.sync.naming import sync_window
from spacecal.sync.runtime import SyncRuntime

LONDON = ZoneInfo("Europe/London")
DAYS_AHEAD = 30  # seed_space's MaxBookingDaysAhead
MARGIN = 10
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)

# A 10-day margin, so the re-basing comes within a week; subscriptions renewed well
# ahead, so daily steps never let one lapse (a lapse resyncs in full, which would
# re-base the window for another reason).
WINDOW_SETTINGS: dict[str, Any] = {
    "sync_window_margin_days": MARGIN,
    "subscription_ttl_seconds": 6 * 24 * 3600,
    "google_renewal_margin_seconds": 36 * 3600.0,
    "microsoft_renewal_margin_seconds": 36 * 3600.0,
    "renewal_jitter_seconds": 600.0,
}


@pytest.fixture
async def window_env(
    settings: Settings, database: Database, member_password_hash: str, env_start: datetime
) -> AsyncIterator[KeepEnv]:
    async for env in make_env(
        settings, database, member_password_hash, start=env_start, **WINDOW_SETTINGS
    ):
        rt = SyncRuntime(settings=env.rt.settings, db=database, provider_for=env.rt.provider)
        yield KeepEnv(env, rt)


async def _full_syncs(k: KeepEnv) -> int:
    async with k.engine.connect() as conn:
        value = await conn.scalar(select(func.count()).where(SyncRun.full_sync))
    return int(value or 0)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=LONDON)


async def test_the_graph_window_reaches_past_the_horizon_and_is_rebased_when_half_spent(
    window_env: KeepEnv,
) -> None:
    k = window_env
    member = await k.connect("microsoft")
    await k.settle()
    today = clock.now().astimezone(LONDON).date()
    first = await k.connection("microsoft")
    assert (first.sync_window_start, first.sync_window_end) == (
        _midnight(today - DAY),
        _midnight(today + timedelta(days=DAYS_AHEAD + 1 + MARGIN)),
    )
    # Made today for 45 days ahead: past the window's end (41 days), so unseen for now.
    far = tomorrow_at(10, days=45)
    member.create("Far off", far, far + HOUR)
    await k.settle()
    [seen] = member.events()
    assert seen.title == "Far off"
    full = await _full_syncs(k)

    for n in range(1, MARGIN // 2 + 1):  # half the margin left or more: no new round
        await k.advance(DAY)
        same = await k.connection("microsoft")
        assert (same.sync_window_start, same.sync_window_end) == (
            first.sync_window_start,
            first.sync_window_end,
        ), n
        assert await _full_syncs(k) == full  # the same delta round goes on

    await k.advance(DAY)  # less than half left: re-based on today
    day = today + timedelta(days=MARGIN // 2 + 1)
    rolled = await k.connection("microsoft")
    assert (rolled.sync_window_start, rolled.sync_window_end) == (
        _midnight(day - DAY),
        _midnight(day + timedelta(days=DAYS_AHEAD + 1 + MARGIN)),
    )
    assert await _full_syncs(k) == full + 1  # a new round, over the new window
    # The far event is seen by the new round while still beyond the horizon: refused
    # with the reason, never booked silently once the horizon reaches it.
    assert await live_bookings(k) == []
    [seen] = member.events()
    assert seen.title.startswith("⚠ Not booked: ")
    assert "30 days ahead" in seen.title + seen.description


async def test_a_horizon_longer_than_graph_allows_keeps_the_window_within_1825_days(
    window_env: KeepEnv,
) -> None:
    k = window_env
    async with k.engine.begin() as conn:
        await conn.execute(
            text("UPDATE businesses SET max_booking_days_ahead = 2000 WHERE id = :id"),
            {"id": k.env.space.business_id},
        )
    member = await k.connect("microsoft")
    await k.settle()
    record = await k.connection("microsoft")
    assert record.sync_window_end - record.sync_window_start == timedelta(days=1825)
    assert record.delta_link  # Graph (the emulator) accepted the round
    start = tomorrow_at(10)
    member.create("Still syncs", start, start + HOUR)
    await k.settle()
    assert len(await live_bookings(k)) == 1


def test_the_window_is_the_horizon_plus_the_margin() -> None:
    now = datetime(2031, 1, 15, 10, tzinfo=LONDON)
    window = sync_window("Europe/London", 30, now, margin_days=365)
    assert window.start == _midnight(date(2031, 1, 14))
    assert window.end == _midnight(date(2031, 1, 15) + timedelta(days=30 + 1 + 365))
    longest = sync_window("Europe/London", 1900, now, margin_days=365)
    assert longest.end - longest.start == timedelta(days=1825)


async def test_the_graph_emulator_refuses_a_calendar_view_over_1825_days(
    window_env: KeepEnv,
) -> None:
    """Graph answers 400 to a calendarView (and delta) range over 1,825 days."""
    k = window_env
    member = await k.connect("microsoft")
    record = await k.connection("microsoft")
    tokens = k.rt.tokens("microsoft", record.provider_account_id)
    base = k.rt.settings.microsoft_graph_base
    start = datetime(2031, 1, 1, tzinfo=LONDON)

    async def view(days: int, path: str) -> httpx2.Response:
        async def call(access: str) -> httpx2.Response:
            return await k.env.control.get(
                f"{base}/me/calendars/{member.calendar_id}/{path}",
                params={
                    "startDateTime": start.isoformat(),
                    "endDateTime": (start + timedelta(days=days)).isoformat(),
                },
                headers={"Authorization": f"Bearer {access}"},
            )

        answer: httpx2.Response = await tokens.call(call)
        return answer

    for path in ("calendarView", "calendarView/delta"):
        assert (await view(1825, path)).status_code == 200
        refused = await view(1826, path)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["code"] == "ErrorInvalidRequest"
