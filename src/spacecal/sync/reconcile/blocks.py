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

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from spacecal import clock
from spacecal.db.models import Booking, Connection, Coworker, EventLink
from spacecal.providers.base import (
    CalendarProvider,
    EventWrite,
    NotFound,
    WrittenEvent,
)
from spacecal.sync.naming import block_key, new_marker
from spacecal.sync.reconcile.target import SyncTarget
from spacecal.sync.reconcile.touched import BLOCK, GONE, PUT_BACK
from spacecal.sync.reconcile.writeback import PENDING, is_pending
from spacecal.sync.tokens import AccountTokens

BLOCK_TITLE = "Booked"
# A create owed (its intent recorded before the provider's answer): this key.
BLOCK_PENDING = PENDING + "block:"
_HOUR = timedelta(hours=1)


# --- after the commit: writing the difference ---------------------------------------


@dataclass(frozen=True)
class _Booking:
    id: int
    from_time: datetime
    to_time: datetime
    version: int
    cancelled: bool
    coworker_id: int | None
    full_name: str | None


@dataclass(frozen=True)
class _Link:
    id: int
    event_key: str
    booking_id: int | None
    booking_version: int | None
    generation: int
    marker: str | None
    block_title: str | None
    pending: str | None
    put_backs: int
    put_backs_since: datetime | None


def _booking_columns() -> tuple[Any, ...]:
    return (
        Booking.id,
        Booking.from_time,
        Booking.to_time,
        Booking.version,
        Booking.cancelled_at,
        Booking.coworker_id,
        Coworker.full_name,
    )


def _as_booking(r: Any) -> _Booking:
    return _Booking(
        r.id,
        r.from_time,
        r.to_time,
        r.version,
        r.cancelled_at is not None,
        r.coworker_id,
        r.full_name,
    )


async def _load(
    conn: AsyncConnection, target: SyncTarget, now: datetime
) -> tuple[list[_Link], dict[int, _Booking], dict[int, _Booking]]:
    """The block links, the bookings they show, and the bookings that should be shown."""
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
        for r in await conn.execute(
            select(
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
            )
            .where(EventLink.connection_id == target.connection_id, EventLink.kind == BLOCK)
            .order_by(EventLink.id)
        )
    ]
    shown_ids = [link.booking_id for link in links if link.booking_id is not None]
    shown = {
        r.id: _as_booking(r)
        for r in await conn.execute(
            select(*_booking_columns())
            .outerjoin(Coworker, Coworker.id == Booking.coworker_id)
            .where(Booking.id.in_(shown_ids))
        )
    }
    wanted: dict[int, _Booking] = {}
    if target.availability_days > 0:
        horizon = now + timedelta(days=target.availability_days)
        wanted = {
            r.id: _as_booking(r)
            for r in await conn.execute(
                select(*_booking_columns())
                .outerjoin(Coworker, Coworker.id == Booking.coworker_id)
                .where(
                    Booking.resource_id == target.resource.resource_id,
                    Booking.cancelled_at.is_(None),
                    Booking.coworker_id.is_distinct_from(target.coworker_id),
                    Booking.to_time > now,
                    Booking.from_time < horizon,
                )
                .order_by(Booking.from_time, Booking.id)
            )
        }
    return links, shown, wanted


def block_title(target: SyncTarget, full_name: str | None) -> str:
    """ "Booked", or the booking member's full name when the business shows names."""
    return full_name if target.availability_names and full_name else BLOCK_TITLE


