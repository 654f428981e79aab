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

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from spacecal.db.engine import autocommit
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

#: One calendar's block links, the bookings they show, the bookings it should show.
Loaded = tuple[list[_Link], dict[int, _Booking], dict[int, _Booking]]


def _wanted(target: SyncTarget, b: _Booking, now: datetime) -> bool:
    """A booking the calendar should show as a block: another member's (or nobody's)
    live booking of its resource, ending after now, starting within the horizon."""
    return (
        target.availability_days > 0
        and b.resource_id == target.resource.resource_id
        and not b.cancelled
        and b.coworker_id != target.coworker_id
        and b.to_time > now
        and b.from_time < now + timedelta(days=target.availability_days)
    )


async def load_blocks(
    conn: AsyncConnection,
    targets: Sequence[SyncTarget],
    now: datetime,
    *,
    only_pending: bool = False,
) -> dict[int, Loaded]:
    """Each target's block links, the bookings they show and the bookings it should
    show (connection id → those): two queries for all of them (a claimed batch of
    blocks-only passes reads once, sync/reconcile/fanout.py). `only_pending`: only the
    links whose create is owed (usually none, and then no booking query at all)."""
    ids = [t.connection_id for t in targets]
    query = select(
        EventLink.connection_id,
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
    ).where(EventLink.connection_id.in_(ids), EventLink.kind == BLOCK)
    if only_pending:
        query = query.where(EventLink.event_key.startswith(BLOCK_PENDING, autoescape=True))
    links: dict[int, list[_Link]] = {i: [] for i in ids}
    for r in await conn.execute(query.order_by(EventLink.id)):
        links[r.connection_id].append(
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
        )
    shown_ids = {link.booking_id for ls in links.values() for link in ls if link.booking_id}
    wanting = [] if only_pending else [t for t in targets if t.availability_days > 0]
    found: list[_Booking] = []
    if shown_ids or wanting:
        # What any of them shows, and every candidate any of them may want (`_wanted`
        # decides per calendar below).
        candidates = or_(
            *(
                and_(
                    Booking.resource_id == resource_id,
                    Booking.cancelled_at.is_(None),
                    Booking.to_time > now,
                    Booking.from_time < now + timedelta(days=days),
                )
                for resource_id, days in _horizons(wanting).items()
            ),
            Booking.id.in_(shown_ids),
        )
        rows = await conn.execute(
            select(*_booking_columns())
            .outerjoin(Coworker, Coworker.id == Booking.coworker_id)
            .where(candidates)
            .order_by(Booking.from_time, Booking.id)
        )
        found = [_as_booking(r) for r in rows]
    loaded: dict[int, Loaded] = {}
    for t in targets:
        mine = links[t.connection_id]
        shows = {link.booking_id for link in mine}
        loaded[t.connection_id] = (
            mine,
            {b.id: b for b in found if b.id in shows},
            {} if only_pending else {b.id: b for b in found if _wanted(t, b, now)},
        )
    return loaded


def _horizons(targets: Sequence[SyncTarget]) -> dict[int, int]:
    """Resource id → the longest horizon (days) among `targets` of that resource."""
    days: dict[int, int] = {}
    for t in targets:
        rid = t.resource.resource_id
        days[rid] = max(days.get(rid, 0), t.availability_days)
    return days


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
    loaded: Loaded | None = None,
) -> int:
    """Make the calendar hold exactly the blocks it should; returns the writes made.

    `only_pending`: only finish the creates a previous run began (before the pull, so
    the pull knows those events as blocks, never as the member's new events).
    `creates_at_once`: new blocks created concurrently (a new connection's fill).
    `loaded`: what `load_blocks` read for it already (a claimed batch's one read)."""
    if target.coworker_id is None or target.calendar_id is None:
        return 0
    if loaded is None or only_pending:
        # Two reads; autocommit (no BEGIN and ROLLBACK around them): a booking changed
        # between them is read as it is now, which the next pass would do anyway.
        async with autocommit(engine).connect() as conn:
            found = await load_blocks(conn, [target], now, only_pending=only_pending)
        loaded = found[target.connection_id]
    links, shown, wanted = loaded
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
