"""iCalendar parsing edge cases and the WebDAV XML reader against hostile input."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from spacecal.providers.base import EventWrite, ProviderError, SyncWindow
from spacecal.providers.caldav import compose, ical
from spacecal.providers.caldav import xml as davxml

PARIS = ZoneInfo("Europe/Paris")
WINDOW = SyncWindow(datetime(2031, 1, 1, tzinfo=UTC), datetime(2031, 3, 1, tzinfo=UTC))
HREF = "/cal/room-a/e.ics"


def ics(*lines: str) -> str:
    body = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", *lines, "END:VCALENDAR", ""]
    return "\r\n".join(body)


def parse(data: str, zone: ZoneInfo = PARIS) -> list[ical.CalendarEvent]:
    return ical.parse_resource(HREF, data, zone=zone, window=WINDOW, max_instances=1000)


def vevent(*lines: str) -> list[str]:
    return ["BEGIN:VEVENT", "UID:u1", "DTSTAMP:20310101T000000Z", *lines, "END:VEVENT"]


def test_floating_time_is_read_in_the_calendar_zone() -> None:
    [event] = parse(ics(*vevent("DTSTART:20310110T090000", "DTEND:20310110T100000")))
    assert event.key == HREF and event.series_id is None
    assert event.time is not None
    assert event.time.start == datetime(2031, 1, 10, 8, tzinfo=UTC)


def test_unknown_tzid_falls_back_to_the_calendar_zone() -> None:
    data = ics(
        *vevent(
            "DTSTART;TZID=Nowhere/Atlantis:20310110T090000",
            "DTEND;TZID=Nowhere/Atlantis:20310110T100000",
        )
    )
    [event] = parse(data)
    assert event.time is not None and event.time.start == datetime(2031, 1, 10, 8, tzinfo=UTC)


def test_windows_tzid_and_utc() -> None:
    data = ics(
        *vevent(
            "DTSTART;TZID=W. Europe Standard Time:20310710T090000",
            "DTEND:20310710T080000Z",
        )
    )
    [event] = parse(data)
    assert event.time is not None
    assert event.time.start == datetime(2031, 7, 10, 7, tzinfo=UTC)
    assert event.time.end == datetime(2031, 7, 10, 8, tzinfo=UTC)


def test_all_day_event_and_duration() -> None:
    [event] = parse(ics(*vevent("DTSTART;VALUE=DATE:20310110", "DURATION:P2D")))
    assert event.time is not None and event.time.all_day
    assert event.time.first_day == date(2031, 1, 10) and event.time.day_count == 2
    [bare] = parse(ics(*vevent("DTSTART;VALUE=DATE:20310110")))
    assert bare.time is not None and bare.time.day_count == 1


def test_exdate_and_rdate() -> None:
    data = ics(
        *vevent(
            "DTSTART;TZID=Europe/Paris:20310105T090000",
            "DTEND;TZID=Europe/Paris:20310105T100000",
            "RRULE:FREQ=DAILY;UNTIL=20310107T235959Z",
            "EXDATE;TZID=Europe/Paris:20310106T090000",
            "RDATE;TZID=Europe/Paris:20310120T150000",
        )
    )
    events = {e.key: e for e in parse(data)}
    live = sorted(k for k, e in events.items() if not e.cancelled)
    assert live == [
        f"{HREF}#20310105T080000Z",
        f"{HREF}#20310107T080000Z",
        f"{HREF}#20310120T140000Z",
    ]
    assert events[f"{HREF}#20310106T080000Z"].cancelled
    rdate = events[f"{HREF}#20310120T140000Z"]
    assert rdate.time is not None and rdate.time.end == datetime(2031, 1, 20, 15, tzinfo=UTC)
    assert all(e.series_id == HREF for e in events.values())


def test_all_day_series_until_date_and_cancelled_override() -> None:
    data = ics(
        *vevent("DTSTART;VALUE=DATE:20310105", "RRULE:FREQ=WEEKLY;UNTIL=20310119"),
        "BEGIN:VEVENT",
        "UID:u1",
        "DTSTAMP:20310101T000000Z",
        "RECURRENCE-ID;VALUE=DATE:20310112",
        "DTSTART;VALUE=DATE:20310112",
        "STATUS:CANCELLED",
        "END:VEVENT",
    )
    events = {e.key: e for e in parse(data)}
    assert set(events) == {f"{HREF}#20310105", f"{HREF}#20310112", f"{HREF}#20310119"}
    assert events[f"{HREF}#20310112"].cancelled
    first = events[f"{HREF}#20310105"]
    assert first.time is not None and first.time.all_day
    assert first.original_start == datetime(2031, 1, 5, tzinfo=UTC)


def test_instances_stop_at_the_window_and_keep_the_latest() -> None:
    data = ics(
        *vevent(
            "DTSTART:20200101T090000Z",
            "DTEND:20200101T100000Z",
            "RRULE:FREQ=DAILY",
        )
    )
    events = ical.parse_resource(HREF, data, zone=PARIS, window=WINDOW, max_instances=10)
    assert len(events) == 10
    assert events[-1].key == f"{HREF}#20310228T090000Z"


def test_written_event_round_trips() -> None:
    write = EventWrite(
        idempotency_key="k1",
        title="Room A",
        description="Booked",
        start=datetime(2031, 1, 10, 9, tzinfo=PARIS),
        end=datetime(2031, 1, 10, 10, tzinfo=PARIS),
        time_zone="Europe/Paris",
        marker="5b1e0c9a7d3f4e2a8c6b0d1f3e5a7c9b",
        tentative=True,
    )
    data = compose.event_ics(write, uid="k1", stamp=datetime(2031, 1, 1, tzinfo=UTC))
    assert b"BEGIN:VTIMEZONE" in data
    assert b"X-SPACECAL-MARKER:5b1e0c9a7d3f4e2a8c6b0d1f3e5a7c9b" in data
    assert b"X-SPACECAL-BLOCK" not in data
    [event] = parse(data.decode(), ZoneInfo("UTC"))
    assert event.tentative and event.title == "Room A" and event.busy
    assert event.time is not None and event.time.start == datetime(2031, 1, 10, 8, tzinfo=UTC)


def test_a_block_is_busy_and_says_nothing_but_its_title() -> None:
    """An availability block: opaque marker under X-SPACECAL-BLOCK, no description, no
    alarm and no attendee, busy (TRANSP:OPAQUE)."""
    block = EventWrite(
        idempotency_key="b1",
        title="Booked",
        description="the member's private notes",
        start=datetime(2031, 1, 10, 9, tzinfo=PARIS),
        end=datetime(2031, 1, 10, 10, tzinfo=PARIS),
        time_zone="Europe/Paris",
        marker="9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b",
        block=True,
    )
    data = compose.event_ics(block, uid="b1", stamp=datetime(2031, 1, 1, tzinfo=UTC))
    text = data.decode()
    assert "X-SPACECAL-BLOCK:9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b" in text
    assert "notes" not in text and "VALARM" not in text and "ATTENDEE" not in text
    assert "TRANSP:OPAQUE" in text
    [event] = parse(text, ZoneInfo("UTC"))
    assert event.busy and event.title == "Booked" and event.description == ""


def test_a_transparent_event_is_not_busy() -> None:
    data = compose.event_ics(
        EventWrite(
            idempotency_key="t1",
            title="Free time",
            description="",
            start=datetime(2031, 1, 10, 9, tzinfo=PARIS),
            end=datetime(2031, 1, 10, 10, tzinfo=PARIS),
            time_zone="Europe/Paris",
        ),
        uid="t1",
        stamp=datetime(2031, 1, 1, tzinfo=UTC),
    ).replace(b"TRANSP:OPAQUE", b"TRANSP:TRANSPARENT")
    [event] = parse(data.decode(), ZoneInfo("UTC"))
    assert not event.busy


def test_unreadable_data() -> None:
    with pytest.raises(ical.BadCalendarData):
        parse("this is not a calendar")


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<multistatus xmlns="DAV:"><response><href>&lol3;</href></response></multistatus>"""

EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<multistatus xmlns="DAV:"><response><href>&secret;</href></response></multistatus>"""


@pytest.mark.parametrize("body", [BOMB, EXTERNAL])
def test_hostile_xml_is_refused(body: bytes) -> None:
    with pytest.raises(ProviderError, match="entities or a DTD"):
        davxml.multistatus(body)


def test_not_xml_and_not_multistatus() -> None:
    with pytest.raises(ProviderError, match="not well-formed"):
        davxml.multistatus(b"<html><body>oops")
    with pytest.raises(ProviderError, match="not a WebDAV multistatus"):
        davxml.multistatus(b"<html/>")
    assert davxml.error_conditions(BOMB) == set()


def test_sync_response_parsed() -> None:
    body = b"""<?xml version="1.0"?>
<d:multistatus xmlns:d="DAV:">
 <d:response><d:href>/cal/a%20b.ics</d:href>
  <d:propstat><d:prop><d:getetag>"1"</d:getetag></d:prop>
   <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
 <d:response><d:href>/cal/gone.ics</d:href><d:status>HTTP/1.1 404 Not Found</d:status></d:response>
 <d:sync-token>http://example.com/sync/2</d:sync-token>
</d:multistatus>"""
    found = davxml.multistatus(body)
    assert found.sync_token == "http://example.com/sync/2"
    first, gone = found.responses
    assert davxml.href_path(first.href) == "/cal/a b.ics" and first.text(davxml.GETETAG) == '"1"'
    assert gone.status == 404


# A rule that never matches again made dateutil walk to year 9999 (seconds of CPU per
# resource); sub-daily rules are refused as the mail path refuses them.
@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=31",
        "FREQ=DAILY;BYSETPOS=2",
        "FREQ=YEARLY;BYMONTH=4;BYMONTHDAY=31;BYWEEKNO=20",
        "FREQ=MONTHLY;BYDAY=6MO",
    ],
)
def test_a_rule_that_never_matches_stops_past_the_window(rule: str) -> None:
    data = ics(*vevent("DTSTART:20300101T090000Z", "DTEND:20300101T100000Z", f"RRULE:{rule}"))
    began = time.process_time()
    events, complete = ical.read_resource(HREF, data, zone=PARIS, window=WINDOW, max_instances=1000)
    assert time.process_time() - began < 3.0  # unbounded: 5-15 s
    assert complete
    assert [e.key for e in events] == [f"{HREF}#20300101T090000Z"]  # DTSTART only


def test_the_walk_before_the_window_is_bounded() -> None:
    # Starts in year 1 and never matches: walks at most rules.MAX_RULE_YEARS years.
    data = ics(
        *vevent(
            "DTSTART:00010101T090000Z",
            "DTEND:00010101T100000Z",
            "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
        )
    )
    began = time.process_time()
    events, complete = ical.read_resource(HREF, data, zone=PARIS, window=WINDOW, max_instances=1000)
    assert time.process_time() - began < 3.0
    assert not complete and events == []


@pytest.mark.parametrize("freq", ["SECONDLY", "MINUTELY", "HOURLY"])
def test_sub_daily_rules_are_refused(freq: str) -> None:
    data = ics(
        *vevent(
            "DTSTART:20300101T090000Z",
            "DTEND:20300101T100000Z",
            f"RRULE:FREQ={freq};BYMONTH=2;BYMONTHDAY=31",
        )
    )
    began = time.process_time()
    with pytest.raises(ical.BadCalendarData, match="sub-daily"):
        ical.read_resource(HREF, data, zone=PARIS, window=WINDOW, max_instances=1000)
    assert time.process_time() - began < 3.0
