"""The one validation of a booking span, shared by the API and the sync engine.

A booking made through the records API, moved from the portal, or created from a
member's calendar event passes through `check_booking`, so a member gets the same
answer whichever door they use. The answer is either `None` (book it) or the first
`Refusal` in a fixed order, carrying the exact words the member will read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from spacecal.domain import messages
from spacecal.domain.opening_hours import OpeningHours, OpenInterval, local_minute_to_utc

__all__ = [
    "BookedSpan",
    "BusinessRules",
    "OpenInterval",
    "OpeningHours",
    "Refusal",
    "RefusalCode",
    "ResourceRules",
    "check_booking",
    "require_aware",
]


class RefusalCode(StrEnum):
    """Why a span cannot be booked; stable strings for logs, the API and tests."""

    INVALID_SPAN = "invalid_span"
    NOT_BOOKABLE = "not_bookable"
    MEMBER_NOT_ALLOWED = "member_not_allowed"
    IN_PAST = "in_past"
    TOO_FAR_AHEAD = "too_far_ahead"
    SLOT_STEP = "slot_step"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    OUTSIDE_OPENING_HOURS = "outside_opening_hours"
    OVERLAP = "overlap"
    ALL_DAY_NOT_ALLOWED = "all_day_not_allowed"
    ALL_DAY_MULTIPLE_DAYS = "all_day_multiple_days"


@dataclass(frozen=True)
class Refusal:
    """A refusal: `message` is what the member reads ("Not booked: <reason>").

    `reason` is the same words without the prefix, so a refused move can say
    "Not moved: <reason>". `field` is the Nexudus field the API reports it on.
    """

    code: RefusalCode
    field: str
    reason: str
    message: str = dc_field(default="")

    def __post_init__(self) -> None:
        if not self.message:
            object.__setattr__(self, "message", messages.NOT_BOOKED + self.reason)


@dataclass(frozen=True)
class ResourceRules:
    """What a resource allows. Minutes are whole minutes; `None` means no limit."""

    resource_id: int
    name: str
    slot_step_minutes: int = 15
    min_booking_minutes: int | None = None
    max_booking_minutes: int | None = None
    opening_hours: OpeningHours = dc_field(default_factory=OpeningHours.around_the_clock)
    bookable: bool = True
    all_day_bookable: bool = False

    def __post_init__(self) -> None:
        if self.slot_step_minutes <= 0 or self.slot_step_minutes > 24 * 60:
            raise ValueError("slot_step_minutes must be between 1 and 1440")
        for label, value in (
            ("min_booking_minutes", self.min_booking_minutes),
            ("max_booking_minutes", self.max_booking_minutes),
        ):
            if value is not None and value <= 0:
                raise ValueError(f"{label} must be positive")
        if (
            self.min_booking_minutes is not None
            and self.max_booking_minutes is not None
            and self.min_booking_minutes > self.max_booking_minutes
        ):
            raise ValueError("min_booking_minutes must not exceed max_booking_minutes")


@dataclass(frozen=True)
class BusinessRules:
    """The location: its IANA time zone (the wall clock of its rooms) and horizon."""

    name: str
    time_zone: str
    max_booking_days_ahead: int = 90

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {self.time_zone!r}") from exc
        if self.max_booking_days_ahead < 0:
            raise ValueError("max_booking_days_ahead must not be negative")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


@dataclass(frozen=True)
class BookedSpan:
    """A live booking (confirmed or tentative: both hold the slot) that could overlap."""

    booking_id: int | None
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        require_aware(self.start, "start")
        require_aware(self.end, "end")


def require_aware(value: datetime, label: str) -> None:
    """Naive datetimes are a bug at the caller: refuse them loudly."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{label} must be a timezone-aware datetime, got naive {value!r}")


def current_slot_start(now: datetime, step_minutes: int, zone: ZoneInfo) -> datetime:
    """Start of the slot `now` falls in, on the resource's step in local time.

    A member may still book the slot that has just begun (at 10:07, 10:00-10:30 is
    bookable); anything starting earlier is in the past.
    """
    local = now.astimezone(zone)
    minute_of_day = local.hour * 60 + local.minute
    return (
        now
        - timedelta(
            minutes=minute_of_day % step_minutes,
            seconds=local.second,
            microseconds=local.microsecond,
        )
    ).astimezone(UTC)


def on_step(moment: datetime, step_minutes: int, zone: ZoneInfo) -> bool:
    """Whether a moment is on the step counted from local midnight."""
    local = moment.astimezone(zone)
    return (
        local.second == 0
        and local.microsecond == 0
        and (local.hour * 60 + local.minute) % step_minutes == 0
    )


def last_bookable_day_end(business: BusinessRules, now: datetime) -> datetime:
    """End (next local midnight) of the last day within `max_booking_days_ahead`."""
    zone = business.zone
    last_day = now.astimezone(zone).date() + timedelta(days=business.max_booking_days_ahead)
    return local_minute_to_utc(last_day, 24 * 60, zone)