class _Writer:
    """The writes of one pass over one calendar's blocks."""

    def __init__(
        self,
        engine: AsyncEngine,
        target: SyncTarget,
        provider: CalendarProvider,
        tokens: AccountTokens,
        now: datetime,
        put_backs_per_hour: int,
    ) -> None:
        assert target.calendar_id is not None
        self.engine, self.target, self.provider, self.tokens = engine, target, provider, tokens
        self.calendar_id = target.calendar_id
        self.now, self.limit = now, put_backs_per_hour
        self.writes = 0

    def event(self, b: _Booking, generation: int, marker: str) -> EventWrite:
        return EventWrite(
            idempotency_key=block_key(b.id, self.calendar_id, generation),
            title=block_title(self.target, b.full_name),
            description="",  # never the booking's notes or any other detail
            start=b.from_time,
            end=b.to_time,
            time_zone=self.target.time_zone,
            marker=marker,
            block=True,
        )

    async def _set(self, link_id: int, **values: Any) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(EventLink)
                .where(EventLink.id == link_id)
                .values(updated_at=clock.now(), **values)
            )

    def _written(self, b: _Booking, written: WrittenEvent) -> dict[str, Any]:
        return {
            "event_key": written.event_id,
            "written_etag": written.etag,
            "booking_version": b.version,
            "block_title": block_title(self.target, b.full_name),
            "pending_write": None,
            "pending_since": None,
        }

    def may_put_back(self, link: _Link) -> dict[str, Any] | None:
        """The link's new put-back count when one more is allowed this hour, else None."""
        since = link.put_backs_since
        if since is None or self.now - since >= _HOUR:
            since, count = self.now, 0
        else:
            count = link.put_backs
        if count >= self.limit:
            return None
        return {"put_backs": count + 1, "put_backs_since": since}

    async def remove(self, link: _Link) -> None:
        if not is_pending(link.event_key):
            with contextlib.suppress(NotFound):
                await self.tokens.call(
                    partial(
                        self.provider.delete_event,
                        calendar_id=self.calendar_id,
                        event_id=link.event_key,
                    )
                )
            self.writes += 1
        async with self.engine.begin() as conn:
            await conn.execute(delete(EventLink).where(EventLink.id == link.id))

    async def create(
        self, link_id: int, b: _Booking, generation: int, marker: str, **extra: Any
    ) -> None:
        """Create under the key of `generation` (the intent is already on the link, so
        a crash before the answer is finished by the next pass with the same key)."""
        event = self.event(b, generation, marker)
        written = await self.tokens.call(
            partial(self.provider.create_event, calendar_id=self.calendar_id, event=event)
        )
        self.writes += 1
        await self._set(link_id, **self._written(b, written), **extra)

    async def regenerate(self, link: _Link, b: _Booking, **extra: Any) -> None:
        """The member deleted the block: write it again under a new generation."""
        generation = link.generation + 1
        marker = link.marker or new_marker()
        await self._set(
            link.id,
            event_key=f"{BLOCK_PENDING}{b.id}",
            generation=generation,
            marker=marker,
            **extra,
        )
        await self.create(link.id, b, generation, marker)

    async def rewrite(self, link: _Link, b: _Booking, **extra: Any) -> None:
        event = self.event(b, link.generation, link.marker or new_marker())
        try:
            written = await self.tokens.call(
                partial(
                    self.provider.update_event,
                    calendar_id=self.calendar_id,
                    event_id=link.event_key,
                    event=event,
                )
            )
        except NotFound:
            await self.regenerate(link, b, **extra)
            return
        self.writes += 1
        await self._set(link.id, **self._written(b, written), **extra)

    async def add(self, b: _Booking) -> None:
        marker = new_marker()
        async with self.engine.begin() as conn:
            # Another pass over this calendar may have written this block since our
            # snapshot (its link then holds the event id, so the pending key below does
            # not conflict): the connection's row lock orders the check with its insert.
            await conn.execute(
                select(Connection.id)
                .where(Connection.id == self.target.connection_id)
                .with_for_update()
            )
            if await conn.scalar(
                select(EventLink.id).where(
                    EventLink.connection_id == self.target.connection_id,
                    EventLink.kind == BLOCK,
                    EventLink.booking_id == b.id,
                )
            ):
                return
            link_id = await conn.scalar(
                insert(EventLink)
                .values(
                    connection_id=self.target.connection_id,
                    event_key=f"{BLOCK_PENDING}{b.id}",
                    booking_id=b.id,
                    booking_version=b.version,
                    kind=BLOCK,
                    marker=marker,
                    updated_at=clock.now(),
                )
                .on_conflict_do_nothing()
                .returning(EventLink.id)
            )
        if link_id is not None:
            await self.create(link_id, b, 0, marker)


async def push_blocks(
    engine: AsyncEngine,
    target: SyncTarget,
    provider: CalendarProvider,
    tokens: AccountTokens,
    *,
    now: datetime,
    put_backs_per_hour: int,
    only_pending: bool = False,
) -> int:
    """Make the calendar hold exactly the blocks it should; returns the writes made.

    `only_pending`: only finish the creates a previous run began (before the pull, so
    the pull knows those events as blocks, never as the member's new events)."""
    if target.coworker_id is None or target.calendar_id is None:
        return 0
    async with engine.connect() as conn:
        links, shown, wanted = await _load(conn, target, now)
    w = _Writer(engine, target, provider, tokens, now, put_backs_per_hour)
    if only_pending:
        for link in links:
            b = shown.get(link.booking_id) if link.booking_id is not None else None
            if b is not None and link.event_key.startswith(BLOCK_PENDING):
                await w.create(link.id, b, link.generation, link.marker or new_marker())
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
            await w.create(link.id, b, link.generation, link.marker or new_marker())
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
    for b in wanted.values():
        if b.id not in linked:
            await w.add(b)
    return w.writes
