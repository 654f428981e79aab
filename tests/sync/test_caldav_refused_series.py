"""A refused series in a CalDAV calendar (chaos seed 82): every instance of one `.ics`
resource is marked in its own write, each write changing the resource's etag, so
every instance but the last is pulled again in a version spacecal did not write
last. Already showing its mark, it must not be written again: before the fix each
poll rewrote all but one instance's mark, and every write started the next round.
Against Radicale, spacecal's writes counted at the proxy in front of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.support.caldav_env import CalDavEnv
from tests.support.caldav_proxy import FaultProxy

from spacecal.domain.marks import TITLE_PREFIX

DAY = datetime(2031, 1, 16, tzinfo=UTC)  # the day after the environments' START


async def test_a_refused_series_is_marked_once_and_stays_quiet(
    proxied: tuple[CalDavEnv, FaultProxy],
) -> None:
    cal, proxy = proxied
    room = cal.sync.env.space.room_id
    await cal.connect()
    await cal.add(room)
    calendar = await cal.calendar_of(room)
    assert calendar
    member = cal.member(calendar)
    # Off the room's 30-minute grid: every instance is refused.
    start = DAY.replace(hour=15, minute=10)
    member.series("Standup", start, start + timedelta(hours=1), 3)
    await cal.poll()
    seen = member.events()
    assert len(seen) == 3
    assert all(e.title == TITLE_PREFIX + "Standup" for e in seen), seen
    assert await cal.live_bookings() == []

    # Polls go on (the first may still read spacecal's own last write): no more writes.
    await cal.poll()
    writes = proxy.writes
    for _ in range(3):
        await cal.poll()
    assert proxy.writes == writes, f"{proxy.writes - writes} write(s) on quiet polls"
    assert [e.title for e in member.events()] == [TITLE_PREFIX + "Standup"] * 3