def taken_block(
    start: datetime,
    end: datetime,
    live_bookings: Sequence[BookedSpan],
    ignore_booking_id: int | None,
) -> tuple[datetime, datetime] | None:
    """The first stretch of back-to-back live bookings that overlaps [start, end).

    Joining touching bookings makes the message say "taken 10:00–12:00" rather
    than naming only the first of two meetings that both block the request.
    """
    # Fast path, the usual case: nothing overlaps, so no block can. Skips sorting every
    # live booking per event (quadratic over a large initial sync; bench/sync.py).
    if not any(
        b.start < end and start < b.end
        for b in live_bookings
        if ignore_booking_id is None or b.booking_id != ignore_booking_id
    ):
        return None
    spans = sorted(
        (b.start.astimezone(UTC), b.end.astimezone(UTC))
        for b in live_bookings
        if ignore_booking_id is None or b.booking_id != ignore_booking_id
    )
    blocks: list[tuple[datetime, datetime]] = []
    for s, e in spans:
        if blocks and s <= blocks[-1][1]:
            blocks[-1] = (blocks[-1][0], max(blocks[-1][1], e))
        else:
            blocks.append((s, e))
    for s, e in blocks:
        if s < end and start < e:
            return s, e
    return None


def check_booking(
    resource: ResourceRules,
    business: BusinessRules,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    live_bookings: Sequence[BookedSpan],
    ignore_booking_id: int | None = None,
    member_allowed: bool = True,
    booked_start: datetime | None = None,
) -> Refusal | None:
    """Validate a new or moved booking [start, end); `None` means it may be booked.

    Checks run in a fixed order and the first failure is returned: span, resource
    bookable, member allowed, past, horizon, slot step, minimum, maximum, opening
    hours, overlap. `ignore_booking_id` is the booking being moved (it does not
    block itself). `booked_start`, for a move, is the booking's current start: when
    the start is unchanged a running booking may still be extended or shortened, so
    only the new end must lie ahead. Live bookings include tentative ones.
    """
    for value, label in ((start, "start"), (end, "end"), (now, "now")):
        require_aware(value, label)
    if booked_start is not None:
        require_aware(booked_start, "booked_start")
    start = start.astimezone(UTC)
    end = end.astimezone(UTC)
    now = now.astimezone(UTC)
    zone = business.zone
    name = resource.name

    if end <= start:
        return Refusal(RefusalCode.INVALID_SPAN, "ToTime", messages.reason_invalid_span())
    if not resource.bookable:
        return Refusal(RefusalCode.NOT_BOOKABLE, "ResourceId", messages.reason_not_bookable(name))
    if not member_allowed:
        return Refusal(
            RefusalCode.MEMBER_NOT_ALLOWED, "CoworkerId", messages.reason_member_not_allowed(name)
        )
    running_extension = booked_start is not None and booked_start.astimezone(UTC) == start
    if end <= now or (
        not running_extension and start < current_slot_start(now, resource.slot_step_minutes, zone)
    ):
        return Refusal(RefusalCode.IN_PAST, "FromTime", messages.reason_in_past())
    horizon = last_bookable_day_end(business, now)
    if end > horizon:
        last_day = (horizon - timedelta(seconds=1)).astimezone(zone).date()
        return Refusal(
            RefusalCode.TOO_FAR_AHEAD,
            "FromTime" if start >= horizon else "ToTime",
            messages.reason_too_far_ahead(name, business.max_booking_days_ahead, last_day),
        )
    step = resource.slot_step_minutes
    start_ok = on_step(start, step, zone)
    if not start_ok or not on_step(end, step, zone):
        return Refusal(
            RefusalCode.SLOT_STEP,
            "FromTime" if not start_ok else "ToTime",
            messages.reason_slot_step(name, step),
        )
    length = end - start
    if resource.min_booking_minutes is not None and length < timedelta(
        minutes=resource.min_booking_minutes
    ):
        return Refusal(
            RefusalCode.TOO_SHORT,
            "ToTime",
            messages.reason_too_short(name, resource.min_booking_minutes),
        )
    if resource.max_booking_minutes is not None and length > timedelta(
        minutes=resource.max_booking_minutes
    ):
        return Refusal(
            RefusalCode.TOO_LONG,
            "ToTime",
            messages.reason_too_long(name, resource.max_booking_minutes),
        )
    if not resource.opening_hours.contains(start, end, zone):
        local_day = start.astimezone(zone).date()
        labels = [i.label() for i in resource.opening_hours.intervals_on(local_day)]
        return Refusal(
            RefusalCode.OUTSIDE_OPENING_HOURS,
            "FromTime",
            messages.reason_closed(name, local_day, labels),
        )
    block = taken_block(start, end, live_bookings, ignore_booking_id)
    if block is not None:
        return Refusal(
            RefusalCode.OVERLAP,
            "FromTime",
            messages.reason_taken(name, messages.span_label(block[0], block[1], zone)),
        )
    return None
