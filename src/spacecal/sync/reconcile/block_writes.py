"""One pass's writes of availability blocks (blocks.py decides what is owed): the
provider calls and the links that record them, a create's intent recorded before
the provider answers."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from spacecal import clock
from spacecal.db.engine import autocommit
from spacecal.db.models import Booking, Connection, Coworker, EventLink
from spacecal.providers.base import (
    CalendarProvider,
    EventWrite,
    NotFound,
    WrittenEvent,
)
from spacecal.sync.naming import block_key, new_marker
from spacecal.sync.reconcile.target import SyncTarget
from spacecal.sync.reconcile.touched import BLOCK
from spacecal.sync.reconcile.writeback import PENDING, is_pending
from spacecal.sync.tokens import AccountTokens

BLOCK_TITLE = "Booked"
# A create owed (its intent recorded before the provider's answer): this key.
BLOCK_PENDING = PENDING + "block:"
_HOUR = timedelta(hours=1)
# The intents of a pass's creates, skipping bookings another pass linked meanwhile: a
# statement of its own after the connection's row lock, so it sees that pass's commit.
_INSERT_INTENTS = text(
    "INSERT INTO event_links (connection_id, event_key, booking_id, booking_version,"
    " block_title, kind, marker, updated_at, refused_all_day, generation, put_backs)"
    " SELECT :connection, v.key, v.booking_id, v.version, v.title, CAST(:kind AS varchar),"
    " v.marker, :now, false, 0, 0"
    " FROM unnest(CAST(:keys AS text[]), CAST(:ids AS bigint[]), CAST(:versions AS integer[]),"
    " CAST(:titles AS text[]), CAST(:markers AS text[]))"
    " AS v(key, booking_id, version, title, marker)"
    " WHERE NOT EXISTS (SELECT 1 FROM event_links l WHERE l.connection_id = :connection"
    " AND l.kind = CAST(:kind AS varchar) AND l.booking_id = v.booking_id)"
    " ON CONFLICT DO NOTHING RETURNING id, booking_id"
)


# --- after the commit: writing the difference ---------------------------------------


@dataclass(frozen=True)
class _Booking:
    id: int
    resource_id: int
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
        Booking.resource_id,
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
        r.resource_id,
        r.from_time,
        r.to_time,
        r.version,
        r.cancelled_at is not None,
        r.coworker_id,
        r.full_name,
    )


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
        # One statement each (a link's update or delete): autocommit, one round trip.
        self.single = autocommit(engine)
        self.calendar_id = target.calendar_id
        self.now, self.limit = now, put_backs_per_hour
        self.writes = 0

    def event(self, b: _Booking, generation: int, marker: str) -> EventWrite:
        return EventWrite(
            idempotency_key=block_key(marker, generation),
            title=block_title(self.target, b.full_name),
            description="",  # never the booking's notes or any other detail
            start=b.from_time,
            end=b.to_time,
            time_zone=self.target.time_zone,
            marker=marker,
            block=True,
        )

    async def _set(self, link_id: int, **values: Any) -> None:
        async with self.single.connect() as conn:
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
        # A pending link here never reached the provider: the pass began by finishing
        # every create an earlier one left (`push_blocks(only_pending=True)`).
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
        async with self.single.connect() as conn:
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

    async def finish(self, link: _Link, b: _Booking) -> None:
        """Finish a create an earlier pass began. If that create reached the provider
        but its answer was lost, the repeat under the same key answers with the event
        as first written (Graph's transactionId, Google's 409 then a read): the times
        and title of the booking as it was then. So when the booking or the title
        changed since the intent, the create is followed by an update."""
        marker = link.marker or new_marker()
        event = self.event(b, link.generation, marker)
        written = await self.tokens.call(
            partial(self.provider.create_event, calendar_id=self.calendar_id, event=event)
        )
        self.writes += 1
        title = block_title(self.target, b.full_name)
        if link.booking_version == b.version and link.block_title == title:
            # No etag of ours: the event may be the member's edit of what we first
            # wrote (chaos seed 380), so the next pull compares it instead of
            # skipping it as our echo.
            await self._set(link.id, **{**self._written(b, written), "written_etag": None})
            return
        # Recorded as written at the intent's version, so a crash here still owes the
        # update to the next pass.
        await self._set(
            link.id,
            event_key=written.event_id,
            written_etag=written.etag,
            pending_write=None,
            pending_since=None,
        )
        fresh = _Link(
            link.id,
            written.event_id,
            link.booking_id,
            link.booking_version,
            link.generation,
            marker,
            link.block_title,
            None,
            link.put_backs,
            link.put_backs_since,
        )
        await self.rewrite(fresh, b)

    async def regenerate(self, link: _Link, b: _Booking, **extra: Any) -> None:
        """The member deleted the block: write it again under a new generation."""
        generation = link.generation + 1
        marker = link.marker or new_marker()
        await self._set(
            link.id,
            event_key=f"{BLOCK_PENDING}{b.id}",
            generation=generation,
            marker=marker,
            # The intent's snapshot, so a lost answer is finished by `finish`.
            booking_version=b.version,
            block_title=block_title(self.target, b.full_name),
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

    async def _links(self, bookings: list[_Booking]) -> list[tuple[int, _Booking, str]]:
        """Record the intent of each create (a pending link), skipping bookings another
        pass over this calendar linked since our snapshot (its link then holds the
        event id, so the pending key does not conflict): the connection's row lock
        orders that check with the insert."""
        markers = {b.id: new_marker() for b in bookings}
        async with self.engine.begin() as conn:
            await conn.execute(
                select(Connection.id)
                .where(Connection.id == self.target.connection_id)
                .with_for_update()
            )
            made = await conn.execute(
                _INSERT_INTENTS,
                {
                    "connection": self.target.connection_id,
                    "kind": BLOCK,
                    "now": clock.now(),
                    "keys": [f"{BLOCK_PENDING}{b.id}" for b in bookings],
                    "ids": [b.id for b in bookings],
                    "versions": [b.version for b in bookings],
                    "titles": [block_title(self.target, b.full_name) for b in bookings],
                    "markers": [markers[b.id] for b in bookings],
                },
            )
            found = {int(r.booking_id): int(r.id) for r in made}
        return [(found[b.id], b, markers[b.id]) for b in bookings if b.id in found]

    async def add_all(self, bookings: list[_Booking], *, at_once: int = 1) -> None:
        """Create the blocks of `bookings`, `at_once` at a time (a new connection's
        fill). One create per block, each its own request under its own idempotency
        key with its intent recorded first, so an answer lost (or a pass cut short)
        leaves exactly the pending links the next pass finishes before any pull. The
        batch path (Google's create_events) is off: chaos seed 20 (a lost answer to a
        batch) left a block at a moved booking's old time."""
        made = await self._links(bookings) if bookings else []
        if at_once <= 1 or len(made) <= 1:
            for link_id, b, marker in made:
                await self.create(link_id, b, 0, marker)
            return
        gate = asyncio.Semaphore(at_once)
        failures: list[BaseException] = []

        async def one(link_id: int, b: _Booking, marker: str) -> None:
            async with gate:
                if failures:
                    return  # the link stays pending for the next pass
                try:
                    await self.create(link_id, b, 0, marker)
                except Exception as exc:
                    failures.append(exc)

        # A failure (throttling, pacing, a lost answer) stops the creates not yet
        # started; those running finish (cancelling one midway would strand its
        # database connection); the first failure is raised as the reconcile's own.
        await asyncio.gather(*(one(link_id, b, marker) for link_id, b, marker in made))
        if failures:
            raise failures[0]
