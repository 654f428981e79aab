"""Deliberately at the awkward times: 23:30 local, and the nights the clocks change in
Europe/London and America/New_York (both directions). Each environment starts at the
instant its `start_at` marker names (tests/support/timing.py), whatever the wall clock
says, so these run the same at noon and at midnight, in summer and in winter.

DST nights used (all Sundays, the business is open 08:00-20:00 every day):
London 2027-03-28 (01:00 GMT -> 02:00 BST), 2026-10-25 (02:00 BST -> 01:00 GMT);
New York 2027-03-14 (02:00 EST -> 03:00 EDT), 2026-11-01 (02:00 EDT -> 01:00 EST).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text
from tests.support.environments import PROVIDERS, SHRUNK, KeepEnv, make_env

from spacecal import clock
from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.db.models import Booking, table_of
from spacecal.sync.runtime import SyncRuntime

BOOKINGS = table_of(Booking)
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def _at(zone: ZoneInfo, day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=zone)


def _start(zone: ZoneInfo, day: date) -> str:
    """23:30 local on `day`, as the `start_at` marker takes it (UTC offset included)."""
    return _at(zone, day, 23, 30).isoformat()


# (name, zone, the evening the test starts at 23:30 local, hours the night is long)
NIGHTS = [
    ("london-ordinary", LONDON, date(2031, 1, 14), 24),
    ("london-spring-forward", LONDON, date(2027, 3, 27), 23),
    ("london-fall-back", LONDON, date(2026, 10, 24), 25),
    ("new-york-spring-forward", NEW_YORK, date(2027, 3, 13), 23),
    ("new-york-fall-back", NEW_YORK, date(2026, 10, 31), 25),
]


def _nights(*names: str) -> list[Any]:
    return [
        pytest.param(
            zone, evening, hours, id=name, marks=pytest.mark.start_at(_start(zone, evening))
        )
        for name, zone, evening, hours in NIGHTS
        if not names or name in names
    ]


async def _business_in(k: KeepEnv, zone: ZoneInfo) -> None:
    async with k.engine.begin() as conn:
        await conn.execute(
            text("UPDATE businesses SET time_zone = :zone WHERE id = :id"),
            {"zone": zone.key, "id": k.env.space.business_id},
        )


async def _live_bookings(k: KeepEnv) -> list[Any]:
    async with k.engine.connect() as conn:
        query = select(BOOKINGS).where(BOOKINGS.c.cancelled_at.is_(None))
        return list((await conn.execute(query.order_by(BOOKINGS.c.from_time))).all())


@pytest.fixture
async def daily_window_env(
    settings: Settings, database: Database, member_password_hash: str, env_start: datetime
) -> AsyncIterator[KeepEnv]:
    """keep_env with no margin past the horizon: Graph's window is re-based every day
    (sync/upkeep/window.py), so each roll shows where the business's day ends."""
    async for env in make_env(
        settings,
        database,
        member_password_hash,
        start=env_start,
        **SHRUNK,
        sync_window_margin_days=0,
    ):
        rt = SyncRuntime(settings=env.rt.settings, db=database, provider_for=env.rt.provider)
        yield KeepEnv(env, rt)


