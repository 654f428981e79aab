"""A lost answer to a write spacecal made in a CalDAV calendar, then the member
changing what it wrote before spacecal heard back (chaos seed 246), against Radicale
behind the fault proxy: the retried create finds the event there (412) but changed,
so it must not count that version as its own write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.support.caldav_env import CalDavEnv
from tests.support.caldav_proxy import FaultProxy

DAY = datetime(2031, 1, 16, tzinfo=UTC)  # the day after the environments' START


async def test_a_block_moved_before_its_lost_answer_was_retried_is_put_back(
    proxied: tuple[CalDavEnv, FaultProxy],
) -> None:
    cal, proxy = proxied
    space = cal.sync.env.space
    await cal.connect()
    await cal.add(space.room_id)
    calendar = await cal.calendar_of(space.room_id)
    assert calendar
    alice = cal.member(calendar)

    # Bob books; the block's PUT reaches Radicale but its answer is lost.
    proxy.add("lost_response", method="PUT")
    start = DAY.replace(hour=10)
    bob = await cal.book(space.bob, space.room_id, start)
    await cal.sync.settle()
    assert proxy.hits == {"lost_response": 1}
    [block] = alice.events()
    assert (block.title, block.start) == ("Booked", start)

    # Alice drags it away in her app before spacecal tries again.
    alice.move(block.id, DAY.replace(hour=15), DAY.replace(hour=16))
    for _ in range(2):
        await cal.poll()
    assert [(e.title, e.start, e.end) for e in alice.events()] == [
        ("Booked", start, start + timedelta(hours=1))
    ]
    [booking] = await cal.live_bookings()
    assert (booking.id, booking.coworker_id, booking.from_time) == (bob, space.bob, start)
