"""Reading an invitation: the calendar part of a MIME message and its VEVENTs.

Everything here is hostile input. The work is bounded before it starts (parts walked,
nesting depth, bytes of calendar text, VEVENTs, instances expanded) and anything that
does not read cleanly is `Malformed`: the message books nothing.
"""

from __future__ import annotations

import email
import email.policy
import re
from calendar import isleap, monthrange
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email.message import Message
from itertools import islice
from typing import NamedTuple
from zoneinfo import ZoneInfo

import icalendar
from dateutil import rrule

from spacecal import recurrence
from spacecal.domain.timezones import UnknownTimeZone, resolve_time_zone

MAX_PARTS = 64
MAX_DEPTH = 8
MAX_CALENDAR_BYTES = 512 * 1024
MAX_EVENTS = 50
MAX_NESTING = 16  # VCALENDAR > VEVENT > VALARM is 3; icalendar's walk() recurses
#: Instances of one series decided per pass (a daily series over a 90-day horizon
#: is 91; the rest wait for the next pass as if beyond the horizon).
MAX_INSTANCES = 200
#: EXDATEs/RDATEs read at most (a long-running series collects many EXDATEs).
MAX_LISTED_DATES = 2000
#: Instances of a series stepped through at most, past ones included (DAILY: 270 years).
MAX_STEPS = 100_000
#: Calendar years a rule is walked at most, matching or not: a series that began
#: longer ago than this is declined, not expanded (DAILY, never matching: ~0.15 s).
MAX_RULE_YEARS = 200
#: A room is not booked every few seconds, minutes or hours: such a rule is refused.
_SUB_DAILY = ("SECONDLY", "MINUTELY", "HOURLY")
_CALENDAR_TYPES = ("text/calendar", "application/ics")
_READ = frozenset(
    {"UID", "DTSTART", "DTEND", "DURATION", "DTSTAMP", "SEQUENCE", "RRULE", "EXDATE", "RDATE"}
    | {"RECURRENCE-ID", "ORGANIZER", "ATTENDEE"}
)


class Malformed(ValueError):
    """The message cannot be read as an invitation (the text says why, for logs)."""


@dataclass(frozen=True)
class ItipEvent:
    """One VEVENT as iTIP needs it; times are aware (UTC)."""

    uid: str
    recurrence_id: datetime | None  # the instance's original start, when this is one
    sequence: int
    dtstamp: datetime | None
    organizer: str  # lowercased address, '' when absent
    attendees: frozenset[str]  # lowercased addresses
    partstats: tuple[tuple[str, str], ...]  # (address, PARTSTAT) as the ATTENDEEs say
    start: datetime
    end: datetime
    all_day: bool
    zone: ZoneInfo
    rrule: str | None  # the RRULE text, when this is a series
    exdates: frozenset[datetime]
    rdates: tuple[datetime, ...]


@dataclass(frozen=True)
class Invitation:
    method: str
    events: tuple[ItipEvent, ...]


def calendar_text(raw: bytes) -> bytes:
    """The first calendar part of a MIME message (bounded walk)."""
    # A cheap count first: the parser's work grows with the number of parts.
    if raw.lower().count(b"content-type:") > MAX_PARTS:
        raise Malformed("too many MIME parts")
    try:
        message = email.message_from_bytes(raw, policy=email.policy.compat32)
    except Exception as exc:  # the email package raises many kinds on hostile input
        raise Malformed("unreadable MIME") from exc
    seen = 0
    stack: list[tuple[Message, int]] = [(message, 0)]
    found: list[tuple[bool, bytes]] = []
    while stack:
        part, depth = stack.pop(0)
        seen += 1
        if seen > MAX_PARTS:
            raise Malformed("too many MIME parts")
        if part.is_multipart():
            if depth >= MAX_DEPTH:
                raise Malformed("MIME nested too deeply")
            payload = part.get_payload()
            if isinstance(payload, list):
                stack.extend((p, depth + 1) for p in payload if isinstance(p, Message))
            continue
        ctype = part.get_content_type()
        filename = (part.get_filename() or "").lower()
        if ctype in _CALENDAR_TYPES or filename.endswith(".ics"):
            data = part.get_payload(decode=True)
            if not isinstance(data, bytes) or not data:
                continue
            if len(data) > MAX_CALENDAR_BYTES:
                raise Malformed("calendar part too large")
            # The part carrying iMIP's method= is the invitation; an .ics copy is a copy.
            found.append((part.get_param("method") is not None, data))
    if found:
        return max(found, key=lambda f: f[0])[1]
    raise Malformed("no calendar part")


def _address(value: object) -> str:
    text = str(value).strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    return text.strip().lower()


def _zone(prop: object, fallback: ZoneInfo) -> ZoneInfo:
    params = getattr(prop, "params", None)
    tzid = params.get("TZID") if params is not None else None
    if not tzid:
        return fallback
    try:
        return resolve_time_zone(str(tzid).strip('"'))
    except UnknownTimeZone:
        return fallback


