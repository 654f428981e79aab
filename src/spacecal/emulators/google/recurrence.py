"""Expansion of RRULE/EXDATE/RDATE series into instances (python-dateutil).

Rules chosen:
- occurrences are computed in the series' own time zone (start.timeZone, else the
  calendar's), so a weekly 10:00 meeting stays at 10:00 local across DST changes;
- an unbounded series (an RRULE with neither COUNT nor UNTIL) is expanded up to
  `HORIZON` (730 days) after the emulator clock's now; a bounded one (COUNT, UNTIL,
  or only RDATEs) to its own end however far ahead that is (issue 18: a series
  ending in three years expands in full with `singleEvents=true`, as on Google);
  never more than `MAX_INSTANCES` (5000) instances either way;
- instance ids are `<seriesId>_<YYYYMMDDTHHMMSSZ>` (the original start in UTC) for
  timed series and `<seriesId>_<YYYYMMDD>` for all-day ones, as Google does;
- UNTIL is tolerated in either form: a UTC `...Z` value for an all-day series is
  read as a floating date-time, a date-only value for a timed series as the end of
  that day in UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from dateutil.rrule import rrulestr

from spacecal.emulators.google import errors
from spacecal.emulators.google.times import EventTime, zone_of

HORIZON = timedelta(days=730)
MAX_INSTANCES = 5000

_UNTIL_UTC = re.compile(r"UNTIL=(\d{8}T\d{6})Z", re.IGNORECASE)
_UNTIL_DATE = re.compile(r"UNTIL=(\d{8})(?=;|$)", re.IGNORECASE)


@dataclass(frozen=True)
class Occurrence:
    key: str
    original: EventTime
    start: EventTime
    end: EventTime


def instance_key(original: EventTime) -> str:
    if original.day is not None:
        return original.day.strftime("%Y%m%d")
    assert original.instant is not None
    return original.instant.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def validate(recurrence: object) -> list[str]:
    if not isinstance(recurrence, list) or not all(isinstance(x, str) for x in recurrence):
        raise errors.invalid("Invalid recurrence rule.")
    if not any(line.upper().startswith(("RRULE", "RDATE")) for line in recurrence):
        raise errors.invalid("Invalid recurrence rule.")
    return list(recurrence)


def unbounded(recurrence: list[str]) -> bool:
    """True when some RRULE has neither COUNT nor UNTIL (the series never ends)."""
    return any(
        line.upper().startswith("RRULE")
        and "COUNT=" not in line.upper()
        and "UNTIL=" not in line.upper()
        for line in recurrence
    )


def expand(
    start: EventTime,
    end: EventTime,
    recurrence: list[str],
    *,
    default_tz: str,
    horizon_end: datetime | None,
) -> list[Occurrence]:
    """All occurrences of a series up to `horizon_end` (None: to the series' own end,
    at most `MAX_INSTANCES`), in order."""
    if start.day is not None:
        dtstart = datetime.combine(start.day, time())
        lines = [_UNTIL_UTC.sub(r"UNTIL=\1", line) for line in recurrence]
    else:
        assert start.instant is not None
        dtstart = start.instant.astimezone(zone_of(start.tz or default_tz))
        lines = [_UNTIL_DATE.sub(r"UNTIL=\1T235959Z", line) for line in recurrence]
    try:
        rule_set = rrulestr("\n".join(lines), dtstart=dtstart, forceset=True, unfold=True)
    except (ValueError, TypeError) as exc:
        raise errors.invalid("Invalid recurrence rule.") from exc
    out: list[Occurrence] = []
    try:
        for occ in rule_set:
            if len(out) >= MAX_INSTANCES:
                break
            out_item = _occurrence(occ, start, end)
            if horizon_end is not None and out_item.original.sort_key(default_tz) > horizon_end:
                break
            out.append(out_item)
    except (ValueError, TypeError) as exc:
        raise errors.invalid("Invalid recurrence rule.") from exc
    return out


def _occurrence(occ: datetime, start: EventTime, end: EventTime) -> Occurrence:
    if start.day is not None:
        assert end.day is not None
        day: date = occ.date()
        original = EventTime(day, None, start.tz)
        return Occurrence(
            instance_key(original),
            original,
            original,
            EventTime(day + (end.day - start.day), None, end.tz),
        )
    assert start.instant is not None and end.instant is not None
    instant = occ.astimezone(UTC)
    original = EventTime(None, instant, start.tz)
    finish = EventTime(None, instant + (end.instant - start.instant), end.tz)
    return Occurrence(instance_key(original), original, original, finish)
