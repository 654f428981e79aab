"""Events and series beyond the booking horizon (MaxBookingDaysAhead, 30 days in the
seeded space), over two months of moved clocks, once per provider.

- A weekly series reaching past the horizon: the instances within it are booked at
  once; every later one is decided on the day the horizon reaches it (booked, or
  refused with the reason), without a pull returning it again (no full resync runs,
  and the sweep's quiet span is longer than the test, so only the deferred
  instances' own trigger brings the reconciles), and none is booked twice.
- A single event beyond the horizon is refused with the reason at once (Outlook's
  too: Graph's delta window reaches past the horizon), stays refused after the
  horizon reaches it, and a change by the member (a move, or an edit of its text)
  is decided afresh.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.support.bookings import live_bookings, tomorrow_at
from tests.support.environments import PROVIDERS, KeepEnv, make_env

from spacecal import clock
from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.db.models import DeferredInstance, SyncRun
from spacecal.domain import BusinessRules
from spacecal.domain.rules import last_bookable_day_end
from spacecal.sync.runtime import SyncRuntime

DAY = timedelta(days=1)
WEEK = timedelta(weeks=1)
HOUR = timedelta(hours=1)
MIN = timedelta(minutes=1)
SPACE = BusinessRules("Riverside", "Europe/London", 30)  # seed_space's business

# Subscriptions renewed a day and a half ahead, so daily steps never let one lapse
# (a lapsed one is recovered with a full resync, which would re-pull every
# instance); the sweep's quiet span outlasts the test.
HORIZON_SETTINGS: dict[str, Any] = {
    "subscription_ttl_seconds": 6 * 24 * 3600,
    "google_renewal_margin_seconds": 36 * 3600.0,
    "microsoft_renewal_margin_seconds": 36 * 3600.0,
    "renewal_jitter_seconds": 600.0,
    "sweep_quiet_seconds": 120 * 24 * 3600.0,
}


@pytest.fixture
async def horizon_env(
    settings: Settings, database: Database, member_password_hash: str, env_start: datetime
) -> AsyncIterator[KeepEnv]:
    async for env in make_env(
        settings, database, member_password_hash, start=env_start, **HORIZON_SETTINGS
    ):
        rt = SyncRuntime(settings=env.rt.settings, db=database, provider_for=env.rt.provider)
        yield KeepEnv(env, rt)


async def _full_syncs(k: KeepEnv) -> int:
    async with k.engine.connect() as conn:
        value = await conn.scalar(select(func.count()).where(SyncRun.full_sync))
    return int(value or 0)


async def _deferred(k: KeepEnv) -> int:
    async with k.engine.connect() as conn:
        value = await conn.scalar(select(func.count()).select_from(DeferredInstance))
    return int(value or 0)


def _marked(title: str) -> bool:
    return title.startswith("⚠ Not booked: ")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_weekly_series_past_the_horizon_is_decided_day_by_day(
    horizon_env: KeepEnv, provider: str
) -> None:
    k = horizon_env
    member = await k.connect(provider)
    await k.settle()
    # A Thursday at 10:00 UTC (the series' zone: 11:00 London after the clocks change).
    first = tomorrow_at(10).astimezone(UTC)
    weeks = 13  # the last instance is 85 days ahead: the horizon reaches it in 55
    instances = [first + n * WEEK for n in range(weeks)]
    series = member.weekly("Weekly review", first, first + HOUR, weeks=weeks)
    await k.settle()
    within = [s for s in instances if s < last_bookable_day_end(SPACE, clock.now())]
    assert len(within) == 5
    assert [b.from_time for b in await live_bookings(k)] == within
    assert not any(_marked(e.title) for e in member.events())  # later ones: no mark yet
    # Beyond the horizon, the member moves one instance off the 30-minute grid and
    # cancels another: both changes are remembered with the instance, undecided.
    off_grid, cancelled = instances[7], instances[9]
    member.move_instance(series, off_grid, off_grid + 10 * MIN, off_grid + 70 * MIN)
    member.cancel_instance(series, cancelled)
    await k.settle()
    assert len(await live_bookings(k)) == 5
    assert await _deferred(k) == weeks - 5 - 1
    full_before = await _full_syncs(k)

    refusal_seen = False
    for _ in range(60):
        await k.advance(DAY, sweep_too=True)
        horizon_end = last_bookable_day_end(SPACE, clock.now())
        starts = [b.from_time for b in await live_bookings(k)]
        assert len(starts) == len(set(starts)), "an instance was booked twice"
        assert all(s < horizon_end for s in starts)
        # Every instance the horizon reaches today is decided today.
        reached = [s for s in instances if s < horizon_end and s not in (off_grid, cancelled)]
        assert starts == reached, clock.now()
        if off_grid < horizon_end and not refusal_seen:
            # Refused on the day the horizon reaches it, with the reason.
            [refused] = [e for e in member.events() if e.start == off_grid + 10 * MIN]
            assert _marked(refused.title), refused
            assert "30 minutes" in refused.title + refused.description
            refusal_seen = True

    assert refusal_seen
    bookings = await live_bookings(k)
    assert [b.from_time for b in bookings] == [
        s for s in instances if s not in (off_grid, cancelled)
    ]
    assert len({b.repeat_series_unique_id for b in bookings}) == 1
    assert await _deferred(k) == 0
    # Nothing re-pulled the series in full: the deferred instances were decided from
    # what spacecal remembered of them.
    assert await _full_syncs(k) == full_before


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_event_beyond_the_horizon_is_refused_at_once_and_stays_refused(
    horizon_env: KeepEnv, provider: str
) -> None:
    k = horizon_env
    member = await k.connect(provider)
    await k.settle()
    far = tomorrow_at(10, days=36)  # MaxBookingDaysAhead is 30
    moved = member.create("Offsite", far, far + HOUR)
    edited = member.create("Planning day", far + 3 * HOUR, far + 4 * HOUR)
    await k.settle()
    assert await live_bookings(k) == []
    for seen in member.events():
        assert _marked(seen.title), seen
        assert "30 days ahead" in seen.title + seen.description
    # Ten days on, their date is within the horizon: they stay refused (the member
    # made them when they could not be booked, and has not touched them since).
    for _ in range(10):
        await k.advance(DAY, sweep_too=True)
    assert far < last_bookable_day_end(SPACE, clock.now())
    assert await live_bookings(k) == []
    assert all(_marked(seen.title) for seen in member.events())
    # The member changes them: a move and an edit of the text alone. Each change is
    # decided afresh, and books.
    member.move(moved, far + HOUR, far + 2 * HOUR)
    member.retitle(edited, "Planning day (confirmed)")
    await k.settle()
    bookings = await live_bookings(k)
    assert [(b.from_time, b.to_time) for b in bookings] == [
        (far + HOUR, far + 2 * HOUR),
        (far + 3 * HOUR, far + 4 * HOUR),
    ]
    assert [seen.title for seen in member.events()] == ["Offsite", "Planning day (confirmed)"]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_deleted_series_leaves_nothing_to_book_later(
    horizon_env: KeepEnv, provider: str
) -> None:
    k = horizon_env
    member = await k.connect(provider)
    await k.settle()
    first = tomorrow_at(10).astimezone(UTC)
    series = member.weekly("Weekly review", first, first + HOUR, weeks=8)
    await k.settle()
    assert len(await live_bookings(k)) == 5
    assert await _deferred(k) == 3
    member.delete(series)
    await k.settle()
    assert await live_bookings(k) == []
    assert await _deferred(k) == 0
    for _ in range(21):  # the horizon passes every instance the series had
        await k.advance(DAY, sweep_too=True)
    assert await live_bookings(k) == []
