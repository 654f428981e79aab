"""Pushing what one calendar is behind on, after the pull's commit.

Two kinds of debt, both read from the tables (level-triggered: a crash or a failed
call leaves the debt visible, and the next reconcile pays it):

1. Writes owed to member events (`event_links.pending_write`): the refusal mark, a
   refused move put back with a note, a mark removed.
2. The member's bookings of this resource that the calendar does not show as they
   are: a booking with no event here (made in the API, the portal or the member's
   other calendar) gets one; a booking whose version moved past what the event shows
   is moved; a cancelled booking's event is deleted.

Every write records the etag/changeKey it produced, so the echo that comes back in
the next pull is recognised and skipped. Creations carry an idempotency key derived
from (booking, calendar): a crash between the provider's answer and our commit
makes the retry answer with the same event, never a second one.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from spacecal import clock
from spacecal.db.columns import BOOKING_CALENDAR_COLUMN, BOOKING_EVENT_ID_COLUMN
from spacecal.db.models import Booking, EventLink
from spacecal.providers.base import CalendarProvider, EventWrite, NotFound, WrittenEvent
from spacecal.sync.naming import idempotency_key, new_marker
from spacecal.sync.reconcile.target import SyncTarget
from spacecal.sync.tokens import AccountTokens


def booking_event(
    target: SyncTarget,
    calendar_id: str,
    booking_id: int,
    start: datetime,
    end: datetime,
    tentative: bool,
    marker: str,
) -> EventWrite:
    return EventWrite(
        idempotency_key=idempotency_key(booking_id, calendar_id),
        title=target.resource.name,
        description=f"Booked with spacecal (booking {booking_id}).",
        start=start,
        end=end,
        time_zone=target.time_zone,
        marker=marker,
        tentative=tentative,
    )


async def push_pending(
    engine: AsyncEngine, target: SyncTarget, provider: CalendarProvider, tokens: AccountTokens
) -> int:
    """Write the owed marks, put-backs and unmarks; returns the number of writes."""
    assert target.calendar_id is not None
    calendar_id = target.calendar_id
    async with engine.connect() as conn:
        owed = (
            await conn.execute(
                select(
                    EventLink.id,
                    EventLink.event_key,
                    EventLink.booking_id,
                    EventLink.pending_write,
                    EventLink.pending_since,
                )
                .where(
                    EventLink.connection_id == target.connection_id,
                    EventLink.pending_write.is_not(None),
                    EventLink.kind == "booking",  # blocks owe theirs in blocks.py
                )
                .order_by(EventLink.id)
            )
        ).all()
    writes = 0
    for link_id, event_key, _booking_id, pending, since in owed:
        change: dict[str, Any] = {"title": pending["title"], "description": pending["description"]}
        if pending["kind"] == "put_back":
            change.update(
                start=datetime.fromisoformat(pending["start"]),
                end=datetime.fromisoformat(pending["end"]),
                time_zone=target.time_zone,
            )
        try:
            written: WrittenEvent = await tokens.call(
                partial(provider.patch_event, calendar_id=calendar_id, event_id=event_key, **change)
            )
        except NotFound:
            # The event is gone; the next pull reports the deletion and decides it.
            async with engine.begin() as conn:
                await conn.execute(
                    update(EventLink)
                    .where(EventLink.id == link_id, EventLink.pending_since == since)
                    .values(pending_write=None, pending_since=None)
                )
            continue
        writes += 1
        async with engine.begin() as conn:
            await conn.execute(
                update(EventLink)
                .where(EventLink.id == link_id)
                .values(
                    written_etag=written.etag,
                    pending_write=None,
                    pending_since=None,
                    updated_at=clock.now(),
                )
                # A newer debt recorded meanwhile stays owed.
                .where(EventLink.pending_since == since)
            )
    return writes


@dataclass(frozen=True)
class _Shown:
    """A booking of the member's (for this resource) and its link here, if any."""

    id: int
    from_time: datetime
    to_time: datetime
    tentative: bool
    version: int
    cancelled_at: datetime | None
    link_id: int | None
    event_key: str  # "" when there is no link
    booking_version: int | None


