"""The CalDAV adapter against real servers: Radicale (http) and Xandikos (https with
its self-signed certificate trusted through SPACECAL_CALDAV_CA_FILE)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

import httpx2
import pytest
from tests.support.caldav_servers import CalDavServer, caldav_settings

from spacecal.domain import EventStatus
from spacecal.providers.base import (
    CalendarNote,
    ConsentRevoked,
    EventWrite,
    ProviderError,
    SyncReset,
    SyncWindow,
)
from spacecal.providers.caldav import (
    CalDavConnectError,
    CalDavCredentials,
    CalDavProvider,
    EditConflict,
    caldav_http_client,
    connect_account,
)
from spacecal.providers.caldav import xml as davxml
from spacecal.providers.caldav.provider import timezone_ics

PARIS = ZoneInfo("Europe/Paris")
WINDOW = SyncWindow(datetime(2031, 1, 1, tzinfo=UTC), datetime(2031, 3, 1, tzinfo=UTC))


@dataclass
class Dav:
    server: CalDavServer
    provider: CalDavProvider
    http: httpx2.AsyncClient
    access: str
    calendar: str

    async def put_raw(self, name: str, ics: str) -> str:
        """A member's own event, written straight to the server (not through spacecal)."""
        creds = CalDavCredentials.from_secret(self.access)
        response = await self.http.put(
            urljoin(self.calendar, name),
            content=ics.encode(),
            headers={"Content-Type": "text/calendar"},
            auth=(creds.username, creds.password),
        )
        assert response.status_code in (201, 204), response.text
        return davxml.href_path(urljoin(self.calendar, name))


@pytest.fixture
async def dav(caldav_server: CalDavServer) -> AsyncIterator[Dav]:
    settings = caldav_settings(caldav_server)
    http = caldav_http_client(settings)
    credentials, _ = await connect_account(
        http, caldav_server.url, caldav_server.username, caldav_server.password, settings=settings
    )
    provider = CalDavProvider(settings, http)
    access = (await provider.refresh(credentials.to_secret())).access_token
    calendar = await provider.create_calendar(access, "Meeting Room A · Riverside", "Europe/Paris")
    yield Dav(caldav_server, provider, http, access, calendar.id)
    await provider.delete_calendar(access, calendar.id)
    await http.aclose()


def write(key: str, start: datetime, hours: int = 1, title: str = "Room A") -> EventWrite:
    return EventWrite(
        idempotency_key=key,
        title=title,
        description="Booked through spacecal",
        start=start,
        end=start + timedelta(hours=hours),
        time_zone="Europe/Paris",
        booking_id=42,
    )


async def test_connect_right_password(caldav_server: CalDavServer) -> None:
    settings = caldav_settings(caldav_server)
    async with caldav_http_client(settings) as http:
        credentials, identity = await connect_account(
            http,
            caldav_server.url,
            caldav_server.username,
            caldav_server.password,
            settings=settings,
        )
    assert credentials.home_url.startswith(caldav_server.url.rstrip("/"))
    assert identity.subject == credentials.principal_url
    assert identity.email == caldav_server.username
    assert "password" not in repr(credentials)
    assert CalDavCredentials.from_secret(credentials.to_secret()) == credentials


async def test_connect_wrong_password(caldav_server: CalDavServer) -> None:
    settings = caldav_settings(caldav_server)
    async with caldav_http_client(settings) as http:
        with pytest.raises(CalDavConnectError, match="refused this username and password") as e:
            await connect_account(
                http, caldav_server.url, caldav_server.username, "wrong", settings=settings
            )
    assert "wrong" not in str(e.value)


async def test_untrusted_certificate_is_a_sentence(caldav_server: CalDavServer) -> None:
    if caldav_server.ca_file is None:
        pytest.skip("plain http server")
    settings = caldav_settings(caldav_server, caldav_ca_file=None)
    async with caldav_http_client(settings) as http:
        with pytest.raises(CalDavConnectError, match="certificate is not trusted"):
            await connect_account(
                http,
                caldav_server.url,
                caldav_server.username,
                caldav_server.password,
                settings=settings,
            )


