"""Opening hours of a resource, in the business's local wall-clock time.

Stored on a Resource as JSON (`{"mon": [["08:00","20:00"]], ..., "sun": []}`) and
checked against bookings by turning each local day's intervals into UTC instants
in the business's zone. Wall-clock, not UTC, because "open 08:00-20:00" means the
same thing in winter and in summer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

DAY_KEYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""JSON keys, in `date.weekday()` order."""

MINUTES_PER_DAY = 24 * 60

_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


@dataclass(frozen=True, order=True)
class OpenInterval:
    """One open interval of a day, in minutes after local midnight (end may be 1440)."""

    start_minute: int
    end_minute: int

    def __post_init__(self) -> None:
        if not 0 <= self.start_minute < self.end_minute <= MINUTES_PER_DAY:
            raise ValueError(
                f"an opening interval must satisfy 00:00 <= start < end <= 24:00, got "
                f"{format_minute(self.start_minute)}-{format_minute(self.end_minute)}"
            )

    def label(self) -> str:
        """`08:00–20:00`, as a member reads it."""
        return f"{format_minute(self.start_minute)}–{format_minute(self.end_minute)}"


def format_minute(minute: int) -> str:
    """Minutes after midnight as `HH:MM`; 1440 is `24:00`."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _parse_hhmm(value: object, *, day: str, allow_24: bool) -> int:
    if not isinstance(value, str) or not _HHMM.match(value):
        raise ValueError(f'opening hours for "{day}": {value!r} is not a time like "08:00"')
    hours, minutes = int(value[:2]), int(value[3:])
    total = hours * 60 + minutes
    if total > MINUTES_PER_DAY or (total == MINUTES_PER_DAY and not allow_24):
        raise ValueError(
            f'opening hours for "{day}": {value!r} is not a valid '
            + ("end time (at most 24:00)" if allow_24 else "start time (at most 23:59)")
        )
    return total


def _merge(intervals: list[OpenInterval]) -> tuple[OpenInterval, ...]:
    """Sort and join touching intervals (08-12 + 12-20 is one 08-20 interval)."""
    merged: list[OpenInterval] = []
    for interval in sorted(intervals):
        if merged and interval.start_minute <= merged[-1].end_minute:
            last = merged[-1]
            merged[-1] = OpenInterval(last.start_minute, max(last.end_minute, interval.end_minute))
        else:
            merged.append(interval)
    return tuple(merged)


@dataclass(frozen=True)
class OpeningHours:
    """Per weekday (Monday first) the open intervals; `None` means open around the clock.

    Build it with `from_json` (the DB/API shape) or `around_the_clock()`.
    """

    days: tuple[tuple[OpenInterval, ...], ...] | None = None

    def __post_init__(self) -> None:
        if self.days is not None and len(self.days) != 7:
            raise ValueError("opening hours need exactly seven days, Monday first")

    @classmethod
    def around_the_clock(cls) -> OpeningHours:
        return cls(None)

    @property
    def always_open(self) -> bool:
        return self.days is None

    @classmethod
    def from_json(cls, value: Mapping[str, Any] | None) -> OpeningHours:
        """Parse the stored JSON shape; raise `ValueError` saying what is wrong.

        A missing or empty day is closed. Overlapping or touching intervals are
        merged, so the stored value need not be normalised.
        """
        if value is None:
            return cls(None)
        if not isinstance(value, Mapping):
            raise ValueError(
                'opening hours must be an object like {"mon": [["08:00", "20:00"]], ...} or null'
            )
        unknown = sorted(str(k) for k in value if k not in DAY_KEYS)
        if unknown:
            raise ValueError(
                f"opening hours: unknown day {', '.join(repr(k) for k in unknown)}; "
                f"use {', '.join(DAY_KEYS)}"
            )
        days: list[tuple[OpenInterval, ...]] = []
        for key in DAY_KEYS:
            raw = value.get(key)
            if raw is None:
                days.append(())
                continue
            if not isinstance(raw, list | tuple):
                raise ValueError(f'opening hours for "{key}" must be a list of ["HH:MM", "HH:MM"]')
            intervals: list[OpenInterval] = []
            for pair in raw:
                if not isinstance(pair, list | tuple) or len(pair) != 2:
                    raise ValueError(
                        f'opening hours for "{key}": {pair!r} is not a pair ["HH:MM", "HH:MM"]'
                    )
                start = _parse_hhmm(pair[0], day=key, allow_24=False)
                end = _parse_hhmm(pair[1], day=key, allow_24=True)
                if end <= start:
                    raise ValueError(
                        f'opening hours for "{key}": {pair[0]}-{pair[1]} ends before it starts'
                    )
                intervals.append(OpenInterval(start, end))
            days.append(_merge(intervals))
        return cls(tuple(days))

    def to_json(self) -> dict[str, list[list[str]]] | None:
        """The stored JSON shape (every day present; `None` when always open)."""
        if self.days is None:
            return None
        return {
            key: [[format_minute(i.start_minute), format_minute(i.end_minute)] for i in day]
            for key, day in zip(DAY_KEYS, self.days, strict=True)
        }

    def intervals_on(self, day: date) -> tuple[OpenInterval, ...]:
        """The open intervals of a local date (the whole day when always open)."""
        if self.days is None:
            return (OpenInterval(0, MINUTES_PER_DAY),)
        return self.days[day.weekday()]

    def open_spans_utc(self, day: date, zone: ZoneInfo) -> Iterator[tuple[datetime, datetime]]:
        """The day's open intervals as UTC instants.

        Wall-clock times are resolved with `fold=0` (RFC 5545): a time inside the
        skipped hour of a DST change lands just after it, a repeated hour means its
        first occurrence.
        """
        for interval in self.intervals_on(day):
            yield (
                local_minute_to_utc(day, interval.start_minute, zone),
                local_minute_to_utc(day, interval.end_minute, zone),
            )

    def contains(self, start: datetime, end: datetime, zone: ZoneInfo) -> bool:
        """Whether [start, end) lies inside one stretch of open time.

        Open time may run across midnight (mon ..-24:00 then tue 00:00-..), so the
        days around the span are joined before checking.
        """
        if self.days is None:
            return True
        first = start.astimezone(zone).date() - timedelta(days=1)
        last = end.astimezone(zone).date()
        spans: list[tuple[datetime, datetime]] = []
        day = first
        while day <= last:
            spans.extend(self.open_spans_utc(day, zone))
            day += timedelta(days=1)
        spans.sort()
        cur_start: datetime | None = None
        cur_end: datetime | None = None
        for s, e in spans:
            if cur_end is not None and s <= cur_end:
                cur_end = max(cur_end, e)
                continue
            if (
                cur_start is not None
                and cur_end is not None
                and cur_start <= start
                and end <= cur_end
            ):
                return True
            cur_start, cur_end = s, e
        return (
            cur_start is not None and cur_end is not None and cur_start <= start and end <= cur_end
        )


def local_minute_to_utc(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """Local `day` + `minute` after midnight (1440 = next midnight) as a UTC instant."""
    extra_days, rest = divmod(minute, MINUTES_PER_DAY)
    local_day = day + timedelta(days=extra_days)
    wall = datetime.combine(local_day, time(rest // 60, rest % 60), tzinfo=zone)
    return wall.astimezone(UTC)