async def _bookings_with_links(
    conn: AsyncConnection, target: SyncTarget, now: datetime, horizon: datetime
) -> list[_Shown]:
    """The bookings in the window, each with this connection's link(s) to it, in time
    order. Two indexed reads joined here rather than one SQL outer join: right after a
    large initial sync the planner has no statistics for the new rows and picks a
    nested loop over every link per booking (3 s for 3,000 bookings)."""
    bookings = (
        await conn.execute(
            select(
                Booking.id,
                Booking.from_time,
                Booking.to_time,
                Booking.tentative,
                Booking.version,
                Booking.cancelled_at,
            )
            .where(
                Booking.coworker_id == target.coworker_id,
                Booking.resource_id == target.resource.resource_id,
                Booking.to_time > now - timedelta(days=1),
                Booking.from_time < horizon,
            )
            .order_by(Booking.from_time, Booking.id)
        )
    ).all()
    links: dict[int, list[Any]] = {}
    for link in (
        await conn.execute(
            select(
                EventLink.id, EventLink.event_key, EventLink.booking_id, EventLink.booking_version
            )
            .where(
                EventLink.connection_id == target.connection_id,
                EventLink.booking_id.is_not(None),
                EventLink.kind == "booking",
            )
            .order_by(EventLink.id)
        )
    ).all():
        links.setdefault(link.booking_id, []).append(link)
    shown: list[_Shown] = []
    for b in bookings:
        for link in links.get(b.id) or [None]:
            shown.append(
                _Shown(
                    b.id,
                    b.from_time,
                    b.to_time,
                    b.tentative,
                    b.version,
                    b.cancelled_at,
                    link.id if link else None,
                    link.event_key if link else "",
                    link.booking_version if link else None,
                )
            )
    return shown


async def push_bookings(
    engine: AsyncEngine,
    target: SyncTarget,
    provider: CalendarProvider,
    tokens: AccountTokens,
    *,
    now: datetime,
) -> int:
    """Make the calendar show the member's bookings of this resource as they are."""
    if target.coworker_id is None or target.calendar_id is None:
        return 0
    calendar_id = target.calendar_id
    horizon = now + timedelta(days=target.business.max_booking_days_ahead + 1)
    async with engine.connect() as conn:
        rows = await _bookings_with_links(conn, target, now, horizon)
    writes = 0
    # Deletions first, then moves, then creations: a freed slot is free on screen too.
    rows = [r for r in rows if r.link_id is None or not is_pending(r.event_key)]
    for r in rows:
        if r.link_id is not None and r.cancelled_at is not None:
            with contextlib.suppress(NotFound):
                await tokens.call(
                    partial(provider.delete_event, calendar_id=calendar_id, event_id=r.event_key)
                )
            writes += 1
            async with engine.begin() as conn:
                await conn.execute(delete(EventLink).where(EventLink.id == r.link_id))
    for r in rows:
        if r.link_id is None or r.cancelled_at is not None or (r.booking_version or 0) >= r.version:
            continue
        try:
            written = await tokens.call(
                partial(
                    provider.patch_event,
                    calendar_id=calendar_id,
                    event_id=r.event_key,
                    start=r.from_time,
                    end=r.to_time,
                    time_zone=target.time_zone,
                )
            )
        except NotFound:
            # The event vanished under us: forget the link; the booking is written anew.
            async with engine.begin() as conn:
                await conn.execute(delete(EventLink).where(EventLink.id == r.link_id))
            continue
        writes += 1
        async with engine.begin() as conn:
            await conn.execute(
                update(EventLink)
                .where(EventLink.id == r.link_id)
                .values(
                    booking_version=r.version, written_etag=written.etag, updated_at=clock.now()
                )
            )
    for r in rows:
        if r.link_id is not None or r.cancelled_at is not None or r.to_time <= now:
            continue
        # Intent first: a crash after the provider's answer leaves this pending link,
        # and the next reconcile finishes the (idempotent) create before it pulls.
        async with engine.begin() as conn:
            await conn.execute(
                insert(EventLink)
                .values(
                    connection_id=target.connection_id,
                    event_key=PENDING + str(r.id),
                    booking_id=r.id,
                    booking_version=r.version,
                    marker=new_marker(),
                    updated_at=clock.now(),
                )
                .on_conflict_do_nothing()
            )
        writes += await _create_for(engine, target, provider, tokens, r.id)
    return writes


