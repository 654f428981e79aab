"""iCalendar (RFC 5545) <-> spacecal's events, with the `icalendar` library.

Event keys, mirroring how Google and Graph key instances so `event_links` work alike:

- a calendar object resource (one `.ics`) holding a single event: its href path,
  decoded (`/calendars/ann/room-a/abc.ics`);
- an instance of a recurring event: `<href path>#<RECURRENCE-ID>`, the recurrence id
  in UTC (`20310115T090000Z`) or as a date for all-day series (`20310115`); its
  `series_id` is the href path, so a deleted resource (one 404 in a sync report)
  cancels every instance linked to it (sync/reconcile/pull.py, "cancelled series").

Times: a TZID with its VTIMEZONE or a known IANA/Windows name is honoured; a floating
time, or a TZID nobody knows, is read in the calendar's zone (its calendar-timezone,
which spacecal sets to the business's zone). Instances are expanded from a year
before the sync window to its end (the latest `max_instances` kept); instances
removed by EXDATE inside that span are reported cancelled.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from icalendar import Calendar, Event
from icalendar.prop import vDDDLists

from spacecal.domain import CalendarEvent, EventStatus, EventTime, resolve_time_zone
from spacecal.providers.base import SyncWindow
from spacecal.providers.caldav import rules

# spacecal's marker: an opaque value only (issue 19), never a booking or member id;
# blocks carry X-SPACECAL-BLOCK instead. Sync knows both by their links, never by
# reading these back.
MARKER_PROPERTY = "X-SPACECAL-MARKER"
BLOCK_PROPERTY = "X-SPACECAL-BLOCK"
PRODID = "-//spacecal//CalDAV//EN"
HISTORY = timedelta(days=366)
_MAX_STEPS = 200_000  # occurrences walked per series
_INSTANCE = re.compile(r"^(?P<href>.+)#(?P<rid>\d{8}(?:T\d{6}Z)?)$")

Moment = datetime | date


class BadCalendarData(ValueError):
    """The calendar data cannot be read as an event."""


def instance_key(href: str, rid: str) -> str:
    return f"{href}#{rid}"


def split_key(key: str) -> tuple[str, str | None]:
    """(href path, recurrence id or None) of an event key."""
    found = _INSTANCE.match(key)
    if found is None:
        return key, None
    return found["href"], found["rid"]


def rid_token(moment: Moment) -> str:
    if isinstance(moment, datetime):
        return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return moment.strftime("%Y%m%d")


def rid_moment(token: str) -> Moment:
    if "T" in token:
        return datetime.strptime(token, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return datetime.strptime(token, "%Y%m%d").date()


def _aware(value: Moment, zone: tzinfo) -> Moment:
    """A datetime with its zone (floating or unknown TZID: `zone`); dates unchanged."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=zone)
    return value


def _decoded(component: Event, name: str, zone: tzinfo) -> Moment | None:
    if name not in component:
        return None
    value = component.decoded(name)
    if isinstance(value, date):
        return _aware(value, zone)
    return None


def _span(component: Event, zone: tzinfo) -> tuple[Moment, timedelta]:
    start = _decoded(component, "DTSTART", zone)
    if start is None:
        raise BadCalendarData("an event without DTSTART")
    end = _decoded(component, "DTEND", zone)
    if end is None and "DURATION" in component:
        duration = component.decoded("DURATION")
        if isinstance(duration, timedelta):
            return start, duration
    if end is None:
        return start, timedelta(days=1) if not isinstance(start, datetime) else timedelta(0)
    if isinstance(start, datetime) != isinstance(end, datetime):
        start, end = _as_datetime(start, zone), _as_datetime(end, zone)
    duration = end - start
    return start, max(duration, timedelta(0))


def _as_datetime(value: Moment, zone: tzinfo) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time(0), tzinfo=zone)


def _event_time(start: Moment, duration: timedelta) -> EventTime:
    if isinstance(start, datetime):
        return EventTime.timed(start, start + duration)
    days = max(1, duration.days)
    return EventTime.days(start, start + timedelta(days=days))


def _original(moment: Moment) -> datetime:
    if isinstance(moment, datetime):
        return moment.astimezone(UTC)
    return datetime.combine(moment, time(0), tzinfo=UTC)


