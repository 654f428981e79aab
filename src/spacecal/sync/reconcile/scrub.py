"""Events written before markers: make their property opaque (issue 19).

spacecal used to write the booking id into its events (Google private property
`spacecalBookingId`, a Graph single-value extended property of that name), which
the calendar's owner can read with any API client. Their links have no marker
(`event_links.marker IS NULL`, migration 0020), and that is the debt: `owed()` is
the condition the sweep selects on (sync/reconcile/owed.py), `push_scrubs` pays it
with one property-only PATCH per event (a fresh random marker in, the booking id
out; title, text and time untouched, so a member's own event keeps its words) and
records the marker and the etag, so the echo changes nothing. An upgrade therefore
rewrites each pre-existing event once, paced like every other write.

A member's own booked event gets `marker = ''` when its link is made (commit.py):
spacecal writes no property into it, so it owes nothing. Links from before that
cannot tell a member's event from spacecal's, so they are written once too, which
is harmless (the property is the only change). Series instances are members'
events and are left alone. CalDAV events never carried a booking id.
"""

from __future__ import annotations

from functools import partial

from sqlalchemy import ColumnElement, and_, exists, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from spacecal import clock
from spacecal.db.models import Connection, EventLink
from spacecal.providers.base import CalendarProvider, NotFound, WrittenEvent
from spacecal.sync.naming import new_marker
from spacecal.sync.reconcile.target import SyncTarget
from spacecal.sync.reconcile.writeback import PENDING
from spacecal.sync.tokens import AccountTokens

# Providers whose events spacecal wrote with the booking id before markers.
SCRUBBED_PROVIDERS = ("google", "microsoft")


def _unscrubbed() -> ColumnElement[bool]:
    """A link of this connection's to an event that may still carry a booking id."""
    return and_(
        EventLink.connection_id == Connection.id,
        EventLink.kind == "booking",
        EventLink.marker.is_(None),
        EventLink.booking_id.is_not(None),
        # spacecal never wrote a series: an instance is a member's own event, and a
        # write to one would make it an exception.
        EventLink.series_key.is_(None),
        ~EventLink.event_key.startswith(PENDING),
    )


def owed() -> ColumnElement[bool]:
    """A condition on `Connection`: an event of it still to be made opaque."""
    return and_(Connection.provider.in_(SCRUBBED_PROVIDERS), exists().where(_unscrubbed()))


async def push_scrubs(
    engine: AsyncEngine, target: SyncTarget, provider: CalendarProvider, tokens: AccountTokens
) -> int:
    """Rewrite each unscrubbed event's property; returns the number of writes."""
    if target.calendar_id is None or target.provider not in SCRUBBED_PROVIDERS:
        return 0
    calendar_id = target.calendar_id
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(EventLink.id, EventLink.event_key)
                .join(Connection, Connection.id == EventLink.connection_id)
                .where(Connection.id == target.connection_id, _unscrubbed())
                .order_by(EventLink.id)
            )
        ).all()
    writes = 0
    for link_id, event_key in rows:
        marker = new_marker()
        try:
            written: WrittenEvent = await tokens.call(
                partial(
                    provider.patch_event,
                    calendar_id=calendar_id,
                    event_id=event_key,
                    marker=marker,
                )
            )
        except NotFound:
            # Gone: the next pull reports the deletion and decides it.
            continue
        writes += 1
        async with engine.begin() as conn:
            await conn.execute(
                update(EventLink)
                .where(EventLink.id == link_id, EventLink.marker.is_(None))
                .values(marker=marker, written_etag=written.etag, updated_at=clock.now())
            )
    return writes
