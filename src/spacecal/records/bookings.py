"""The records API's face of the booking write path (spacecal.bookings): its refusals
become Nexudus field errors, and DELETE cancels instead of removing the row."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal import bookings, clock
from spacecal.domain import Alternative
from spacecal.records.errors import ApiError, iso


def alternatives_json(alternatives: Sequence[Alternative]) -> list[dict[str, Any]]:
    """A refused booking's alternatives as the error envelope's `Alternatives`."""
    return [
        {
            "ResourceId": a.resource_id,
            "ResourceName": a.resource_name,
            "FromTime": iso(a.start),
            "ToTime": iso(a.end),
        }
        for a in alternatives
    ]


def booking_to_string(row: Mapping[str, Any]) -> str:
    start, end = row["from_time"], row["to_time"]
    return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M} UTC"


async def booking_before_write(
    conn: AsyncConnection, values: dict[str, Any], old: Mapping[str, Any] | None
) -> None:
    try:
        await bookings.check(conn, values, old, now=clock.now())
    except bookings.BookingRefused as refused:
        error = ApiError.field(refused.field, refused.message, refused.value)
        error.extra = {"Alternatives": alternatives_json(refused.alternatives)}
        raise error from None


async def booking_after_write(conn: AsyncConnection, booking_id: int) -> None:
    await bookings.calendars_owe(conn, [booking_id])


async def booking_on_delete(conn: AsyncConnection, old: Mapping[str, Any], by: str) -> bool:
    """DELETE cancels: the row stays so calendars can be told; a second DELETE is a no-op."""
    await bookings.cancel(conn, int(old["id"]), by=by, now=clock.now())
    return True
