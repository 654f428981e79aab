"""Graph ``patternedRecurrence`` → occurrence start times.

Supported patterns: ``daily``, ``weekly``, ``absoluteMonthly``, ``relativeMonthly``,
``absoluteYearly``, ``relativeYearly`` with ``interval``, ``daysOfWeek``,
``dayOfMonth``, ``month``, ``index`` (first..fourth, last) and ``firstDayOfWeek``;
ranges ``endDate`` (inclusive date), ``numbered`` (``numberOfOccurrences``) and
``noEnd``. Occurrences start at the series' wall-clock start time in the range's
``recurrenceTimeZone`` (else the event's start zone), on or after ``range.startDate``,
so a series keeps its local time across DST changes, as Outlook does.
A ``relative*`` pattern with several days means "the index-th of those days"
(``bysetpos``). Expansion is lazy and bounded by the caller's window.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from typing import Any, Literal

from dateutil import rrule

from .timezones import UnknownTimeZone, resolve_zone

_DAYS = {
    "monday": rrule.MO,
    "tuesday": rrule.TU,
    "wednesday": rrule.WE,
    "thursday": rrule.TH,
    "friday": rrule.FR,
    "saturday": rrule.SA,
    "sunday": rrule.SU,
}
_INDEX = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
_MAX_OCCURRENCES = 5000


class RecurrenceError(ValueError):
    """The patternedRecurrence JSON is not valid; the route answers 400."""


def _days(pattern: dict[str, Any]) -> list[Any]:
    raw = pattern.get("daysOfWeek") or []
    if not isinstance(raw, list) or not raw:
        raise RecurrenceError("daysOfWeek is required for this pattern type")
    try:
        return [_DAYS[str(d).lower()] for d in raw]
    except KeyError as exc:
        raise RecurrenceError(f"unknown day of week {exc.args[0]!r}") from exc


def _int(pattern: dict[str, Any], key: str, low: int, high: int) -> int:
    value = pattern.get(key)
    if not isinstance(value, int) or not low <= value <= high:
        raise RecurrenceError(f"{key} must be an integer in [{low}, {high}]")
    return value


def validate(recurrence: dict[str, Any], zone_name: str) -> None:
    """Raise ``RecurrenceError`` unless the recurrence can be expanded."""
    next(iter(_rule(recurrence, datetime(2000, 1, 1, tzinfo=UTC), zone_name)), None)


def _rule(recurrence: dict[str, Any], series_start: datetime, zone_name: str) -> rrule.rrule:
    pattern = recurrence.get("pattern")
    rng = recurrence.get("range")
    if not isinstance(pattern, dict) or not isinstance(rng, dict):
        raise RecurrenceError("recurrence needs pattern and range")
    zone_label = rng.get("recurrenceTimeZone") or zone_name
    try:
        zone = resolve_zone(str(zone_label))
    except UnknownTimeZone as exc:
        raise RecurrenceError(f"unknown recurrenceTimeZone {zone_label!r}") from exc
    local_start = series_start.astimezone(zone)
    try:
        start_day = date.fromisoformat(str(rng.get("startDate")))
    except ValueError as exc:
        raise RecurrenceError("range.startDate must be a date (YYYY-MM-DD)") from exc
    dtstart = datetime.combine(start_day, local_start.time().replace(tzinfo=None))
    interval = pattern.get("interval", 1)
    if not isinstance(interval, int) or interval < 1 or interval > 99:
        raise RecurrenceError("interval must be an integer in [1, 99]")
    kwargs: dict[str, Any] = {"dtstart": dtstart, "interval": interval}
    kind = str(pattern.get("type", ""))
    freq: Literal[0, 1, 2, 3, 4, 5, 6]
    if kind == "daily":
        freq = rrule.DAILY
    elif kind == "weekly":
        freq = rrule.WEEKLY
        kwargs["byweekday"] = _days(pattern)
        first = str(pattern.get("firstDayOfWeek", "sunday")).lower()
        kwargs["wkst"] = _DAYS.get(first, rrule.SU)
    elif kind == "absoluteMonthly":
        freq = rrule.MONTHLY
        kwargs["bymonthday"] = _int(pattern, "dayOfMonth", 1, 31)
    elif kind == "relativeMonthly":
        freq = rrule.MONTHLY
        kwargs["byweekday"] = _days(pattern)
        kwargs["bysetpos"] = _INDEX.get(str(pattern.get("index", "first")).lower(), 1)
    elif kind == "absoluteYearly":
        freq = rrule.YEARLY
        kwargs["bymonth"] = _int(pattern, "month", 1, 12)
        kwargs["bymonthday"] = _int(pattern, "dayOfMonth", 1, 31)
    elif kind == "relativeYearly":
        freq = rrule.YEARLY
        kwargs["bymonth"] = _int(pattern, "month", 1, 12)
        kwargs["byweekday"] = _days(pattern)
        kwargs["bysetpos"] = _INDEX.get(str(pattern.get("index", "first")).lower(), 1)
    else:
        raise RecurrenceError(f"unsupported pattern type {kind!r}")
    range_type = str(rng.get("type", ""))
    if range_type == "endDate":
        try:
            end_day = date.fromisoformat(str(rng.get("endDate")))
        except ValueError as exc:
            raise RecurrenceError("range.endDate must be a date (YYYY-MM-DD)") from exc
        if end_day < start_day:
            raise RecurrenceError("range.endDate is before range.startDate")
        kwargs["until"] = datetime.combine(end_day, time(23, 59, 59))
    elif range_type == "numbered":
        kwargs["count"] = _int(rng, "numberOfOccurrences", 1, 999)
    elif range_type != "noEnd":
        raise RecurrenceError(f"unsupported range type {range_type!r}")
    return rrule.rrule(freq, **kwargs)


def occurrence_starts(
    recurrence: dict[str, Any],
    series_start: datetime,
    zone_name: str,
    until: datetime,
) -> Iterator[datetime]:
    """Original start (aware, UTC) of each occurrence, in order, up to ``until``."""
    rule = _rule(recurrence, series_start, zone_name)
    zone = resolve_zone(str(recurrence["range"].get("recurrenceTimeZone") or zone_name))
    for count, local in enumerate(rule):
        if count >= _MAX_OCCURRENCES:
            return
        moment = local.replace(tzinfo=zone).astimezone(UTC)
        if moment > until:
            return
        yield moment
