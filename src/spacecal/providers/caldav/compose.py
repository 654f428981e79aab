"""Writing iCalendar for CalDAV: the events spacecal writes, a change to one event or
instance (an override made from the master when needed), an instance removed (an
EXDATE). Reading is in ical.py; the key rules (href#RECURRENCE-ID) are there too.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, time, tzinfo

from icalendar import Calendar, Event

from spacecal.domain import resolve_time_zone
from spacecal.providers.base import EventWrite
from spacecal.providers.caldav.ical import (
    BOOKING_PROPERTY,
    PRODID,
    BadCalendarData,
    Moment,
    _decoded,
    _original,
    _span,
    _vevents,
    read_calendar,
    rid_moment,
    rid_token,
)


def _wrap(events: Iterable[Event]) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    for event in events:
        calendar.add_component(event)
    return calendar


def _serialize(calendar: Calendar) -> bytes:
    calendar.add_missing_timezones()
    return calendar.to_ical()  # type: ignore[no-any-return]


def event_ics(event: EventWrite, *, uid: str, stamp: datetime) -> bytes:
    """A whole VCALENDAR for an event spacecal writes, in the business's zone."""
    zone = resolve_time_zone(event.time_zone)
    vevent = Event()
    vevent.add("uid", uid)
    vevent.add("dtstamp", stamp.astimezone(UTC))
    vevent.add("last-modified", stamp.astimezone(UTC))
    vevent.add("dtstart", event.start.astimezone(zone))
    vevent.add("dtend", event.end.astimezone(zone))
    vevent.add("summary", event.title)
    vevent.add("description", event.description)
    vevent.add("status", "TENTATIVE" if event.tentative else "CONFIRMED")
    vevent.add("transp", "OPAQUE")
    if event.booking_id is not None:
        vevent.add(BOOKING_PROPERTY, str(event.booking_id))
    return _serialize(_wrap([vevent]))


def _in_form(moment: datetime, like: Moment, zone: tzinfo) -> Moment:
    """`moment` written like `like` (RECURRENCE-ID and EXDATE follow DTSTART's form)."""
    if not isinstance(like, datetime):
        return moment.astimezone(zone).date()
    if like.tzinfo is None:
        return moment.astimezone(zone).replace(tzinfo=None)
    return moment.astimezone(like.tzinfo)


def _find(vevents: list[Event], rid: str | None, zone: tzinfo) -> Event | None:
    for v in vevents:
        value = _decoded(v, "RECURRENCE-ID", zone)
        if rid is None and value is None:
            return v
        if rid is not None and value is not None and rid_token(value) == rid:
            return v
    return None


def patched_ics(
    data: bytes,
    rid: str | None,
    *,
    zone: tzinfo,
    stamp: datetime,
    title: str | None = None,
    description: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    time_zone: str | None = None,
) -> bytes:
    """`data` with the given parts of one event changed: the master (rid None) or one
    instance, whose override is made from the master when there is none yet."""
    calendar = read_calendar(data)
    vevents = _vevents(calendar)
    target = _find(vevents, rid, zone)
    if target is None:
        master = _find(vevents, None, zone)
        if master is None or rid is None:
            raise BadCalendarData("the event to change is not in its resource")
        m_start, duration = _span(master, zone)
        occurrence = _original(rid_moment(rid))
        if not isinstance(m_start, datetime):
            occurrence = datetime.combine(occurrence.date(), time(0), tzinfo=UTC)
        first = _in_form(occurrence, m_start, zone)
        target = Event()
        for name in ("UID", "SUMMARY", "DESCRIPTION", "STATUS", "TRANSP", BOOKING_PROPERTY):
            if name in master:
                target.add(name, master.get(name))
        target.add("recurrence-id", first)
        target.add("dtstart", first)
        target.add("dtend", first + duration)
        calendar.add_component(target)
    write_zone = resolve_time_zone(time_zone) if time_zone else zone
    for name, value in (("SUMMARY", title), ("DESCRIPTION", description)):
        if value is not None:
            target.pop(name, None)
            target.add(name, value)
    for name, moment in (("DTSTART", start), ("DTEND", end)):
        if moment is not None:
            target.pop(name, None)
            target.add(name, moment.astimezone(write_zone))
    if start is not None or end is not None:
        target.pop("DURATION", None)
    for name in ("DTSTAMP", "LAST-MODIFIED"):
        target.pop(name, None)
        target.add(name, stamp.astimezone(UTC))
    sequence = int(target.get("SEQUENCE", 0) or 0)
    target.pop("SEQUENCE", None)
    target.add("sequence", sequence + 1)
    return _serialize(calendar)


def without_instance(data: bytes, rid: str, *, zone: tzinfo, stamp: datetime) -> bytes:
    """`data` with one instance removed: an EXDATE on the master, its override gone."""
    calendar = read_calendar(data)
    vevents = _vevents(calendar)
    master = _find(vevents, None, zone)
    override = _find(vevents, rid, zone)
    if override is not None:
        calendar.subcomponents.remove(override)
    if master is None:
        return _serialize(calendar)
    m_start, _ = _span(master, zone)
    master.add("exdate", _in_form(_original(rid_moment(rid)), m_start, zone))
    for name in ("DTSTAMP", "LAST-MODIFIED"):
        master.pop(name, None)
        master.add(name, stamp.astimezone(UTC))
    return _serialize(calendar)
