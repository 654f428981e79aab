"""The one booking write path: check the rules, write with version+1, and queue every
calendar that now owes a write, all in the caller's transaction.

The records API, the portal and sync all come through here, so a booking is checked
by the same rules (spacecal.domain), stamped the same way (`updated_on`,
`updated_by`, `version`) and fanned out the same way wherever it was made. Sync
writes many bookings at once with set-based SQL (sync/reconcile/commit.py); it
still checks through the domain and queues through `calendars_owe` here.

Nothing here talks to a provider, and nothing here knows HTTP: a refusal is a
`BookingRefused` naming the field, which each caller words for its own audience.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal import clock
from spacecal.db.models import Booking, Business, Coworker, Resource
from spacecal.db.rules import RULE_COLUMNS, rules_from_row
from spacecal.domain import BookedSpan, BusinessRules, ResourceRules, check_booking
from spacecal.jobs.reconcile import ReconcileRequest, defer_reconciles

# Bookings around the span too, not only overlapping ones: the refusal names the
# whole back-to-back block ("taken 09:00–12:00"), as the sync engine's check does.
_NEIGHBOURS = timedelta(days=1)

# Every calendar showing these bookings' (member, resource): the member's own
# calendars of that resource, on every provider they connected.
_SHOWING = text(
    "SELECT DISTINCT c.id, c.provider_account_id FROM connections c"
    " JOIN bookings b ON b.coworker_id = c.coworker_id AND b.resource_id = c.resource_id"
    " WHERE b.id = ANY(CAST(:ids AS bigint[])) AND c.id IS DISTINCT FROM :except"
    " ORDER BY c.id"
)

# One outbox row per changed booking (migration 0020), one statement however many.
_CHANGED = text(
    "INSERT INTO booking_changes (booking_id, created_at)"
    " SELECT unnest(CAST(:ids AS bigint[])), :now"
)


class BookingRefused(Exception):
    """The space refuses this booking: `field` names what to change, `message` says
    why in the domain's words ("Not booked: Room A is taken 10:00–11:00")."""

    def __init__(self, field: str, message: str, value: object = None) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.value = value


async def load_rules(
    conn: AsyncConnection, resource_id: int
) -> tuple[ResourceRules, BusinessRules, int]:
    """The resource's and its business's rules, and the business id."""
    row = (
        await conn.execute(
            select(*RULE_COLUMNS)
            .join(Business, Business.id == Resource.business_id)
            .where(Resource.id == resource_id)
        )
    ).first()
    if row is None:
        raise BookingRefused("ResourceId", "no Resource has this Id", resource_id)
    rules, business = rules_from_row(row)
    return rules, business, row.business_id


async def check(
    conn: AsyncConnection,
    values: dict[str, Any],
    old: Mapping[str, Any] | None,
    *,
    now: datetime,
) -> None:
    """Refuse `values` (a new booking, or `old` changed) unless the rules allow it;
    on a change, bump `values["version"]` so every calendar sees it is behind.

    The database's exclusion constraint settles any race the check could not see."""
    if old is not None and old["cancelled_at"] is not None:
        raise BookingRefused(
            "Id", "This booking was cancelled and cannot be changed; create a new booking."
        )
    start, end = values["from_time"], values["to_time"]
    if end <= start:
        raise BookingRefused("ToTime", "must be after FromTime", end.isoformat())
    rules, business, business_id = await load_rules(conn, values["resource_id"])
    member_allowed = True
    coworker_id = values.get("coworker_id")
    if coworker_id is not None:
        member_business = await conn.scalar(
            select(Coworker.business_id).where(Coworker.id == coworker_id)
        )
        if member_business is None:
            raise BookingRefused("CoworkerId", "no Coworker has this Id", coworker_id)
        member_allowed = member_business == business_id
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
        now=now,
        live_bookings=[BookedSpan(r.id, r.from_time, r.to_time) for r in live],
        ignore_booking_id=old["id"] if old is not None else None,
        member_allowed=member_allowed,
        booked_start=old["from_time"] if old is not None else None,
    )
    if refusal is not None:
        raise BookingRefused(refusal.field, refusal.message)
    if old is not None:
        values["version"] = old["version"] + 1


async def create(conn: AsyncConnection, values: dict[str, Any], *, by: str, now: datetime) -> int:
    """Check and insert a new booking made by `by`, and queue its calendars."""
    await check(conn, values, None, now=now)
    booking_id = await conn.scalar(
        insert(Booking)
        .values(
            **values,
            unique_id=uuid.uuid4(),
            created_on=now,
            updated_on=now,
            updated_by=by,
            version=1,
        )
        .returning(Booking.id)
    )
    assert booking_id is not None
    await calendars_owe(conn, [int(booking_id)])
    return int(booking_id)


async def cancel(
    conn: AsyncConnection,
    booking_id: int,
    *,
    by: str,
    now: datetime,
    coworker_id: int | None = None,
) -> bool:
    """Cancel a live booking (only `coworker_id`'s, when given) and queue its
    calendars. The row stays, so calendars can be told; False when there was no such
    live booking (a second cancel is a no-op)."""
    condition = [Booking.id == booking_id, Booking.cancelled_at.is_(None)]
    if coworker_id is not None:
        condition.append(Booking.coworker_id == coworker_id)
    cancelled = await conn.scalar(
        update(Booking)
        .where(*condition)
        .values(
            cancelled_at=now,
            version=Booking.version + 1,
            updated_on=now,
            updated_by=by,
        )
        .returning(Booking.id)
    )
    if cancelled is None:
        return False
    await calendars_owe(conn, [booking_id])
    return True


async def calendars_owe(
    conn: AsyncConnection, booking_ids: Sequence[int], *, except_connection: int | None = None
) -> int:
    """Queue a reconcile for every calendar showing these bookings, except
    `except_connection` (the calendar a change came from, which already shows it),
    and write one `booking_changes` row per booking for the resource's other
    calendars (their availability blocks): the dispatcher expands those into marks
    outside this transaction, so a booking takes no connection row locks.
    Durable with the caller's transaction; returns how many were newly queued."""
    if not booking_ids:
        return 0
    await conn.execute(_CHANGED, {"ids": sorted(set(booking_ids)), "now": clock.now()})
    rows = (
        await conn.execute(_SHOWING, {"ids": list(booking_ids), "except": except_connection})
    ).all()
    return await defer_reconciles(
        conn, [ReconcileRequest(r.id, r.provider_account_id) for r in rows]
    )
