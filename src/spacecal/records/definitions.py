"""The record types of the API declared as data: the supporting records (Business,
Resource, Coworker, Booking) here, the two connection records of the mission in
records/connections.py; the WebHook record is declared in spacecal.outbound.record and
api/catalog.py lists them all.

Deleting a coworker stops their subscriptions at the provider, which needs the
running application's provisioner: that delete hook is bound by the composition root
(spacecal.app), so here it is left unset (`on_delete=None`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal.db.models import (
    Booking,
    Business,
    Resource,
    table_of,
)
from spacecal.domain import OpeningHours
from spacecal.records.bookings import (
    booking_after_write,
    booking_before_write,
    booking_on_delete,
    booking_to_string,
)
from spacecal.records.connections import (
    CALDAV_CALENDARS,
    GOOGLE_CALENDARS,
    MSOFFICE_CALENDARS,
    coworkers,
)
from spacecal.records.errors import ApiError
from spacecal.records.fields import Field, Kind, ParseError
from spacecal.records.spec import RecordSpec
from spacecal.sync.accounts.changes import (
    business_before_write,
    resource_before_write,
    resource_on_delete,
)


def _time_zone(value: Any) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe" is a directory
        raise ParseError("must be an IANA time zone name, e.g. Europe/London") from None
    return str(value)


def _positive(value: Any) -> int:
    if value is not None and value <= 0:
        raise ParseError("must be a positive number of minutes")
    if value is not None and value >= 2**31:  # the column is a 4-byte integer
        raise ParseError("is out of range")
    return int(value)


def _slot_step(value: Any) -> int:
    minutes = _positive(value)
    if minutes > 24 * 60:
        raise ParseError("must be at most 1440 minutes (one day)")
    return minutes


def _days_ahead(value: Any) -> int:
    if value is None or not 1 <= value <= 3650:
        raise ParseError("must be between 1 and 3650 days")
    return int(value)


def _availability_days(value: Any) -> int:
    if value is None or not 0 <= value <= 3650:
        raise ParseError("must be between 0 (off) and 3650 days")
    return int(value)


def _opening_hours(value: Any) -> dict[str, Any] | None:
    try:
        return OpeningHours.from_json(value).to_json()
    except ValueError as exc:
        raise ParseError(str(exc)) from None


def _resource_type(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in ("room", "desk"):
        raise ParseError("must be room or desk")
    return text


async def _resource_before_write(
    conn: AsyncConnection, values: dict[str, Any], old: Mapping[str, Any] | None
) -> None:
    low, high = values.get("min_booking_minutes"), values.get("max_booking_minutes")
    if low is not None and high is not None and low > high:
        raise ApiError.field("MinBookingLength", "must not be longer than MaxBookingLength", low)
    # A rename reaches the calendars; made unbookable disconnects them (sync/accounts/changes.py).
    await resource_before_write(conn, values, old)


async def _resource_on_delete(conn: AsyncConnection, old: Mapping[str, Any], by: str) -> bool:
    return await resource_on_delete(conn, old)


BUSINESSES = RecordSpec(
    name="Business",
    path="businesses",
    table=table_of(Business),
    fields=(
        Field("Name", Kind.STR, "name", required=True, nullable=False, max_length=200),
        Field(
            "TimeZone",
            Kind.STR,
            "time_zone",
            required=True,
            nullable=False,
            max_length=64,
            validate=_time_zone,
            description="IANA time zone, e.g. Europe/London.",
        ),
        Field(
            "MaxBookingDaysAhead",
            Kind.INT,
            "max_booking_days_ahead",
            nullable=False,
            validate=_days_ahead,
            description="How far ahead bookings may be made (default 90).",
        ),
        Field(
            "InvitationsPlainAddress",
            Kind.BOOL,
            "invitations_plain_address",
            nullable=False,
            description="Also accept invitations sent to a resource's plain address "
            "(<resource>@<mail domain>) from members' registered addresses when DKIM "
            "passes. Off by default: a signed invitation can be replayed to it "
            "(docs/invitations.md).",
        ),
        Field(
            "AvailabilityDaysAhead",
            Kind.INT,
            "availability_days_ahead",
            nullable=False,
            validate=_availability_days,
            description="How many days ahead every resource calendar shows the resource's "
            "other bookings as busy blocks (default 14; 0 turns it off).",
        ),
        Field(
            "AvailabilityShowsNames",
            Kind.BOOL,
            "availability_shows_names",
            nullable=False,
            description="Blocks show the booking member's full name instead of "
            '"Booked" (default false).',
        ),
    ),
    description="A location.",
    before_write=business_before_write,
)

RESOURCES = RecordSpec(
    name="Resource",
    path="resources",
    table=table_of(Resource),
    fields=(
        Field(
            "BusinessId",
            Kind.INT,
            "business_id",
            required=True,
            nullable=False,
            reference="Business",
        ),
        Field("Name", Kind.STR, "name", required=True, nullable=False, max_length=200),
        Field(
            "ResourceType",
            Kind.STR,
            "resource_type",
            nullable=False,
            validate=_resource_type,
            description="room or desk",
        ),
        Field("Visible", Kind.BOOL, "visible", nullable=False),
        Field("Bookable", Kind.BOOL, "bookable", nullable=False),
        Field(
            "AllDayBookable",
            Kind.BOOL,
            "all_day_bookable",
            nullable=False,
            description="All-day events book the business's opening hours of that day.",
        ),
        Field(
            "TimeSlotStep",
            Kind.INT,
            "slot_step_minutes",
            nullable=False,
            validate=_slot_step,
            description="Bookings start and end on this step, in minutes (default 15).",
        ),
        Field(
            "MinBookingLength",
            Kind.INT,
            "min_booking_minutes",
            validate=_positive,
            description="Shortest booking in minutes.",
        ),
        Field(
            "MaxBookingLength",
            Kind.INT,
            "max_booking_minutes",
            validate=_positive,
            description="Longest booking in minutes.",
        ),
        Field(
            "OpeningHours",
            Kind.JSON,
            "opening_hours",
            validate=_opening_hours,
            description='Per weekday, e.g. {"mon": [["08:00","20:00"]]}; null = always open.',
        ),
        Field("GoogleCalendarId", Kind.STR, "google_calendar_id", max_length=1024),
        Field("Office365CalendarId", Kind.STR, "office365_calendar_id", max_length=1024),
    ),
    description="A bookable room or desk.",
    before_write=_resource_before_write,
    on_delete=_resource_on_delete,
)

COWORKERS = RecordSpec(
    name="Coworker",
    path="coworkers",
    table=coworkers,
    fields=(
        Field("FullName", Kind.STR, "full_name", required=True, nullable=False, max_length=200),
        Field("Email", Kind.STR, "email", required=True, nullable=False, max_length=320),
        Field(
            "BusinessId",
            Kind.INT,
            "business_id",
            required=True,
            nullable=False,
            reference="Business",
        ),
    ),
    description="A member of the space.",
    to_string=lambda row: str(row["full_name"]),
    on_delete=None,  # bound by spacecal.app: stops the member's subscriptions
)

BOOKINGS = RecordSpec(
    name="Booking",
    path="bookings",
    table=table_of(Booking),
    fields=(
        Field(
            "ResourceId",
            Kind.INT,
            "resource_id",
            required=True,
            nullable=False,
            reference="Resource",
        ),
        Field("CoworkerId", Kind.INT, "coworker_id", reference="Coworker"),
        Field(
            "FromTime",
            Kind.DATETIME,
            "from_time",
            required=True,
            nullable=False,
            description="Start (UTC).",
        ),
        Field(
            "ToTime",
            Kind.DATETIME,
            "to_time",
            required=True,
            nullable=False,
            description="End (UTC).",
        ),
        Field("Notes", Kind.STR, "notes", max_length=4000),
        Field("Tentative", Kind.BOOL, "tentative", nullable=False),
        Field("GoogleCalendarId", Kind.STR, "google_calendar_id", read_only=True),
        Field("GoogleEventId", Kind.STR, "google_event_id", read_only=True),
        Field("Office365EventId", Kind.STR, "office365_event_id", read_only=True),
        Field("RepeatSeriesUniqueId", Kind.UUID, "repeat_series_unique_id"),
        Field(
            "Source",
            Kind.STR,
            "source",
            read_only=True,
            description="Where the booking was made: api, portal, google or microsoft.",
        ),
        Field(
            "CancelledOn",
            Kind.DATETIME,
            "cancelled_at",
            read_only=True,
            description="When the booking was cancelled (DELETE cancels); null while live.",
        ),
        Field(
            "Version", Kind.INT, "version", read_only=True, description="Bumped on every change."
        ),
    ),
    description="A booking of a resource. DELETE cancels it (CancelledOn is set).",
    fixed_values={"source": "api"},
    to_string=booking_to_string,
    before_write=booking_before_write,
    after_write=booking_after_write,
    on_delete=booking_on_delete,
    delete_message="was successfully deleted.",
)

# The record types declared here (api/catalog.py adds the WebHook record).
RECORDS = (
    GOOGLE_CALENDARS,
    MSOFFICE_CALENDARS,
    CALDAV_CALENDARS,
    BUSINESSES,
    RESOURCES,
    COWORKERS,
    BOOKINGS,
)
