"""What a booking write tells the sync engine.

Every place that commits a booking change (the records API, the portal, a pull)
calls `notify_booking_changed` inside the same transaction: a reconcile is queued
for each calendar connection of that (member, resource), durably with the change.
Each such reconcile then writes the booking to its calendar (create, move or
delete the event). Nothing here talks to a provider.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal.db.models import Booking, Connection
from spacecal.sync.queue import defer_reconcile


async def notify_booking_changed(
    conn: AsyncConnection, booking_id: int, *, except_connection: int | None = None
) -> int:
    """Queue a reconcile for every connection showing this booking's (member,
    resource), except `except_connection` (the calendar the change came from,
    which already shows it). Returns how many were newly queued."""
    rows = (
        await conn.execute(
            select(Connection.id, Connection.provider_account_id)
            .join(
                Booking,
                (Booking.coworker_id == Connection.coworker_id)
                & (Booking.resource_id == Connection.resource_id),
            )
            .where(Booking.id == booking_id)
        )
    ).all()
    queued = 0
    for connection_id, account_id in rows:
        if connection_id == except_connection:
            continue
        if await defer_reconcile(conn, connection_id, account_id):
            queued += 1
    return queued