def _moment(prop: object, zone: ZoneInfo) -> datetime:
    """An aware UTC instant from a DATE-TIME property, reading Windows zone names
    through our table (icalendar may not know them)."""
    value = getattr(prop, "dt", None)
    if isinstance(value, datetime):
        params = getattr(prop, "params", None)
        tzid = params.get("TZID") if params is not None else None
        if tzid:
            try:
                local = resolve_time_zone(str(tzid).strip('"'))
                return value.replace(tzinfo=local).astimezone(UTC)
            except UnknownTimeZone:
                pass  # the VTIMEZONE block icalendar read
        if value.tzinfo is None:
            return value.replace(tzinfo=zone).astimezone(UTC)
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=zone).astimezone(UTC)
    raise Malformed("bad date")


def _int(value: object, default: int = 0) -> int:
    try:
        number = int(str(value))
    except (TypeError, ValueError) as exc:
        raise Malformed("bad SEQUENCE") from exc
    if not 0 <= number < 2**31:
        raise Malformed("bad SEQUENCE")
    return number


def _dates(component: icalendar.Component, name: str, zone: ZoneInfo) -> list[datetime]:
    found: list[datetime] = []
    values = component.get(name)
    if values is None:
        return found
    for entry in values if isinstance(values, list) else [values]:
        for item in getattr(entry, "dts", []):
            found.append(_moment(item, _zone(entry, zone)))
            if len(found) > MAX_LISTED_DATES:
                raise Malformed(f"too many {name}")
    return found


def _numbers(rule: icalendar.vRecur, name: str) -> list[int]:
    try:
        return [int(str(v)) for v in rule.get(name, [])]
    except ValueError as exc:
        raise Malformed(f"bad RRULE {name}") from exc


def _never_matches(rule: icalendar.vRecur) -> bool:
    """BYMONTH with BYMONTHDAY or BYYEARDAY no month has (30 February): dateutil would
    look for a first instance until year 9999, seconds of CPU per message."""
    months = _numbers(rule, "BYMONTH") or list(range(1, 13))
    if any(not 1 <= m <= 12 for m in months):
        return True
    month_days = _numbers(rule, "BYMONTHDAY")
    if month_days and not any(
        0 < abs(d) <= monthrange(2004, m)[1] for d in month_days for m in months
    ):
        return True  # 2004: a leap year, so February's longest
    year_days = _numbers(rule, "BYYEARDAY")
    if not year_days:
        return False
    for year in (2001, 2004):  # a common and a leap year
        length = 366 if isleap(year) else 365
        days = {d if d > 0 else length + 1 + d for d in year_days}
        for m in months:
            first = date(year, m, 1).timetuple().tm_yday
            if any(first <= d < first + monthrange(year, m)[1] for d in days):
                return False
    return True


def _event(component: icalendar.Component, default_zone: ZoneInfo) -> ItipEvent:
    # icalendar drops a property it cannot read and notes it: any of the ones we read
    # missing that way makes the event unreadable, not a different event.
    broken = {str(name).upper() for name, _ in getattr(component, "errors", [])}
    if broken & _READ:
        raise Malformed(f"unreadable {', '.join(sorted(broken & _READ))}")
    uid = str(component.get("UID", "")).strip()
    if not uid or len(uid) > 1024:
        raise Malformed("missing or overlong UID")
    start_prop = component.get("DTSTART")
    if start_prop is None:
        raise Malformed("missing DTSTART")
    zone = _zone(start_prop, default_zone)
    all_day = not isinstance(start_prop.dt, datetime)
    start = _moment(start_prop, zone)
    end_prop = component.get("DTEND")
    if end_prop is not None:
        end = _moment(end_prop, _zone(end_prop, zone))
    elif component.get("DURATION") is not None:
        duration = component.get("DURATION").dt
        if not isinstance(duration, timedelta):
            raise Malformed("bad DURATION")
        end = start + duration
    else:
        end = start + (timedelta(days=1) if all_day else timedelta(0))
    if end <= start:
        raise Malformed("DTEND not after DTSTART")
    recurrence = component.get("RECURRENCE-ID")
    stamp = component.get("DTSTAMP")
    organizer = component.get("ORGANIZER")
    attendees = component.get("ATTENDEE") or []
    if not isinstance(attendees, list):
        attendees = [attendees]
    if len(attendees) > 1000:
        raise Malformed("too many ATTENDEEs")
    rule = component.get("RRULE")
    if rule is not None and any(str(f).upper() in _SUB_DAILY for f in rule.get("FREQ", [])):
        raise Malformed("sub-daily RRULE")
    if rule is not None and _never_matches(rule):
        raise Malformed("RRULE can never match")
    return ItipEvent(
        uid=uid,
        recurrence_id=_moment(recurrence, zone) if recurrence is not None else None,
        sequence=_int(component.get("SEQUENCE", 0)),
        dtstamp=_moment(stamp, zone) if stamp is not None else None,
        organizer=_address(organizer) if organizer is not None else "",
        attendees=frozenset(_address(a) for a in attendees),
        partstats=tuple(
            (_address(a), str(getattr(a, "params", {}).get("PARTSTAT", "")).upper())
            for a in attendees
        ),
        start=start,
        end=end,
        all_day=all_day,
        zone=zone,
        rrule=rule.to_ical().decode() if rule is not None else None,
        exdates=frozenset(_dates(component, "EXDATE", zone)),
        rdates=tuple(_dates(component, "RDATE", zone)),
    )