def _changed_at(component: Event) -> datetime | None:
    for name in ("LAST-MODIFIED", "DTSTAMP"):
        if name in component:
            value = component.decoded(name)
            if isinstance(value, datetime):
                return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def _status(component: Event) -> EventStatus:
    status = str(component.get("STATUS", "CONFIRMED")).upper()
    if status == "CANCELLED":
        return EventStatus.CANCELLED
    if status == "TENTATIVE":
        return EventStatus.TENTATIVE
    return EventStatus.CONFIRMED


def _event(
    key: str,
    component: Event,
    when: EventTime,
    *,
    series: str | None = None,
    original: datetime | None = None,
) -> CalendarEvent:
    status = _status(component)
    if status is EventStatus.CANCELLED:
        return CalendarEvent(key, status, series_id=series, original_start=original)
    return CalendarEvent(
        key=key,
        status=status,
        time=when,
        series_id=series,
        original_start=original,
        title=str(component.get("SUMMARY", "")),
        description=str(component.get("DESCRIPTION", "")),
        changed_at=_changed_at(component),
        busy=str(component.get("TRANSP", "OPAQUE")).upper() != "TRANSPARENT",
    )


#: Components nested deeper than this are refused before parsing (VCALENDAR >
#: VEVENT > VALARM is 3; icalendar recurses per level).
MAX_NESTING = 10
_BEGIN_END = re.compile(rb"^(BEGIN|END):", re.IGNORECASE | re.MULTILINE)


def _check_nesting(data: bytes | str) -> None:
    raw = data.encode() if isinstance(data, str) else data
    depth = 0
    for found in _BEGIN_END.finditer(raw):
        depth += 1 if found[1].upper() == b"BEGIN" else -1
        if depth > MAX_NESTING:
            raise BadCalendarData(f"components nested deeper than {MAX_NESTING}")


def read_calendar(data: bytes | str) -> Calendar:
    _check_nesting(data)
    try:
        return Calendar.from_ical(data)
    except (ValueError, IndexError, KeyError) as exc:
        raise BadCalendarData(f"unreadable calendar data ({type(exc).__name__})") from None
    except RecursionError:
        raise BadCalendarData("calendar data nested too deeply") from None


def _vevents(calendar: Calendar) -> list[Event]:
    return [c for c in calendar.walk("VEVENT") if isinstance(c, Event)]


def _dates(
    component: Event, name: str, base: Moment, zone: tzinfo, *, limit: int | None = None
) -> list[Moment]:
    """RDATE/EXDATE values in the form of the series' start (all-day: dates); more
    than `limit` of them is BadCalendarData."""
    raw: Any = component.get(name)
    if raw is None:
        return []
    lists = raw if isinstance(raw, list) else [raw]
    out: list[Moment] = []
    for item in lists:
        if not isinstance(item, vDDDLists):
            continue
        for value in item.dts:
            moment = value.dt[0] if isinstance(value.dt, tuple) else value.dt  # PERIOD
            if isinstance(base, datetime):
                if not isinstance(moment, datetime):
                    moment = datetime.combine(moment, base.timetz().replace(tzinfo=None))
                out.append(_aware(moment, base.tzinfo or zone))
            else:
                out.append(moment.date() if isinstance(moment, datetime) else moment)
            if limit is not None:
                _too_many(name + "s", len(out), limit)
    return out


def _occurrences(
    master: Event, start: Moment, zone: tzinfo, upper: datetime, cut: list[bool], limit: int
) -> Iterator[Moment]:
    """The series' instances in time order, bounded (rules.py)."""
    base = start if isinstance(start, datetime) else datetime.combine(start, time(0))
    found: Any = master.get("RRULE")
    found = found if isinstance(found, list) else [found] if found is not None else []
    _too_many("RRULEs", len(found), limit)
    dates = [base]  # DTSTART is always the first instance (RFC 5545 3.8.5.3)
    for extra in _dates(master, "RDATE", start, zone, limit=limit):
        dates.append(extra if isinstance(extra, datetime) else datetime.combine(extra, time(0)))
    try:
        for moment in rules.walk(found, base, dates, upper, cut):
            yield moment if isinstance(start, datetime) else moment.date()
    except rules.RuleRefused as exc:
        raise BadCalendarData(str(exc)) from None


