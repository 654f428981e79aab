"""Bookings written through the API obey the resource's rules (spacecal.domain), and
the database's exclusion constraint settles any race the rules could not see."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal import clock
from spacecal.db.models import Booking, Business, Coworker, Resource
from spacecal.db.rules import RULE_COLUMNS, rules_from_row
from spacecal.domain import BookedSpan, BusinessRules, ResourceRules, check_booking
from spacecal.records.errors import ApiError

_NEIGHBOURS = timedelta(days=1)


def booking_to_string(row: Mapping[str, Any]) -> str:
    start, end = row["from_time"], row["to_time"]
    return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M} UTC"


async def load_rules(
    conn: AsyncConnection, resource_id: int
) -> tuple[ResourceRules, BusinessRules, int]:
    row = (
        await conn.execute(
            select(*RULE_COLUMNS)
            .join(Business, Business.id == Resource.business_id)
            .where(Resource.id == resource_id)
        )
    ).first()
    if row is None:
        raise ApiError.field("ResourceId", "no Resource has this Id", resource_id)
    rules, business = rules_from_row(row)
    return rules, business, row.business_id


async def booking_before_write(
    conn: AsyncConnection, values: dict[str, Any], old: Mapping[str, Any] | None
) -> None:
    if old is not None and old["cancelled_at"] is not None:
        raise ApiError.field(
            "Id", "This booking was cancelled and cannot be changed; create a new booking."
        )
    start, end = values["from_time"], values["to_time"]
    if end <= start:
        raise ApiError.field("ToTime", "must be after FromTime", values["to_time"].isoformat())
    rules, business, business_id = await load_rules(conn, values["resource_id"])
    member_allowed = True
    coworker_id = values.get("coworker_id")
    if coworker_id is not None:
        member_business = await conn.scalar(
            select(Coworker.business_id).where(Coworker.id == coworker_id)
        )
        if member_business is None:
            raise ApiError.field("CoworkerId", "no Coworker has this Id", coworker_id)
        member_allowed = member_business == business_id
    # Bookings around the span too, not only overlapping ones: the refusal names the
    # whole back-to-back block ("taken 09:00–12:00"), as the sync engine's check does.
    live = (
        await conn.execute(
            select(Booking.id, Booking.from_time, Booking.to_time).where(
                Booking.resource_id == values["resource_id"],
                Booking.cancelled_at.is_(None),
                Booking.from_time < end + _NEIGHBOURS,
                Booking.to_time > start - _NEIGHBOURS,
            )
        )
    ).all()
    refusal = check_booking(
        rules,
        business,
        start,
        end,
        now=clock.now(),
        live_bookings=[BookedSpan(r.id, r.from_time, r.to_time) for r in live],
        ignore_booking_id=old["id"] if old is not None else None,
        member_allowed=member_allowed,
        booked_start=old["from_time"] if old is not None else None,
    )
    if refusal is not None:
        raise ApiError.field(refusal.field, refusal.message)
    if old is not None:
        values["version"] = old["version"] + 1


async def booking_on_delete(conn: AsyncConnection, old: Mapping[str, Any]) -> bool:
    """DELETE cancels: the row stays so calendars can be told; a second DELETE is a no-op."""
    if old["cancelled_at"] is None:
        await conn.execute(
            update(Booking)
            .where(Booking.id == old["id"])
            .values(cancelled_at=clock.now(), version=Booking.version + 1)
        )
    return True