PENDING = "pending:"


def is_pending(event_key: str) -> bool:
    return event_key.startswith(PENDING)


async def finish_pending_creates(
    engine: AsyncEngine, target: SyncTarget, provider: CalendarProvider, tokens: AccountTokens
) -> int:
    """Creates a previous run began but did not record: issue them again (the provider
    answers with the event it already made) and link the result, before the pull, so
    the event is known as ours when the pull returns it."""
    async with engine.connect() as conn:
        pending = list(
            await conn.scalars(
                select(EventLink.booking_id).where(
                    EventLink.connection_id == target.connection_id,
                    EventLink.event_key.startswith(PENDING),
                    EventLink.booking_id.is_not(None),
                    EventLink.kind == "booking",
                )
            )
        )
    writes = 0
    for booking_id in pending:
        assert booking_id is not None
        writes += await _create_for(engine, target, provider, tokens, booking_id, repeat=True)
    return writes


async def _create_for(
    engine: AsyncEngine,
    target: SyncTarget,
    provider: CalendarProvider,
    tokens: AccountTokens,
    booking_id: int,
    *,
    repeat: bool = False,
) -> int:
    """Create the booking's event (its intent is on a pending link). `repeat`: an
    earlier run began this create; if it reached the provider, the answer now is the
    event written from the booking as it was at the intent. So the link records the
    intent's version, and write-back updates a booking changed since. (Its etag is
    taken as ours: an edit the member made in between would otherwise reach the
    domain as a move of the booking back to its old time; the booking wins.)"""
    assert target.calendar_id is not None
    calendar_id = target.calendar_id
    async with engine.connect() as conn:
        b = (
            await conn.execute(
                select(
                    Booking.from_time, Booking.to_time, Booking.tentative, Booking.version
                ).where(Booking.id == booking_id)
            )
        ).one()
        intent = (
            await conn.execute(
                select(EventLink.marker, EventLink.booking_version).where(
                    EventLink.connection_id == target.connection_id,
                    EventLink.event_key == PENDING + str(booking_id),
                )
            )
        ).first()
    marker = (intent.marker if intent else None) or new_marker()
    event = booking_event(
        target, calendar_id, booking_id, b.from_time, b.to_time, b.tentative, marker
    )
    written = await tokens.call(
        partial(provider.create_event, calendar_id=calendar_id, event=event)
    )
    version = b.version
    if repeat and intent is not None and intent.booking_version is not None:
        version = intent.booking_version
    await _link_new_event(engine, target, calendar_id, booking_id, version, written, marker)
    return 1


async def _link_new_event(
    engine: AsyncEngine,
    target: SyncTarget,
    calendar_id: str,
    booking_id: int,
    version: int,
    written: WrittenEvent,
    marker: str,
) -> None:
    now = clock.now()
    etag = written.etag
    booking_values: dict[str, Any] = {BOOKING_EVENT_ID_COLUMN[target.provider]: written.event_id}
    if calendar_column := BOOKING_CALENDAR_COLUMN.get(target.provider):
        booking_values[calendar_column] = calendar_id
    async with engine.begin() as conn:
        await conn.execute(
            delete(EventLink).where(
                EventLink.connection_id == target.connection_id,
                EventLink.event_key == PENDING + str(booking_id),
            )
        )
        stmt = insert(EventLink).values(
            connection_id=target.connection_id,
            event_key=written.event_id,
            booking_id=booking_id,
            written_etag=etag,
            booking_version=version,
            marker=marker,
            updated_at=now,
        )
        await conn.execute(
            stmt.on_conflict_do_update(
                constraint="event_links_unique_event",
                set_={
                    "marker": marker,
                    "booking_id": booking_id,
                    "written_etag": etag,
                    "booking_version": version,
                    "updated_at": now,
                },
            )
        )
        await conn.execute(update(Booking).where(Booking.id == booking_id).values(**booking_values))
