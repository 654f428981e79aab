"""A resource's booking rules as the domain takes them, read from the tables.

The records API (bookings) and the sync core decide with the same rules; both select
`RULE_COLUMNS` and build the values with `rules_from_row`, so they cannot drift. That
includes the longest booking of a resource that sets none: the process's
`SPACECAL_DEFAULT_MAX_BOOKING_MINUTES`, read here for every path at once."""

from __future__ import annotations

from typing import Any

from spacecal.config import get_settings
from spacecal.db.models import Business, Resource
from spacecal.domain import BusinessRules, OpeningHours, ResourceRules

RULE_COLUMNS = (
    Resource.id.label("resource_id"),
    Resource.name.label("resource_name"),
    Resource.slot_step_minutes,
    Resource.min_booking_minutes,
    Resource.max_booking_minutes,
    Resource.opening_hours,
    Resource.bookable,
    Resource.all_day_bookable,
    Resource.business_id,
    Business.name.label("business_name"),
    Business.time_zone,
    Business.max_booking_days_ahead,
)


def longest_booking(row: Any) -> int:
    """The resource's MaxBookingLength, or the default (never below its minimum)."""
    if row.max_booking_minutes is not None:
        return int(row.max_booking_minutes)
    default = get_settings().default_max_booking_minutes
    return max(default, row.min_booking_minutes or 0)


def rules_from_row(row: Any) -> tuple[ResourceRules, BusinessRules]:
    resource = ResourceRules(
        resource_id=row.resource_id,
        name=row.resource_name,
        slot_step_minutes=row.slot_step_minutes,
        min_booking_minutes=row.min_booking_minutes,
        max_booking_minutes=longest_booking(row),
        opening_hours=OpeningHours.from_json(row.opening_hours),
        bookable=row.bookable,
        all_day_bookable=row.all_day_bookable,
    )
    business = BusinessRules(
        name=row.business_name,
        time_zone=row.time_zone,
        max_booking_days_ahead=row.max_booking_days_ahead,
    )
    return resource, business