def parse_invitation(raw: bytes, default_zone: ZoneInfo) -> Invitation:
    """The METHOD and VEVENTs of the message's calendar part."""
    return parse_calendar(calendar_text(raw), default_zone)


_BEGIN_END = re.compile(rb"^(BEGIN|END):", re.IGNORECASE | re.MULTILINE)


def _nesting(data: bytes) -> int:
    """The deepest BEGIN/END nesting, counted on the raw lines (folded lines continue
    with a space, so they never start with BEGIN:)."""
    depth = deepest = 0
    for m in _BEGIN_END.finditer(data):
        depth += 1 if m[1].upper() == b"BEGIN" else -1
        deepest = max(deepest, depth)
    return deepest


def parse_calendar(data: bytes, default_zone: ZoneInfo) -> Invitation:
    """The METHOD and VEVENTs of iCalendar text (bounded like a message)."""
    if len(data) > MAX_CALENDAR_BYTES:
        raise Malformed("calendar too large")
    if _nesting(data) > MAX_NESTING:
        raise Malformed("components nested too deeply")
    try:
        calendar = icalendar.Calendar.from_ical(data)
    except Exception as exc:  # icalendar raises ValueError and others on bad input
        raise Malformed("unreadable iCalendar") from exc
    if not isinstance(calendar, icalendar.Calendar):
        raise Malformed("not a VCALENDAR")
    method = str(calendar.get("METHOD", "")).strip().upper()
    try:
        components = [c for c in calendar.walk("VEVENT")]
    except RecursionError as exc:  # a second guard; _nesting should have refused it
        raise Malformed("components nested too deeply") from exc
    if len(components) > MAX_EVENTS:
        raise Malformed("too many VEVENTs")
    try:
        events = tuple(_event(c, default_zone) for c in components)
    except Malformed:
        raise
    except Exception as exc:  # bad values deep inside icalendar's types
        raise Malformed("bad event values") from exc
    return Invitation(method, events)


class Occurrences(NamedTuple):
    """A series' instances inside a window, as far as the bounded walk could tell."""

    starts: list[datetime]  # original starts (UTC) from `since` up to `until`
    more: bool  # instances after those may exist (decided as the horizon reaches them)
    reached: bool  # False: the walk stopped (MAX_RULE_YEARS, MAX_STEPS) before `until`


def occurrences(event: ItipEvent, until: datetime, since: datetime | None = None) -> Occurrences:
    """The original starts (UTC) of a series' instances from `since` up to `until`
    (at most MAX_INSTANCES). RRULE is expanded in the event's own zone (wall-clock
    times kept across DST), RDATEs added, EXDATEs removed. A single event has one.

    The rule is walked from DTSTART through the year after `until` and MAX_RULE_YEARS
    at most, whether it matches or not (spacecal/recurrence.py): past that year,
    later instances are not looked for now (`more`, the horizon pass looks again); a
    walk stopped before `until` (a series from long ago) cannot say which instances
    the window holds (`reached` is False)."""
    if event.rrule is None and not event.rdates:
        return Occurrences([event.start], False, True)
    floor = since or event.start
    candidates = {event.start, *event.rdates}
    more = False
    reached = True
    if event.rrule is not None:
        local_start = event.start.astimezone(event.zone)
        try:
            rule = rrule.rrulestr(event.rrule, dtstart=local_start, forceset=False)
        except (ValueError, TypeError, OverflowError) as exc:
            raise Malformed("bad RRULE") from exc
        if not isinstance(rule, rrule.rrule):
            raise Malformed("bad RRULE")
        needed = until.year - local_start.year + 2  # through the year after `until`
        stopped: list[bool] = []
        steps = recurrence.walk(recurrence.bounded(rule, min(needed, MAX_RULE_YEARS)), stopped)
        taken = walked = 0
        try:
            for moment in islice(steps, MAX_STEPS):
                walked += 1
                instant = moment.astimezone(UTC)
                if instant < floor:
                    continue
                if instant > until or taken >= MAX_INSTANCES:
                    more = True
                    break
                taken += 1
                candidates.add(instant)
            else:
                if stopped and needed <= MAX_RULE_YEARS:
                    more = True  # walked past `until`'s year; later years are not known
                elif stopped or walked >= MAX_STEPS:
                    reached = False
        except (ValueError, TypeError, OverflowError) as exc:
            raise Malformed("bad RRULE") from exc
    wanted = sorted(c for c in candidates if c not in event.exdates and c >= floor)
    inside = [c for c in wanted if c <= until][:MAX_INSTANCES]
    more = more or len(inside) < len(wanted)
    return Occurrences(inside, more, reached)
