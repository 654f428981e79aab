"""The chaos checks can fail: each breaks on the state it exists to catch."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime, time, timedelta

from sqlalchemy import update
from tests.chaos.harness import ChaosEnv
from tests.chaos.invariants import check_calendars, check_overlaps
from tests.chaos.scenario import LONDON, Scenario

from spacecal import clock
from spacecal.db.models import Booking


def tomorrow_at(hour: int) -> datetime:
    day = clock.now().astimezone(LONDON).date() + timedelta(days=1)
    return datetime.combine(day, time(hour), tzinfo=LONDON)


async def test_the_checks_see_a_copy_a_stray_event_and_a_booking_without_event(
    make_chaos_env: Callable[..., AsyncIterator[ChaosEnv]],
) -> None:
    async for env in make_chaos_env():
        scenario = Scenario(env, seed=0, steps=0)
        await scenario.connect()
        start = tomorrow_at(10)
        made = await env.env.api.post(
            "/api/spaces/bookings",
            json={
                "ResourceId": env.env.space.room_id,
                "CoworkerId": env.env.space.alice,
                "FromTime": start.isoformat(),
                "ToTime": (start + timedelta(hours=1)).isoformat(),
            },
        )
        assert made.status_code == 200, made.text
        await env.settle()
        assert await check_calendars(env, scenario) == []
        assert await check_overlaps(env) == []

        # A second copy of the booking's event (what a duplicate write would leave).
        google = next(c for c in scenario.calendars if (c.who, c.provider) == ("alice", "google"))
        google.member.create("Meeting Room A", start, start + timedelta(hours=1))
        problems = await check_calendars(env, scenario)
        assert any("alice/google: unmarked event" in p for p in problems), problems

        # The booking moves and no calendar hears of it (a lost trigger, unswept).
        async with env.engine.begin() as conn:
            await conn.execute(
                update(Booking).values(
                    from_time=start + timedelta(hours=3), to_time=start + timedelta(hours=4)
                )
            )
        problems = await check_calendars(env, scenario)
        assert any("alice/microsoft: live booking" in p for p in problems), problems
        assert any("alice/microsoft: unmarked event" in p for p in problems), problems
        # bob's calendars showed alice's booking as a block where it was, not where it is.
        assert any(p.startswith("bob/") and "has no block" in p for p in problems), problems
        assert any(p.startswith("bob/") and "shows no other" in p for p in problems), problems


async def test_the_checks_read_carols_caldav_calendar(
    make_chaos_env: Callable[..., AsyncIterator[ChaosEnv]],
) -> None:
    """Seed 0 is even: Carol is on CalDAV, and her calendar is checked as well."""
    async for env in make_chaos_env(seed=0):
        scenario = Scenario(env, seed=0, steps=0)
        await scenario.connect()
        carol = next(c for c in scenario.calendars if c.provider == "caldav")
        start = tomorrow_at(11)
        made = await env.env.api.post(
            "/api/spaces/bookings",
            json={
                "ResourceId": env.env.space.room_id,
                "CoworkerId": env.env.space.alice,
                "FromTime": start.isoformat(),
                "ToTime": (start + timedelta(hours=1)).isoformat(),
            },
        )
        assert made.status_code == 200, made.text
        await env.settle()
        assert await check_calendars(env, scenario) == []
        # Alice's booking is a block in Carol's calendar; her app deletes it and adds
        # an event of her own that no poll has read yet.
        [block] = carol.member.events()
        carol.member.delete(block.id)
        carol.member.create("carol 1", start + timedelta(hours=2), start + timedelta(hours=3))
        problems = await check_calendars(env, scenario)
        assert any(p.startswith("carol/caldav") and "has no block" in p for p in problems)
        assert any(p.startswith("carol/caldav: unmarked event") for p in problems), problems
        # The poll puts the block back and books her event: quiet again.
        await env.advance(timedelta(seconds=121))
        await env.periodic()
        assert await check_calendars(env, scenario) == []