def parse_resource(
    href: str,
    data: bytes | str,
    *,
    zone: tzinfo,
    window: SyncWindow,
    max_instances: int,
    max_components: int = 1000,
) -> list[CalendarEvent]:
    """The events of one calendar object resource: a single event, or the instances
    of a series (overrides applied, EXDATEs as cancellations) up to `window.end`."""
    return read_resource(
        href,
        data,
        zone=zone,
        window=window,
        max_instances=max_instances,
        max_components=max_components,
    )[0]


def _too_many(what: str, count: int, cap: int) -> None:
    if count > cap:
        raise BadCalendarData(
            f"more than {cap} {what} in one event (SPACECAL_CALDAV_MAX_COMPONENTS): "
            "split the series or remove old exceptions"
        )


def read_resource(
    href: str,
    data: bytes | str,
    *,
    zone: tzinfo,
    window: SyncWindow,
    max_instances: int,
    max_components: int = 1000,
) -> tuple[list[CalendarEvent], bool]:
    """`parse_resource`, and whether every instance inside the window is there (False
    when the instance cap or the step limit cut the series short). A resource holding
    more than `max_components` VEVENTs, EXDATEs or RDATEs is BadCalendarData."""
    vevents = _vevents(read_calendar(data))
    _too_many("overrides", len(vevents) - 1, max_components)  # besides the master
    master = next((v for v in vevents if "RECURRENCE-ID" not in v), None)
    overrides: dict[str, Event] = {}
    for v in vevents:
        rid = _decoded(v, "RECURRENCE-ID", zone)
        if rid is not None:
            overrides[rid_token(rid)] = v
    if master is not None and not overrides and "RRULE" not in master and "RDATE" not in master:
        start, duration = _span(master, zone)
        return [_event(href, master, _event_time(start, duration))], True
    lower, upper = window.start - HISTORY, window.end
    kept: deque[CalendarEvent] = deque(maxlen=max_instances)  # in time order, latest kept
    extra: list[CalendarEvent] = []  # EXDATE cancellations, overrides of no instance
    complete = True
    if master is not None:
        start, duration = _span(master, zone)
        exdates = _dates(master, "EXDATE", start, zone, limit=max_components)
        excluded = {rid_token(m) for m in exdates}
        cut: list[bool] = []
        moments = _occurrences(master, start, zone, upper, cut, max_components)
        for steps, moment in enumerate(moments):
            instant = _original(moment)
            if instant >= upper:
                break
            if steps > _MAX_STEPS:
                complete = False
                break
            token = rid_token(moment)
            if instant < lower or token in excluded:
                continue
            key = instance_key(href, token)
            override = overrides.pop(token, None)
            if override is not None:
                o_start, o_duration = _span(override, zone)
                when = _event_time(o_start, o_duration)
                event = _event(key, override, when, series=href, original=instant)
            else:
                event = _event(
                    key, master, _event_time(moment, duration), series=href, original=instant
                )
            if len(kept) == max_instances and (kept[0].original_start or upper) >= window.start:
                complete = False  # the oldest goes, and it lies inside the window
            kept.append(event)
        if cut:
            complete = False
        for token in sorted(excluded):
            instant = _original(rid_moment(token))
            if lower <= instant < upper:
                extra.append(
                    CalendarEvent(
                        instance_key(href, token),
                        EventStatus.CANCELLED,
                        series_id=href,
                        original_start=instant,
                    )
                )
    for token, override in overrides.items():  # overrides of no expanded instance
        instant = _original(rid_moment(token))
        if lower <= instant < upper:
            o_start, o_duration = _span(override, zone)
            when = _event_time(o_start, o_duration)
            key = instance_key(href, token)
            extra.append(_event(key, override, when, series=href, original=instant))
    return [*kept, *extra], complete


def calendar_zone(data: str) -> tzinfo | None:
    """The zone of a calendar-timezone property (a VCALENDAR with one VTIMEZONE)."""
    try:
        _check_nesting(data)
        calendar = Calendar.from_ical(data)
    except (ValueError, IndexError, KeyError, RecursionError):  # BadCalendarData too
        return None
    for component in calendar.walk("VTIMEZONE"):
        tzid = str(component.get("TZID", ""))
        try:
            return resolve_time_zone(tzid)
        except ValueError:
            try:
                return component.to_tz()  # type: ignore[no-any-return]
            except (ValueError, KeyError, IndexError):
                return None
    return None