@pytest.mark.parametrize(("zone", "evening", "hours"), _nights())
async def test_the_graph_window_rolls_at_the_business_midnight(
    daily_window_env: KeepEnv, zone: ZoneInfo, evening: date, hours: int
) -> None:
    """Started at 23:30 local, with no margin past the horizon: the window
    [yesterday, today + horizon + 1] (local midnights) does not roll at 23:50, rolls
    once just after midnight, and its start stays on local midnight through the DST
    day (23 or 25 hours after the previous)."""
    k = daily_window_env
    assert abs(clock.now() - _at(zone, evening, 23, 30)) < timedelta(seconds=30)
    await _business_in(k, zone)
    await k.connect("microsoft")
    await k.settle()
    days_ahead = 30  # seed_space's MaxBookingDaysAhead

    def expected(today: date) -> tuple[datetime, datetime]:
        return (
            _at(zone, today - timedelta(days=1), 0),
            _at(zone, today + timedelta(days=days_ahead + 1), 0),
        )

    first = await k.connection("microsoft")
    assert (first.sync_window_start, first.sync_window_end) == expected(evening)

    await k.advance(timedelta(minutes=20))  # 23:50: the business's day has not ended
    same = await k.connection("microsoft")
    assert same.sync_window_start == first.sync_window_start
    assert same.delta_link == first.delta_link

    await k.advance(timedelta(minutes=20))  # 00:10 (wall time; 01:10/23:10 after a change)
    day = evening + timedelta(days=1)
    assert clock.now().astimezone(zone).date() == day
    rolled = await k.connection("microsoft")
    assert (rolled.sync_window_start, rolled.sync_window_end) == expected(day)
    assert rolled.delta_link and rolled.delta_link != first.delta_link

    # The night of the change (if any) is the next one: the window start moves from
    # the Saturday's midnight to the Sunday's, then to the Monday's.
    steps = []
    previous = rolled.sync_window_start
    for n in (2, 3):  # to 00:10 local on the Monday, then on the Tuesday
        await k.advance(_at(zone, evening + timedelta(days=n), 0, 10) - clock.now())
        current = await k.connection("microsoft")
        today = evening + timedelta(days=n)
        assert (current.sync_window_start, current.sync_window_end) == expected(today)
        steps.append(current.sync_window_start - previous)
        previous = current.sync_window_start
    assert steps[0] == timedelta(hours=24)
    assert steps[1] == timedelta(hours=hours)


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(("zone", "evening", "hours"), _nights())
async def test_an_event_made_at_2330_for_after_the_change_books_local_time(
    keep_env: KeepEnv, provider: str, zone: ZoneInfo, evening: date, hours: int
) -> None:
    """At 23:30 the evening before the clocks change, a member books 10:00-11:00 local
    on the Sunday of the change and on the Monday after: the bookings hold those local
    times, on the offset after the change."""
    k = keep_env
    await _business_in(k, zone)
    member = await k.connect(provider)
    await k.settle()
    sunday = evening + timedelta(days=1)
    monday = evening + timedelta(days=2)
    made = {}
    for day in (sunday, monday):
        start = _at(zone, day, 10)
        made[day] = member.create(f"Meeting {day}", start, start + timedelta(hours=1))
    await k.settle()
    bookings = await _live_bookings(k)
    assert [(b.from_time, b.to_time) for b in bookings] == [
        (_at(zone, day, 10), _at(zone, day, 11)) for day in (sunday, monday)
    ]
    assert [b.from_time.astimezone(zone).hour for b in bookings] == [10, 10]
    # The Sunday's 10:00 is on the new offset, not the one of the evening it was made.
    before = _at(zone, evening, 23, 30).utcoffset()
    after = _at(zone, sunday, 10).utcoffset()
    assert before is not None and after is not None
    assert after - before == timedelta(hours=24 - hours)
    assert bookings[0].from_time.astimezone(UTC).time() == time(
        10 - int(after.total_seconds() // 3600)
    )
    # Nothing refused, nothing moved: the calendar shows exactly what was made.
    seen = sorted(member.events(), key=lambda e: e.start)
    assert [(e.start, e.end) for e in seen] == [
        (_at(zone, day, 10), _at(zone, day, 11)) for day in (sunday, monday)
    ]
    # Past midnight, the Sunday is "today": the booking stays where it is.
    await k.advance(timedelta(hours=1), sweep_too=True)
    assert [b.from_time for b in await _live_bookings(k)] == [
        _at(zone, day, 10) for day in (sunday, monday)
    ]


def _friday_noon(name: str) -> Any:
    """The Friday before night `name`, at 12:00 local."""
    [(zone, evening, hours)] = [(z, e, h) for n, z, e, h in NIGHTS if n == name]
    friday = evening - timedelta(days=1)
    start = _at(zone, friday, 12).isoformat()
    return pytest.param(zone, evening, hours, id=name, marks=pytest.mark.start_at(start))


@pytest.mark.parametrize(
    ("zone", "evening", "hours"),
    [_friday_noon("london-spring-forward"), _friday_noon("new-york-fall-back")],
)
async def test_a_daily_series_in_local_time_spans_the_change(
    keep_env: KeepEnv, zone: ZoneInfo, evening: date, hours: int
) -> None:
    """On the Friday, a Google series 'every day at 09:00' in the business's zone from
    the Saturday before the change to the Monday after: each instance books 09:00
    local, so the UTC times of Saturday's and Sunday's differ by the change."""
    k = keep_env
    await _business_in(k, zone)
    member = await k.connect("google")
    await k.settle()
    first = _at(zone, evening, 9)  # the Saturday
    body = {
        "summary": "Daily stand-up",
        "start": {"dateTime": first.replace(tzinfo=None).isoformat(), "timeZone": zone.key},
        "end": {
            "dateTime": (first + timedelta(minutes=30)).replace(tzinfo=None).isoformat(),
            "timeZone": zone.key,
        },
    }
    emulator = k.env.google
    emulator.create_recurring_event(member.calendar_id, body, "RRULE:FREQ=DAILY;COUNT=3")
    await k.settle()
    bookings = await _live_bookings(k)
    days = [evening + timedelta(days=n) for n in (0, 1, 2)]
    assert [b.from_time for b in bookings] == [_at(zone, d, 9) for d in days]
    assert {b.from_time.astimezone(zone).time() for b in bookings} == {time(9)}
    assert bookings[1].from_time - bookings[0].from_time == timedelta(hours=hours)
    assert len({b.repeat_series_unique_id for b in bookings}) == 1
