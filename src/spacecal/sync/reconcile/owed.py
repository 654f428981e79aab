"""What a connection owes its calendar, as SQL conditions: the sweep selects on them
(sync/upkeep/sweep.py), and a quiet poll (below) skips the full reconcile only when
none holds.

A connection is behind the booking store when one of these holds, with the same bounds
write-back uses (sync/reconcile/writeback.py), so a connection is never selected for a
debt its reconcile would not pay:

- a write owed to a member's event (`event_links.pending_write`);
- a linked booking changed since it was written (version) or cancelled;
- a live future booking of the member for this resource with no event here;
- availability blocks missing, to be removed or retitled (sync/reconcile/blocks.py);
- an event written before markers, still carrying the booking id (sync/reconcile/scrub.py).

A quiet poll: a polled connection (sync/polling.py) whose sync-collection came back
empty with the same token. When it is healthy and owes nothing (`nothing_owed`: not
behind, no create left pending, no deferred series instance; read with the target in
one statement, start.py), nothing is left to decide or write, so the reconcile records
the poll in one statement instead of its ~40 (docs/performance.md, "CalDAV polls
through the sync engine").
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select
from sqlalchemy.orm import aliased

from spacecal.db.conditions import Health
from spacecal.db.models import (
    Booking,
    Business,
    Connection,
    Coworker,
    DeferredInstance,
    EventLink,
    Resource,
)
from spacecal.sync.reconcile import scrub
from spacecal.sync.reconcile.writeback import PENDING

#: "now" as a value, or as a bound parameter of a statement built once (start.py).
Moment = datetime | ColumnElement[datetime]


def behind(now: Moment, put_backs_per_hour: int | ColumnElement[int] = 3) -> ColumnElement[bool]:
    """A condition on `Connection`: its calendar copy is behind the booking store."""
    owed = exists().where(
        EventLink.connection_id == Connection.id,
        EventLink.pending_write.is_not(None),
        or_(
            EventLink.kind == "booking",
            EventLink.put_backs_since.is_(None),
            EventLink.put_backs_since <= now - timedelta(hours=1),
            EventLink.put_backs < put_backs_per_hour,
        ),
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
    return or_(
        owed,
        stale,
        scrub.owed(),
        and_(Connection.coworker_id.is_not(None), or_(missing, _blocks_behind(now))),
    )


def _blocks_behind(now: Moment) -> ColumnElement[bool]:
    """Availability blocks missing, to be removed, or to be retitled (blocks.py)."""
    business = (
        select(Business)
        .join(Resource, Resource.business_id == Business.id)
        .where(Resource.id == Connection.resource_id)
        .correlate(Connection)
    )
    days = business.with_only_columns(Business.availability_days_ahead).scalar_subquery()
    names = business.with_only_columns(Business.availability_shows_names).scalar_subquery()
    block_here = (
        select(EventLink.id)
        .where(
            EventLink.connection_id == Connection.id,
            EventLink.booking_id == Booking.id,
            EventLink.kind == "block",
        )
        .correlate(Connection, Booking)
        .exists()
    )
    missing = exists().where(
        Booking.resource_id == Connection.resource_id,
        Booking.coworker_id.is_distinct_from(Connection.coworker_id),
        Booking.cancelled_at.is_(None),
        Booking.to_time > now,
        Booking.from_time < now + func.make_interval(0, 0, 0, days),
        days > 0,
        ~block_here,
    )
    switched_off = and_(
        days <= 0,
        exists().where(EventLink.connection_id == Connection.id, EventLink.kind == "block"),
    )
    # An alias: the booking's member, never correlated with a `coworkers` of an
    # enclosing query (start.py joins the connection's member).
    booker = aliased(Coworker)
    title = case((and_(names, booker.full_name.is_not(None)), booker.full_name), else_="Booked")
    retitled = exists().where(
        EventLink.connection_id == Connection.id,
        EventLink.kind == "block",
        EventLink.booking_id == Booking.id,
        Booking.cancelled_at.is_(None),
        Booking.to_time > now,
        booker.id == Booking.coworker_id,
        EventLink.block_title.is_distinct_from(title),
    )
    return or_(missing, switched_off, retitled)


def nothing_owed(
    now: Moment, put_backs_per_hour: int | ColumnElement[int] = 3
) -> ColumnElement[bool]:
    """A condition on `Connection`: healthy, no failure to back off from, not behind,
    no pending create and no deferred series instance: a poll that finds nothing has
    nothing else to do."""
    pending = exists().where(
        EventLink.connection_id == Connection.id, EventLink.event_key.startswith(PENDING)
    )
    deferred = exists().where(DeferredInstance.connection_id == Connection.id)
    return and_(
        Connection.health == Health.HEALTHY,
        Connection.consecutive_failures == 0,
        Connection.retry_at.is_(None),
        ~pending,
        ~deferred,
        ~behind(now, put_backs_per_hour),
    )
