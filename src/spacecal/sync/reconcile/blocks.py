"""Availability blocks: every other live booking of the calendar's resource, shown busy.

What a calendar should hold besides its member's own bookings (writeback.py): a block
for each live booking of the resource by anyone else (or by nobody: an API booking
without a member) that ends after now and starts within the business's
`AvailabilityDaysAhead`. Level-triggered, like the rest of write-back: the desired
set is computed from the tables and compared with the block links
(`event_links.kind = 'block'`); the difference is written (create, update when the
booking moved or the title setting changed, delete when the booking was cancelled,
moved out of the horizon, or the feature was switched off). A block is not removed
when its time passes.

Blocks are known by their links, never by reading spacecal's marker back (Graph delta
cannot expand extended properties), and never decided as the member's events:
`touched.separate` takes them out of the pull before the domain sees it. A member who moved,
retitled, made free or deleted a block gets it put back (only start, end, title and
busy status are compared), at most `block_put_backs_per_hour` times per block per
rolling hour; a deleted block is written again under generation + 1 (a new
idempotency key). Touching a block never makes, moves or cancels a booking.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from spacecal.db.models import Booking, Coworker, EventLink
from spacecal.providers.base import (
    CalendarProvider,
)
from spacecal.sync.reconcile.block_writes import (
    BLOCK_PENDING,
    _as_booking,
    _Booking,
    _booking_columns,
    _Link,
    _Writer,
    block_title,
)
from spacecal.sync.reconcile.target import SyncTarget
from spacecal.sync.reconcile.touched import BLOCK, GONE, PUT_BACK
from spacecal.sync.tokens import AccountTokens


async def _load(
    conn: AsyncConnection, target: SyncTarget, now: datetime, *, only_pending: bool = False
) -> tuple[list[_Link], dict[int, _Booking], dict[int, _Booking]]:
    """The block links, the bookings they show, and the bookings that should be shown:
    two queries for the whole calendar. `only_pending`: only the links whose create
    is owed (usually none, and then no booking query at all)."""
    query = select(
        EventLink.id,
        EventLink.event_key,
        EventLink.booking_id,
        EventLink.booking_version,
        EventLink.generation,
        EventLink.marker,
        EventLink.block_title,
        EventLink.pending_write,
        EventLink.put_backs,
        EventLink.put_backs_since,
    ).where(EventLink.connection_id == target.connection_id, EventLink.kind == BLOCK)
    if only_pending:
        query = query.where(EventLink.event_key.startswith(BLOCK_PENDING, autoescape=True))
    links = [
        _Link(
            r.id,
            r.event_key,
            r.booking_id,
            r.booking_version,
            r.generation,
            r.marker,
            r.block_title,
            (r.pending_write or {}).get("kind"),
            r.put_backs,
            r.put_backs_since,
        )
        for r in await conn.execute(query.order_by(EventLink.id))
    ]
    shown_ids = [link.booking_id for link in links if link.booking_id is not None]
    wanted_now = target.availability_days > 0 and not only_pending
    if not shown_ids and not wanted_now:
        return links, {}, {}
    horizon = now + timedelta(days=max(target.availability_days, 0))
    is_wanted = and_(
        Booking.resource_id == target.resource.resource_id,
        Booking.cancelled_at.is_(None),
        Booking.coworker_id.is_distinct_from(target.coworker_id),
        Booking.to_time > now,
        Booking.from_time < horizon,
    )
    shown: dict[int, _Booking] = {}
    wanted: dict[int, _Booking] = {}
    shown_set = set(shown_ids)
    for r in await conn.execute(
        select(*_booking_columns(), is_wanted.label("wanted"))
        .outerjoin(Coworker, Coworker.id == Booking.coworker_id)
        .where(
            or_(Booking.id.in_(shown_ids), is_wanted) if wanted_now else Booking.id.in_(shown_ids)
        )
        .order_by(Booking.from_time, Booking.id)
    ):
        b = _as_booking(r)
        if r.id in shown_set:
            shown[r.id] = b
        if wanted_now and r.wanted:
            wanted[r.id] = b
    return links, shown, wanted


async def push_blocks(
    engine: AsyncEngine,
    target: SyncTarget,
    provider: CalendarProvider,
    tokens: AccountTokens,
    *,
    now: datetime,
    put_backs_per_hour: int,
    only_pending: bool = False,
    creates_at_once: int = 1,
) -> int:
    """Make the calendar hold exactly the blocks it should; returns the writes made.

    `only_pending`: only finish the creates a previous run began (before the pull, so
    the pull knows those events as blocks, never as the member's new events).
    `creates_at_once`: new blocks created concurrently (a new connection's fill)."""
    if target.coworker_id is None or target.calendar_id is None:
        return 0
    # Two reads; autocommit (no BEGIN and ROLLBACK around them): a booking changed
    # between them is read as it is now, which the next pass would do anyway.
    async with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
        links, shown, wanted = await _load(conn, target, now, only_pending=only_pending)
    w = _Writer(engine, target, provider, tokens, now, put_backs_per_hour)
    if only_pending:
        for link in links:
            b = shown.get(link.booking_id) if link.booking_id is not None else None
            if b is not None and link.event_key.startswith(BLOCK_PENDING):
                await w.finish(link, b)
        return w.writes
    keep: list[tuple[_Link, _Booking]] = []
    # Deletions first, then changes, then creations: a freed slot is free on screen too.
    for link in links:
        b = shown.get(link.booking_id) if link.booking_id is not None else None
        unchanged = b is not None and b.version == link.booking_version
        if b is None or b.cancelled or target.availability_days <= 0:
            await w.remove(link)
        elif b.coworker_id is not None and b.coworker_id == target.coworker_id:
            await w.remove(link)  # now the member's own booking: writeback shows it
        elif b.id not in wanted and not unchanged:
            await w.remove(link)  # moved out of the horizon
        else:
            keep.append((link, b))
    for link, b in keep:
        if link.event_key.startswith(BLOCK_PENDING):
            await w.finish(link, b)
        elif link.pending == GONE:
            if (allowed := w.may_put_back(link)) is not None:
                await w.regenerate(link, b, **allowed)
        elif b.version != link.booking_version or link.block_title != block_title(
            target, b.full_name
        ):
            await w.rewrite(link, b)
        elif link.pending == PUT_BACK and (allowed := w.may_put_back(link)) is not None:
            await w.rewrite(link, b, **allowed)
    linked = {link.booking_id for link in links}
    await w.add_all([b for b in wanted.values() if b.id not in linked], at_once=creates_at_once)
    return w.writes
