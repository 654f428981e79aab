"""Event times: parsing `start`/`end` objects and rendering RFC 3339 like Google.

Rules chosen (Google's docs plus observed behaviour):
- a time object holds either `date` (all-day, YYYY-MM-DD) or `dateTime` (RFC 3339;
  an offset is required unless `timeZone` is given, in which case a bare local time
  is read in that zone); `timeZone` must be an IANA name;
- `dateTime` values are rendered back in the event's `timeZone` if it has one, else
  in the calendar's time zone, always with a numeric offset (`Z` only for UTC);
- `updated`/`created` are UTC with milliseconds: `2026-11-21T10:00:00.000Z`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from spacecal.emulators.google import errors


@dataclass(frozen=True)
class EventTime:
    """A parsed start or end: `day` for all-day, else `instant` (aware UTC)."""

    day: date | None
    instant: datetime | None
    tz: str | None

    @property
    def all_day(self) -> bool:
        return self.day is not None

    def sort_key(self, default_tz: str) -> datetime:
        if self.instant is not None:
            return self.instant
        assert self.day is not None
        zone = zone_of(self.tz or default_tz)
        return datetime(self.day.year, self.day.month, self.day.day, tzinfo=zone).astimezone(UTC)


def zone_of(name: str) -> tzinfo:
    if name in ("UTC", "Etc/UTC", "GMT"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise errors.invalid(f"Invalid time zone definition for {name}.") from exc


def parse_rfc3339(value: str, *, tz: str | None = None, what: str = "time") -> datetime:
    """An aware UTC datetime; a value without offset is read in `tz` (error if none)."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise errors.invalid(f"Invalid {what}: {value}") from exc
    if parsed.tzinfo is None:
        if tz is None:
            raise errors.invalid(f"Missing time zone definition for {what}.")
        parsed = parsed.replace(tzinfo=zone_of(tz))
    return parsed.astimezone(UTC)


def parse_event_time(obj: Any, what: str) -> EventTime:
    if not isinstance(obj, dict):
        raise errors.required(f"Missing {what} time.")
    tz = obj.get("timeZone")
    if tz is not None:
        if not isinstance(tz, str):
            raise errors.invalid(f"Invalid time zone definition for {what} time.")
        zone_of(tz)
    raw_date, raw_dt = obj.get("date"), obj.get("dateTime")
    if raw_date is not None and raw_dt is not None:
        raise errors.invalid(f"Invalid {what} time: both date and dateTime set.")
    if raw_date is not None:
        try:
            return EventTime(date.fromisoformat(str(raw_date)), None, tz)
        except ValueError as exc:
            raise errors.invalid(f"Invalid {what} time.") from exc
    if raw_dt is not None:
        return EventTime(None, parse_rfc3339(str(raw_dt), tz=tz, what=f"{what} time"), tz)
    raise errors.required(f"Missing {what} time.")


def render_instant(instant: datetime, tz_name: str) -> str:
    local = instant.astimezone(zone_of(tz_name))
    offset = local.utcoffset() or timedelta(0)
    if offset == timedelta(0) and tz_name in ("UTC", "Etc/UTC", "GMT"):
        return local.strftime("%Y-%m-%dT%H:%M:%SZ")
    return local.isoformat(timespec="seconds")


def render_time(value: EventTime, default_tz: str) -> dict[str, str]:
    if value.day is not None:
        out = {"date": value.day.isoformat()}
    else:
        assert value.instant is not None
        out = {"dateTime": render_instant(value.instant, value.tz or default_tz)}
    if value.tz is not None:
        out["timeZone"] = value.tz
    return out


def render_stamp(when: datetime) -> str:
    utc = when.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
