"""What the sweep reads besides quiet connections: calendars behind on bookings.

A booking change queues reconciles in its own transaction (spacecal/bookings.py); if that
trigger were lost, the calendar copy stays behind. The sweep finds such connections
from the tables, with the same bounds write-back uses (sync/reconcile/writeback.py), so a
connection is never selected for a debt its reconcile would not pay (no reconcile
every minute for nothing):

- a write owed to a member's event (`event_links.pending_write`);
- a linked booking changed since it was written (version) or cancelled;
- a live future booking of the member for this resource with no event here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, func, or_, select

from spacecal.db.models import Booking, Business, Connection, EventLink, Resource


def behind(now: datetime) -> ColumnElement[bool]:
    """A condition on `Connection`: its calendar copy is behind the booking store."""
    owed = exists().where(
        EventLink.connection_id == Connection.id, EventLink.pending_write.is_not(None)
    )
    stale = exists().where(
        EventLink.connection_id == Connection.id,
        EventLink.booking_id == Booking.id,
        Booking.to_time > now,
        or_(
            Booking.cancelled_at.is_not(None),
            Booking.version > func.coalesce(EventLink.booking_version, 0),
        ),
    )
    horizon_days = (
        select(Business.max_booking_days_ahead)
        .join(Resource, Resource.business_id == Business.id)
        .where(Resource.id == Connection.resource_id)
        .correlate(Connection)
        .scalar_subquery()
    )
    linked_here = (
        select(EventLink.id)
        .where(EventLink.connection_id == Connection.id, EventLink.booking_id == Booking.id)
        .correlate(Connection, Booking)
        .exists()
    )
    missing = exists().where(
        Booking.coworker_id == Connection.coworker_id,
        Booking.resource_id == Connection.resource_id,
        Booking.cancelled_at.is_(None),
        Booking.to_time > now,
        Booking.from_time < now + func.make_interval(0, 0, 0, horizon_days),
        ~linked_here,
    )
    return or_(owed, stale, and_(Connection.coworker_id.is_not(None), missing))