async def test_calendar_created_transparent_with_zone_and_marker(dav: Dav) -> None:
    facts = await dav.provider.calendar_facts(dav.access, dav.calendar, "ann")
    assert facts.name == "Meeting Room A · Riverside"
    assert facts.owned and facts.can_edit and not facts.default
    assert facts.marked
    creds = CalDavCredentials.from_secret(dav.access)
    body = davxml.propfind([davxml.SCHEDULE_TRANSP, davxml.CALENDAR_TIMEZONE])
    answer = await dav.http.request(
        "PROPFIND",
        dav.calendar,
        content=body,
        headers={"Depth": "0", "Content-Type": "application/xml"},
        auth=(creds.username, creds.password),
    )
    found = davxml.multistatus(answer.content).responses[0]
    assert "TZID:Europe/Paris" in (found.text(davxml.CALENDAR_TIMEZONE) or "")
    if dav.server.name == "radicale":
        # Radicale keeps the property but not its child element (docs/caldav.md).
        assert davxml.SCHEDULE_TRANSP in found.props
    else:
        # Xandikos refuses to set it (and spacecal's dead property): the collection
        # name is the marker there (docs/caldav.md).
        assert dav.calendar.rstrip("/").rsplit("/", 1)[1].startswith("spacecal-")
    listed = await dav.provider.list_calendars(dav.access)
    assert dav.calendar in {c.id for c in listed}


async def test_rename_and_note(dav: Dav) -> None:
    await dav.provider.rename_calendar(dav.access, dav.calendar, "Room B")
    assert (await dav.provider.calendar_facts(dav.access, dav.calendar, "ann")).name == "Room B"
    name = await dav.provider.set_calendar_note(
        dav.access, dav.calendar, name="Room B", note=CalendarNote("no longer synced", "Why")
    )
    assert name == "Room B"
    creds = CalDavCredentials.from_secret(dav.access)
    answer = await dav.http.request(
        "PROPFIND",
        dav.calendar,
        content=davxml.propfind([davxml.CALENDAR_DESCRIPTION]),
        headers={"Depth": "0", "Content-Type": "application/xml"},
        auth=(creds.username, creds.password),
    )
    found = davxml.multistatus(answer.content).responses[0]
    assert found.text(davxml.CALENDAR_DESCRIPTION) == "Why"


async def test_marking_a_picked_calendar(dav: Dav) -> None:
    """A calendar the member picks gets the dead-property marker where the server
    keeps dead properties; Xandikos refuses them, and says so."""
    creds = CalDavCredentials.from_secret(dav.access)
    picked = urljoin(creds.home_url, f"personal-{uuid.uuid4().hex[:8]}/")
    made = await dav.http.request(
        "MKCALENDAR",
        picked,
        content=davxml.mkcalendar("Personal", timezone_ics("Europe/Paris"), extras=False),
        headers={"Content-Type": "application/xml"},
        auth=(creds.username, creds.password),
    )
    assert made.status_code == 201, made.text
    before = await dav.provider.calendar_facts(dav.access, picked, "ann")
    assert not before.marked
    if dav.server.name == "xandikos":
        with pytest.raises(ProviderError, match="refused created-by"):
            await dav.provider.mark_calendar(dav.access, picked)
        return
    await dav.provider.mark_calendar(dav.access, picked)
    assert (await dav.provider.calendar_facts(dav.access, picked, "ann")).marked


async def test_create_is_idempotent_and_pulled(dav: Dav) -> None:
    start = datetime(2031, 1, 20, 9, 0, tzinfo=PARIS)
    first = await dav.provider.create_event(dav.access, dav.calendar, write("k1", start))
    again = await dav.provider.create_event(dav.access, dav.calendar, write("k1", start))
    assert again.event_id == first.event_id and again.etag == first.etag
    pulled = await dav.provider.pull(dav.access, dav.calendar, None, WINDOW)
    assert pulled.full
    [event] = pulled.events
    assert event.key == first.event_id
    assert event.time is not None and event.time.start == start.astimezone(UTC)
    assert event.title == "Room A"
    assert pulled.etags[event.key] == first.etag


async def test_update_patch_delete_with_preconditions(dav: Dav) -> None:
    start = datetime(2031, 1, 21, 9, 0, tzinfo=PARIS)
    made = await dav.provider.create_event(dav.access, dav.calendar, write("k2", start))
    base = await dav.provider.pull(dav.access, dav.calendar, None, WINDOW)
    patched = await dav.provider.patch_event(
        dav.access, dav.calendar, made.event_id, title="⚠ Not booked: Room A", description="x"
    )
    assert patched.etag != made.etag
    moved = await dav.provider.update_event(
        dav.access, dav.calendar, made.event_id, write("k2", start + timedelta(hours=2))
    )
    changes = await dav.provider.pull(dav.access, dav.calendar, base.cursor, WINDOW)
    [event] = changes.events
    assert not changes.full
    assert event.time is not None
    assert event.time.start == (start + timedelta(hours=2)).astimezone(UTC)
    assert changes.etags[event.key] == moved.etag
    # A PUT over a version that is no longer there is refused (412), never blind.
    url = urljoin(dav.calendar, "k2.ics")
    with pytest.raises(EditConflict):
        await dav.provider._put(
            dav.provider._dav(dav.access), url, b"", etag=made.etag, create=False
        )
    await dav.provider.delete_event(dav.access, dav.calendar, made.event_id)
    await dav.provider.delete_event(dav.access, dav.calendar, made.event_id)  # 404: done
    gone = await dav.provider.pull(dav.access, dav.calendar, changes.cursor, WINDOW)
    assert [(e.key, e.status) for e in gone.events] == [(made.event_id, EventStatus.CANCELLED)]


