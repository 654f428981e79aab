"""All-day events: refused with a reason, or (AllDayBookable) the day's opening hours.

A desk booked "all day" means the business's opening hours of that local day,
from the first opening to the last closing (a lunch break inside is booked too:
the member keeps their desk). Opening hours define the span, so the step and the
minimum and maximum lengths do not apply; a day that has begun can still be booked
until it ends, so the whole day's opening hours are booked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from spacecal.domain import messages
from spacecal.domain.events import EventTime
from spacecal.domain.opening_hours import OpeningHours, local_minute_to_utc
from spacecal.domain.rules import (
    BookedSpan,
    BusinessRules,
    Refusal,
    RefusalCode,
    ResourceRules,
    check_booking,
)


def all_day_span(
    resource: ResourceRules,
    business: BusinessRules,
    when: EventTime,
    *,
    now: datetime,
    live_bookings: Sequence[BookedSpan],
    ignore_booking_id: int | None = None,
    member_allowed: bool = True,
) -> tuple[datetime, datetime] | Refusal:
    """The span an all-day event books, or why it cannot."""
    name = resource.name
    if not resource.bookable:
        return Refusal(RefusalCode.NOT_BOOKABLE, "ResourceId", messages.reason_not_bookable(name))
    if not member_allowed:
        return Refusal(
            RefusalCode.MEMBER_NOT_ALLOWED, "CoworkerId", messages.reason_member_not_allowed(name)
        )
    if not resource.all_day_bookable:
        return Refusal(
            RefusalCode.ALL_DAY_NOT_ALLOWED, "FromTime", messages.reason_all_day_not_allowed(name)
        )
    if when.day_count < 1:
        return Refusal(RefusalCode.INVALID_SPAN, "ToTime", messages.reason_invalid_span())
    if when.day_count > 1:
        return Refusal(
            RefusalCode.ALL_DAY_MULTIPLE_DAYS,
            "ToTime",
            messages.reason_all_day_multiple_days(name),
        )
    day = when.first_day
    intervals = resource.opening_hours.intervals_on(day)
    if not intervals:
        return Refusal(
            RefusalCode.OUTSIDE_OPENING_HOURS, "FromTime", messages.reason_closed(name, day, [])
        )
    zone = business.zone
    start = local_minute_to_utc(day, intervals[0].start_minute, zone)
    end = local_minute_to_utc(day, intervals[-1].end_minute, zone)
    relaxed = replace(
        resource,
        slot_step_minutes=1,
        min_booking_minutes=None,
        max_booking_minutes=None,
        opening_hours=OpeningHours.around_the_clock(),
    )
    refusal = check_booking(
        relaxed,
        business,
        start,
        end,
        now=now,
        live_bookings=live_bookings,
        ignore_booking_id=ignore_booking_id,
        booked_start=start,
    )
    return refusal if refusal is not None else (start, end)
