"""A CalDAV server that does not let the account create calendars, end to end through
the portal as a member uses it: Radicale behind a proxy that answers 403 to MKCALENDAR
and MKCOL (tests/support/caldav_proxy.py), as iCloud-like or locked-down servers do.
Adding a resource then lists the member's own calendars, the member picks one
explicitly, and that calendar books the resource and shows the others' bookings."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin, urlsplit

import pytest
from sqlalchemy import select
from tests.support.caldav_env import CalDavEnv, proxied_caldav_env
from tests.support.caldav_proxy import FaultProxy
from tests.support.caldav_servers import CalDavServer
from tests.support.portal import find_form

from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.db.models import Connection

DAY = datetime(2031, 1, 16, tzinfo=UTC)  # the day after the environments' START
_MKCALENDAR = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
    "<D:set><D:prop><D:displayname>{name}</D:displayname>"
    '<C:supported-calendar-component-set><C:comp name="VEVENT"/>'
    "</C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>"
)


@pytest.fixture
async def locked(
    settings: Settings,
    database: Database,
    member_password_hash: str,
    env_start: datetime,
    caldav_servers: dict[str, CalDavServer],
) -> AsyncIterator[tuple[CalDavEnv, FaultProxy]]:
    async for pair in proxied_caldav_env(
        settings,
        database,
        member_password_hash,
        env_start,
        caldav_servers["radicale"],
        refuse=("MKCALENDAR", "MKCOL"),
    ):
        yield pair


def make_own_calendar(cal: CalDavEnv, name: str) -> str:
    """A calendar the member made in their app, straight on the server; its path."""
    path = f"/{cal.server.username}/app-{uuid.uuid4().hex}/"
    answer = cal.app.request(
        "MKCALENDAR",
        urljoin(cal.server.url, path),
        content=_MKCALENDAR.format(name=name).encode(),
        headers={"Content-Type": "application/xml; charset=utf-8"},
    )
    assert answer.status_code == 201, answer.text
    cal.made.append(urljoin(cal.server.url, path))
    return path


async def test_the_member_picks_a_calendar_where_the_server_makes_none(
    locked: tuple[CalDavEnv, FaultProxy],
) -> None:
    cal, proxy = locked
    space = cal.sync.env.space
    room_path = make_own_calendar(cal, "Room A bookings")
    personal_path = make_own_calendar(cal, "Personal")
    page = await cal.connect()
    assert page.status_code == 200 and "is connected" in page.text, page.text

    # "Add to my calendar": the server refuses to make one, so the portal shows the
    # member's calendars to pick from instead of a failure.
    refused_before = proxy.requests
    page = await cal.add(space.room_id)
    assert page.status_code == 200, page.text
    assert urlsplit(str(page.url)).path == f"/portal/resources/{space.room_id}/caldav/pick"
    assert "Pick a calendar for Meeting Room A" in page.text
    assert "Room A bookings" in page.text and "Personal" in page.text
    assert proxy.requests > refused_before
    home = cal.app.request(
        "PROPFIND",
        urljoin(cal.server.url, f"/{cal.server.username}/"),
        headers={"Depth": "1"},
        content=b"",
    )
    assert "spacecal-" not in home.text  # nothing was created after all
    async with cal.engine.connect() as conn:
        assert await conn.scalar(select(Connection.calendar_id)) is None

    # The member picks the calendar they keep for the room.
    picked = urljoin(proxy.url, room_path)
    assert picked in page.text
    form = find_form(page.text, "/caldav/pick")
    page = await cal.browser.submit(form, calendar_id=picked)  # type: ignore[union-attr]
    assert page.status_code == 200, page.text
    assert urlsplit(str(page.url)).path == "/portal"
    assert await cal.calendar_of(space.room_id) == picked
    async with cal.engine.connect() as conn:
        row = (await conn.execute(select(Connection))).one()
    assert (row.verified_calendar_id, row.health) == (picked, "healthy")
    cal.made.pop()  # the member's own calendar: deleted once, by its server path below

    # It books like a calendar spacecal made: an event in it books the room...
    room = cal.member(picked)
    start = DAY.replace(hour=10)
    room.create("Design review", start, start + timedelta(hours=1))
    await cal.poll()
    [booking] = await cal.live_bookings()
    assert (booking.coworker_id, booking.from_time) == (space.alice, start)
    # ...and shows another member's booking as a block; the other calendar stays as
    # the member left it.
    theirs = DAY.replace(hour=14)
    await cal.book(space.bob, space.room_id, theirs)
    await cal.sync.settle()
    shown = {(e.start, e.title) for e in room.events()}
    assert shown == {(start, "Design review"), (theirs, "Booked")}
    assert cal.member(urljoin(proxy.url, personal_path)).events() == []
