"""A series read whole (CalDAV reads a changed series' resource whole): linked
instances it no longer has inside the window are deletions, as after a full pull
(sync/reconcile/pull.py `changes_to_decide`, PullResult.whole_series)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from spacecal.domain import CalendarEvent, EventStatus, EventTime, LinkedBooking
from spacecal.providers.base import PullResult, SyncWindow
from spacecal.providers.caldav import ical
from spacecal.sync.reconcile.pull import changes_to_decide
from spacecal.sync.reconcile.target import LinkRow

WINDOW = SyncWindow(datetime(2031, 1, 1, tzinfo=UTC), datetime(2031, 3, 1, tzinfo=UTC))
HREF = "/cal/series.ics"


def link(key: str, start: datetime) -> LinkRow:
    booking = LinkedBooking(1, start, start + timedelta(hours=1), 1)
    return LinkRow(key, HREF, 1, None, 1, None, None, False, None, None, booking)


def instance(day: int) -> CalendarEvent:
    start = datetime(2031, 1, day, 9, tzinfo=UTC)
    return CalendarEvent(
        f"{HREF}#{ical.rid_token(start)}",
        EventStatus.CONFIRMED,
        EventTime.timed(start, start + timedelta(hours=1)),
        series_id=HREF,
        original_start=start,
    )


def decide(pull: PullResult, links: dict[str, LinkRow]) -> dict[str, EventStatus]:
    target: Any = SimpleNamespace(provider="google")  # only its capabilities are read
    events = changes_to_decide(pull, links, {}, target, WINDOW)
    return {e.key: e.status for e in events}


def test_a_shortened_series_cancels_the_instances_it_lost() -> None:
    kept, lost = instance(6), instance(13)
    old = datetime(2029, 1, 6, 9, tzinfo=UTC)  # outside the window: its absence says nothing
    links = {
        kept.key: link(kept.key, datetime(2031, 1, 6, 9, tzinfo=UTC)),
        lost.key: link(lost.key, datetime(2031, 1, 13, 9, tzinfo=UTC)),
        f"{HREF}#{ical.rid_token(old)}": link(f"{HREF}#{ical.rid_token(old)}", old),
    }
    pull = PullResult([kept], "t2", full=False, whole_series=frozenset({HREF}))
    assert decide(pull, links) == {kept.key: EventStatus.CONFIRMED, lost.key: EventStatus.CANCELLED}
    # Without the promise (a series cut short by the instance cap), nothing is inferred.
    partial = PullResult([kept], "t2", full=False)
    assert decide(partial, links) == {kept.key: EventStatus.CONFIRMED}


def test_read_resource_says_when_the_cap_cut_the_window() -> None:
    data = "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//t//EN",
            "BEGIN:VEVENT",
            "UID:u",
            "DTSTAMP:20310101T000000Z",
            "DTSTART:20300101T090000Z",
            "DTEND:20300101T100000Z",
            "RRULE:FREQ=DAILY",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )
    events, complete = ical.read_resource(HREF, data, zone=UTC, window=WINDOW, max_instances=2000)
    assert complete and len(events) == 424  # 2030-01-01 .. 2031-02-28
    # The cap drops the oldest first: all the window holds (59 days) still there.
    events, complete = ical.read_resource(HREF, data, zone=UTC, window=WINDOW, max_instances=59)
    assert complete and len(events) == 59
    assert events[0].original_start == WINDOW.start + timedelta(hours=9)
    # One fewer, and an instance inside the window is missing: no promise.
    _, complete = ical.read_resource(HREF, data, zone=UTC, window=WINDOW, max_instances=58)
    assert not complete