SERIES = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:series-1
DTSTAMP:20310101T000000Z
DTSTART;TZID=Europe/Paris:20310106T090000
DTEND;TZID=Europe/Paris:20310106T100000
RRULE:FREQ=WEEKLY;COUNT=4
EXDATE;TZID=Europe/Paris:20310120T090000
SUMMARY:Standup
END:VEVENT
BEGIN:VEVENT
UID:series-1
DTSTAMP:20310101T000000Z
RECURRENCE-ID;TZID=Europe/Paris:20310113T090000
DTSTART;TZID=Europe/Paris:20310113T140000
DTEND;TZID=Europe/Paris:20310113T150000
SUMMARY:Standup (moved)
END:VEVENT
END:VCALENDAR
"""


async def test_series_with_override_and_exdate(dav: Dav) -> None:
    href = await dav.put_raw("series-1.ics", SERIES.replace("\n", "\r\n"))
    pulled = await dav.provider.pull(dav.access, dav.calendar, None, WINDOW)
    by_key = {e.key: e for e in pulled.events}
    assert set(by_key) == {
        f"{href}#20310106T080000Z",
        f"{href}#20310113T080000Z",
        f"{href}#20310120T080000Z",
        f"{href}#20310127T080000Z",
    }
    moved = by_key[f"{href}#20310113T080000Z"]
    assert moved.series_id == href and moved.title == "Standup (moved)"
    assert moved.time is not None and moved.time.start == datetime(2031, 1, 13, 13, tzinfo=UTC)
    assert moved.original_start == datetime(2031, 1, 13, 8, tzinfo=UTC)
    assert by_key[f"{href}#20310120T080000Z"].cancelled
    # Marking one instance refused writes an override for it alone.
    key = f"{href}#20310127T080000Z"
    await dav.provider.patch_event(dav.access, dav.calendar, key, title="⚠ Not booked: Standup")
    again = await dav.provider.pull(dav.access, dav.calendar, pulled.cursor, WINDOW)
    titles = {e.key: e.title for e in again.events if not e.cancelled}
    assert titles[key] == "⚠ Not booked: Standup"
    assert titles[f"{href}#20310106T080000Z"] == "Standup"
    # Deleting one instance: an EXDATE.
    await dav.provider.delete_event(dav.access, dav.calendar, f"{href}#20310106T080000Z")
    last = await dav.provider.pull(dav.access, dav.calendar, again.cursor, WINDOW)
    assert {e.key for e in last.events if e.cancelled} >= {f"{href}#20310106T080000Z"}


async def test_incremental_sync_and_invalid_token(dav: Dav) -> None:
    first = await dav.provider.pull(dav.access, dav.calendar, None, WINDOW)
    assert first.events == []
    start = datetime(2031, 1, 22, 9, 0, tzinfo=PARIS)
    made = await dav.provider.create_event(dav.access, dav.calendar, write("k3", start))
    second = await dav.provider.pull(dav.access, dav.calendar, first.cursor, WINDOW)
    assert [e.key for e in second.events] == [made.event_id]
    unchanged = await dav.provider.pull(dav.access, dav.calendar, second.cursor, WINDOW)
    assert unchanged.events == []
    with pytest.raises(SyncReset):
        await dav.provider.pull(dav.access, dav.calendar, second.cursor + "-bogus", WINDOW)


async def test_wrong_password_later_is_consent_revoked(dav: Dav) -> None:
    creds = CalDavCredentials.from_secret(dav.access)
    wrong = CalDavCredentials(
        creds.server_url, creds.username, "changed", creds.principal_url, creds.home_url
    ).to_secret()
    with pytest.raises(ConsentRevoked) as caught:
        await dav.provider.pull(wrong, dav.calendar, None, WINDOW)
    assert "changed" not in str(caught.value)


async def test_a_shortened_series_is_read_whole(dav: Dav) -> None:
    href = await dav.put_raw("series-2.ics", SERIES.replace("\n", "\r\n"))
    first = await dav.provider.pull(dav.access, dav.calendar, None, WINDOW)
    shorter = SERIES.replace("COUNT=4", "COUNT=2")
    await dav.put_raw("series-2.ics", shorter.replace("\n", "\r\n"))
    again = await dav.provider.pull(dav.access, dav.calendar, first.cursor, WINDOW)
    assert href in again.whole_series
    assert {e.key for e in again.events if not e.cancelled} == {
        f"{href}#20310106T080000Z",
        f"{href}#20310113T080000Z",
    }
