"""A connection's first full pull, over a calendar that may already hold events.

Provisioning adopts a calendar spacecal made earlier when one of the same name is
still in the member's account (a resource removed and added again, a reconnect, a
crash before the calendar id was stored). Its event links went with the old
connection row, so without care the first write-back would copy every booking that
came from a member's event a second time (its idempotency key differs from the
member's own event id), and events the member added while nothing synced would be
ignored for good once the cursor was stored.

So the first pull links the events the booking store already knows: a booking of
this member and resource whose recorded provider event id (Booking.GoogleEventId in
this calendar, Booking.Office365EventId) is among the pulled events. The link takes
the event's current etag as the one last written, so the event counts as already
seen; when its time differs from the booking's, the link's booking version is 0 and
write-back puts the event where the booking is (the booking store is the truth).
If events remain that no booking explains, the cursor is not stored: the first
reconcile pulls in full and decides them like any new event (booked, or marked with
the reason), as principle 1 asks.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal.db.columns import BOOKING_CALENDAR_COLUMN, BOOKING_EVENT_ID_COLUMN
from spacecal.db.models import Booking, EventLink
from spacecal.providers.base import PullResult


async def link_known_events(
    conn: AsyncConnection,
    *,
    connection_id: int,
    provider: str,
    calendar_id: str,
    coworker_id: int,
    resource_id: int,
    pull: PullResult,
    now: datetime,
) -> int:
    """Link the pulled events that bookings already name; returns how many pulled
    (not cancelled) events are left that nothing explains."""
    events = {e.key: e for e in pull.events if not e.cancelled and e.time is not None}
    if not events:
        return 0
    column = Booking.__table__.c[BOOKING_EVENT_ID_COLUMN[provider]]
    query = select(
        Booking.id, column.label("event_key"), Booking.from_time, Booking.to_time, Booking.version
    ).where(
        Booking.coworker_id == coworker_id,
        Booking.resource_id == resource_id,
        column.in_(list(events)),
    )
    if calendar_column := BOOKING_CALENDAR_COLUMN.get(provider):
        query = query.where(Booking.__table__.c[calendar_column] == calendar_id)
    known = (await conn.execute(query)).all()
    for b in known:
        event = events[b.event_key]
        assert event.time is not None
        same = event.time.all_day or (event.time.start, event.time.end) == (
            b.from_time,
            b.to_time,
        )
        await conn.execute(
            insert(EventLink)
            .values(
                connection_id=connection_id,
                event_key=b.event_key,
                series_key=event.series_id,
                booking_id=b.id,
                written_etag=pull.etags.get(b.event_key),
                booking_version=b.version if same else 0,
                updated_at=now,
            )
            .on_conflict_do_nothing(constraint="event_links_unique_event")
        )
    return len(set(events) - {b.event_key for b in known})
