"""Bounds on one pull from a hostile CalDAV server: sync pages that never end, and a
resource holding more overrides/EXDATEs than spacecal reads."""

from __future__ import annotations

import re
from collections.abc import Callable

from tests.providers.caldav.test_guard import (  # noqa: F401 (the fixture)
    WINDOW,
    Tiny,
    credentials,
    reply,
    tiny,
)

from spacecal.config import Settings
from spacecal.providers.caldav import CalDavProvider, ical

HREF = "/cal/room-a/e.ics"
XML = {"Content-Type": "application/xml"}


def endless(headers: dict[str, str]) -> bytes:
    """sync-collection pages that are always truncated, each with 40 new changes and a
    new token; an empty multiget."""
    body = headers[":body"]
    if "calendar-multiget" in body:
        return reply("207 Multi-Status", XML, b'<d:multistatus xmlns:d="DAV:"/>')
    found = re.search(r"<[^>]*sync-token>t(\d+)<", body)
    page = int(found[1]) + 1 if found else 1
    items = "".join(
        f"<d:response><d:href>/cal/p{page}-{i}.ics</d:href><d:propstat><d:prop>"
        f'<d:getetag>"e"</d:getetag></d:prop><d:status>HTTP/1.1 200 OK</d:status>'
        "</d:propstat></d:response>"
        for i in range(40)
    )
    page_xml = (
        '<d:multistatus xmlns:d="DAV:"><d:response><d:href>/cal/</d:href>'
        "<d:status>HTTP/1.1 507 Insufficient Storage</d:status></d:response>"
        f"{items}<d:sync-token>t{page}</d:sync-token></d:multistatus>"
    )
    return reply("207 Multi-Status", XML, page_xml.encode())


async def test_endless_sync_pages_stop_at_the_cap_and_carry_the_token(
    tiny: Callable[..., Tiny],  # noqa: F811 (the fixture)
) -> None:
    server = await tiny(endless)
    settings = Settings(allow_private_targets=True, caldav_max_changes_per_pull=100)
    provider = CalDavProvider(settings)
    try:
        url = server.url + "cal/"
        first = await provider.pull(credentials(server.url).to_secret(), url, "t0", WINDOW)
        reports = [h for h in server.seen if "sync-collection" in h[":body"]]
        # 40 changes a page: the third page passes 100; its token is where we stopped.
        assert len(reports) == 3
        assert first.cursor == "t3" and not first.full
        multigets = [h for h in server.seen if "calendar-multiget" in h[":body"]]
        assert sum(h[":body"].count(".ics</") for h in multigets) == 120
        # The next poll goes on from there.
        await provider.pull(credentials(server.url).to_secret(), url, first.cursor, WINDOW)
        reports = [h for h in server.seen if "sync-collection" in h[":body"]]
        assert "t3" in reports[3][":body"]
        # A full pull cut short is not full: nothing missing from it is taken as deleted.
        full = await provider.pull(credentials(server.url).to_secret(), url, None, WINDOW)
        assert not full.full and full.cursor == "t3"
    finally:
        await provider.aclose()


def many_overrides(count: int) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN"]
    lines += [
        "BEGIN:VEVENT",
        "UID:u1",
        "DTSTAMP:20310101T000000Z",
        "DTSTART:20310101T090000Z",
        "DTEND:20310101T100000Z",
        "RRULE:FREQ=DAILY",
        "END:VEVENT",
    ]
    for day in range(count):
        stamp = f"2031{1 + day // 28:02d}{1 + day % 28:02d}T090000Z"
        lines += [
            "BEGIN:VEVENT",
            "UID:u1",
            "DTSTAMP:20310101T000000Z",
            f"RECURRENCE-ID:{stamp}",
            f"DTSTART:{stamp}",
            "DTEND:20310101T100000Z",
            "END:VEVENT",
        ]
    return "\r\n".join([*lines, "END:VCALENDAR", ""])


def many_exdates(count: int) -> str:
    exdates = ",".join(f"2031{1 + d // 28:02d}{1 + d % 28:02d}T090000Z" for d in range(count))
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", "BEGIN:VEVENT", "UID:u1"]
    lines += ["DTSTAMP:20310101T000000Z", "DTSTART:20310101T090000Z"]
    lines += ["DTEND:20310101T100000Z", "RRULE:FREQ=DAILY", f"EXDATE:{exdates}"]
    return "\r\n".join([*lines, "END:VEVENT", "END:VCALENDAR", ""])


def read(data: str, cap: int) -> tuple[list[ical.CalendarEvent], bool]:
    return ical.read_resource(
        HREF, data, zone=ical.UTC, window=WINDOW, max_instances=1000, max_components=cap
    )


def test_too_many_overrides_or_exdates_make_the_resource_unreadable() -> None:
    assert len(read(many_overrides(20), 20)[0]) > 20  # at the cap: read
    assert len(read(many_exdates(20), 20)[0]) > 20
    for data in (many_overrides(21), many_exdates(21)):
        try:
            read(data, 20)
        except ical.BadCalendarData as exc:
            assert "more than 20" in str(exc)
        else:
            raise AssertionError("read past the cap")


def test_deeply_nested_calendar_data_is_unreadable_not_a_crash() -> None:
    nested = "\r\n".join(
        ["BEGIN:VCALENDAR", *["BEGIN:X"] * 20_000, *["END:X"] * 20_000, "END:VCALENDAR", ""]
    )
    try:
        ical.read_resource(HREF, nested, zone=ical.UTC, window=WINDOW, max_instances=10)
    except ical.BadCalendarData as exc:
        assert "nested" in str(exc)
    else:
        raise AssertionError("read a 20,000-deep calendar")
    assert ical.calendar_zone(nested) is None  # a calendar-timezone property alike
