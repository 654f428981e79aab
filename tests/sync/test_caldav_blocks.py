"""Availability blocks (issue 19) in a CalDAV calendar, end to end against real servers
(Radicale and Xandikos): Alice connects CalDAV through the portal; Bob's bookings of
the same room appear in her calendar as anonymous busy blocks, follow his booking when
it moves or is cancelled, and come back when Alice deletes or moves one in her app;
touching a block never changes Bob's booking nor books anything for Alice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from tests.support.caldav_env import CalDavEnv, caldav_env
from tests.support.caldav_member import CalDavMember
from tests.support.caldav_servers import CalDavServer

from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.db.models import Booking

DAY = datetime(2031, 1, 16, tzinfo=UTC)  # the day after the environments' START


@pytest.fixture
async def cal(
    settings: Settings,
    database: Database,
    member_password_hash: str,
    env_start: datetime,
    caldav_server: CalDavServer,
) -> AsyncIterator[CalDavEnv]:
    async for env in caldav_env(settings, database, member_password_hash, env_start, caldav_server):
        yield env


def blocks(member: CalDavMember) -> dict[str, tuple[datetime, datetime, bytes]]:
    """The block resources of the calendar as the member's app reads them: href ->
    (start, end, raw iCalendar)."""
    data = member.resources()
    out = {}
    for seen in member.events():
        raw = data[seen.id]
        if b"X-SPACECAL-BLOCK" in raw:
            out[seen.id] = (seen.start, seen.end, raw)
    return out


async def test_another_members_booking_is_a_block_that_follows_it(cal: CalDavEnv) -> None:
    space = cal.sync.env.space
    assert (await cal.connect()).status_code == 200
    page = await cal.add(space.room_id)
    assert page.status_code == 200, page.text
    calendar = await cal.calendar_of(space.room_id)
    assert calendar
    alice = cal.member(calendar)

    # Bob books the room elsewhere: Alice's calendar shows it busy, and nothing more.
    start = DAY.replace(hour=10)
    bob = await cal.book(space.bob, space.room_id, start)
    await cal.sync.settle()
    [(href, (b_start, b_end, raw))] = blocks(alice).items()
    assert (b_start, b_end) == (start, start + timedelta(hours=1))
    [seen] = [e for e in alice.events() if e.id == href]
    assert seen.title == "Booked" and seen.description == ""
    text = raw.decode()
    assert "TRANSP:OPAQUE" in text
    for detail in ("Bob", "bob@example.com", "ATTENDEE", "ORGANIZER", "VALARM"):
        assert detail not in text, detail
    async with cal.engine.connect() as conn:
        unique = await conn.scalar(select(Booking.unique_id).where(Booking.id == bob))
    assert str(unique) not in text and str(unique).replace("-", "") not in text

    # Bob's booking moves: the block moves with it.
    moved = DAY.replace(hour=13)
    answer = await cal.sync.env.api.put(
        "/api/spaces/bookings",
        json={
            "Id": bob,
            "ResourceId": space.room_id,
            "CoworkerId": space.bob,
            "FromTime": moved.isoformat(),
            "ToTime": (moved + timedelta(hours=1)).isoformat(),
        },
    )
    assert answer.status_code == 200 and answer.json()["WasSuccessful"], answer.text
    await cal.sync.settle()
    assert [v[:2] for v in blocks(alice).values()] == [(moved, moved + timedelta(hours=1))]

    # Alice deletes the block in her app: the next poll puts it back; Bob keeps his
    # booking and Alice books nothing.
    [href] = blocks(alice)
    alice.delete(href)
    assert blocks(alice) == {}
    await cal.poll()
    assert [v[:2] for v in blocks(alice).values()] == [(moved, moved + timedelta(hours=1))]
    [booking] = await cal.live_bookings()
    assert (booking.id, booking.coworker_id, booking.from_time) == (bob, space.bob, moved)

    # Alice drags the block elsewhere: it goes back where Bob's booking is.
    [href] = blocks(alice)
    alice.move(href, DAY.replace(hour=16), DAY.replace(hour=17))
    await cal.poll()
    assert [v[:2] for v in blocks(alice).values()] == [(moved, moved + timedelta(hours=1))]
    [booking] = await cal.live_bookings()
    assert (booking.id, booking.from_time) == (bob, moved)
    assert [e for e in alice.events() if e.id not in blocks(alice)] == []

    # Bob cancels: the block goes.
    answer = await cal.sync.env.api.delete(f"/api/spaces/bookings/{bob}")
    assert answer.status_code == 200, answer.text
    await cal.sync.settle()
    assert blocks(alice) == {}
    assert alice.events() == []


async def test_alices_own_booking_is_her_event_not_a_block(cal: CalDavEnv) -> None:
    """Her own booking made elsewhere is written as her event (not a block); a block
    shows only others' bookings."""
    space = cal.sync.env.space
    await cal.connect()
    await cal.add(space.room_id)
    calendar = await cal.calendar_of(space.room_id)
    assert calendar
    alice = cal.member(calendar)
    mine = DAY.replace(hour=9)
    theirs = DAY.replace(hour=11)
    await cal.book(space.alice, space.room_id, mine)
    await cal.book(space.bob, space.room_id, theirs)
    await cal.sync.settle()
    found = blocks(alice)
    assert [v[:2] for v in found.values()] == [(theirs, theirs + timedelta(hours=1))]
    others = [e for e in alice.events() if e.id not in found]
    assert [(e.start, e.end) for e in others] == [(mine, mine + timedelta(hours=1))]
    assert others[0].title != "Booked"
