"""The record types of the API: the two connection records of the mission and the
supporting records (Business, Resource, Coworker, Booking), declared as data; the
WebHook record is declared in spacecal.outbound.record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Dialect, Text, case, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeDecorator

from spacecal.api.bookings import booking_before_write, booking_on_delete, booking_to_string
from spacecal.api.envelopes import ApiError
from spacecal.api.fields import Field, Kind, ParseError
from spacecal.api.spec import Computed, RecordSpec
from spacecal.db.conditions import error_expr, health_expr
from spacecal.db.models import (
    Booking,
    Business,
    Connection,
    Coworker,
    ProviderAccount,
    Resource,
    table_of,
)
from spacecal.domain import OpeningHours
from spacecal.outbound.record import WEBHOOKS
from spacecal.sync.accounts.disconnect import connection_on_delete
from spacecal.sync.triggers import notify_booking_changed
from spacecal.sync.upkeep.changes import (
    business_before_write,
    coworker_on_delete,
    resource_before_write,
    resource_on_delete,
)

connections = table_of(Connection)
coworkers = table_of(Coworker)
provider_accounts = table_of(ProviderAccount)


class _BoolText(TypeDecorator[bool]):
    """A computed flag kept as text in SQL, so the text filters (ILIKE) apply to it,
    and shown as a JSON boolean."""

    impl = Text
    cache_ok = True

    def process_result_value(self, value: object, dialect: Dialect) -> bool:
        return value == "true"


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
    # A rename reaches the calendars; made unbookable disconnects them (sync/upkeep/changes.py).
    await resource_before_write(conn, values, old)


async def _connection_before_write(
    conn: AsyncConnection, values: dict[str, Any], old: Mapping[str, Any] | None
) -> None:
    """Attach the record to the member's provider account, so sync can use it."""
    provider = old["provider"] if old is not None else values["provider"]
    coworker_id = values.get("coworker_id")
    account_id = None
    if coworker_id is not None:
        account_id = await conn.scalar(
            select(ProviderAccount.id).where(
                ProviderAccount.coworker_id == coworker_id, ProviderAccount.provider == provider
            )
        )
    values["provider_account_id"] = account_id


def _connection_fields(google: bool) -> tuple[Field, ...]:
    provider = "Google" if google else "Microsoft Graph"
    fields = [
        Field(
            "ResourceId",
            Kind.INT,
            "resource_id",
            required=True,
            nullable=False,
            reference="Resource",
            description="The room or desk this calendar books.",
        ),
        Field(
            "CoworkerId",
            Kind.INT,
            "coworker_id",
            reference="Coworker",
            description="The customer who connected.",
        ),
        Field(
            "Name",
            Kind.STR,
            "name",
            required=True,
            nullable=False,
            max_length=400,
            description="Display name of the calendar in the customer's account.",
        ),
        Field(
            "SubscriptionId",
            Kind.STR,
            "subscription_id",
            required=True,
            max_length=400,
            description=f"{provider} push channel/subscription id.",
        ),
        Field(
            "CalendarId",
            Kind.STR,
            "calendar_id",
            required=True,
            max_length=1024,
            description="The provider's id of the calendar.",
        ),
        Field(
            "SubscriptionExpireDate",
            Kind.DATETIME,
            "subscription_expire_date",
            required=True,
            description="When the channel/subscription expires (UTC).",
        ),
    ]
    if google:
        fields += [
            Field(
                "WatchResourceId",
                Kind.STR,
                "watch_resource_id",
                required=True,
                max_length=400,
                description="resourceId Google gave the watch channel.",
            ),
            Field(
                "EventSyncToken",
                Kind.STR,
                "event_sync_token",
                max_length=8192,
                description="nextSyncToken for incremental sync; clear it to force a full sync.",
            ),
        ]
    return tuple(fields)


_coworker_join = connections.outerjoin(
    coworkers, coworkers.c.id == connections.c.coworker_id
).outerjoin(provider_accounts, provider_accounts.c.id == connections.c.provider_account_id)

# Read-only extension fields: the state of the member's account and of the sync.
_CONNECTION_COMPUTED = (
    Computed("CoworkerFullName", coworkers.c.full_name, "Coworker_FullName"),
    Computed(
        "NeedsReconnect",
        type_coerce(
            case((provider_accounts.c.status == "needs_reconnect", "true"), else_="false"),
            _BoolText(),
        ),
        "NeedsReconnect",
        kind=Kind.BOOL,
    ),
    # Derived from the sync's and the renewal's own conditions (db/conditions.py).
    Computed("Health", health_expr(connections), "Health"),
    Computed("LastError", error_expr(connections), "LastError"),
)


async def _booking_after_write(conn: AsyncConnection, booking_id: int) -> None:
    await notify_booking_changed(conn, booking_id)


async def _booking_on_delete(conn: AsyncConnection, old: Mapping[str, Any]) -> bool:
    handled = await booking_on_delete(conn, old)
    await notify_booking_changed(conn, int(old["id"]))
    return handled


def _connection_spec(
    provider: str, name: str, path: str, description: str, aliases: tuple[str, ...] = ()
) -> RecordSpec:
    """One provider's face of the `connections` table."""
    return RecordSpec(
        name=name,
        path=path,
        aliases=aliases,
        table=connections,
        fields=_connection_fields(google=provider == "google"),
        description=description,
        scope=connections.c.provider == provider,
        fixed_values={"provider": provider},
        computed=_CONNECTION_COMPUTED,
        from_clause=_coworker_join,
        to_string=lambda row: str(row["name"]),
        before_write=_connection_before_write,
        on_delete=connection_on_delete,
    )


GOOGLE_CALENDARS = _connection_spec(
    "google",
    "CoworkerGoogleCalendar",
    "coworkergooglecalendars",
    "A member's Google calendar for one resource, with its push channel.",
)
MSOFFICE_CALENDARS = _connection_spec(
    "microsoft",
    "CoworkerMsOfficeCalendar",
    "coworkermsofficecalendars",
    "A member's Microsoft 365 calendar for one resource, with its Graph subscription.",
    aliases=("coworkermsoffecalendars",),  # the typo printed on older Nexudus pages
)

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
    on_delete=resource_on_delete,
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
    on_delete=coworker_on_delete,
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
    after_write=_booking_after_write,
    on_delete=_booking_on_delete,
    delete_message="was successfully deleted.",
)

ALL_RECORDS = (
    GOOGLE_CALENDARS,
    MSOFFICE_CALENDARS,
    BUSINESSES,
    RESOURCES,
    COWORKERS,
    BOOKINGS,
    WEBHOOKS,  # /api/sys/webhooks (spacecal.outbound)
)
