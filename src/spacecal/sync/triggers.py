"""What a booking write tells the sync engine: reconcile the calendars that show it.

The records API and the portal call `notify_booking_changed` inside the transaction
that commits a booking change, so the reconcile jobs commit or roll back with it
(sync/queue.py). A pull does not come through here: its commit queues the same
reconciles for all its bookings at once with set-based SQL
(sync/reconcile/commit.py). Each reconcile then writes the booking to its calendar
(create, move or delete the event). Nothing here talks to a provider, and these
are not database triggers: outbound webhooks come from those (migrations 0008 and
0011), through the job outbox.
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
