"""Blocks in a pull: taken out before the domain decides anything, and what each
touched block owes (sync/reconcile/blocks.py writes it).

A pulled block that is not the echo of our write is compared on start, end, title and
busy status only; a difference owes a put-back, a deletion (or absence from a full
pull) a new generation; anything else (a reminder, a colour) adopts the new etag.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal.db.models import Booking, EventLink
from spacecal.domain import CalendarEvent
from spacecal.providers.base import PullResult, SyncWindow
from spacecal.sync.reconcile.target import LinkRow
from spacecal.sync.reconcile.writeback import is_pending

BLOCK = "block"
# `pending_write` kinds of a block link: the member deleted it / changed it.
GONE = "block_gone"
PUT_BACK = "block_put_back"


@dataclass(frozen=True)
class Touch:
    """A block the member changed: `event` as pulled, None when it is gone."""

    key: str
    event: CalendarEvent | None
    etag: str | None


def split_links(links: dict[str, LinkRow]) -> tuple[dict[str, LinkRow], dict[str, LinkRow]]:
    """(the member's event links, the block links)."""
    own = {k: link for k, link in links.items() if link.kind != BLOCK}
    blocks = {k: link for k, link in links.items() if link.kind == BLOCK}
    return own, blocks


def separate(
    pull: PullResult, blocks: dict[str, LinkRow], window: SyncWindow, windowed: bool
) -> tuple[PullResult, list[Touch]]:
    """The pull without any block (the domain never sees one), and the blocks the
    member touched: echoes of our writes dropped; after a full pull a block it did
    not return (inside the window it covered) is gone."""
    rest: list[CalendarEvent] = []
    touches: list[Touch] = []
    for event in pull.events:
        link = blocks.get(event.key)
        if link is None:
            rest.append(event)
            continue
        etag = pull.etags.get(event.key)
        if link.written_etag is not None and etag == link.written_etag:
            continue
        touches.append(Touch(event.key, None if event.cancelled else event, etag))
    if pull.full:
        seen = {e.key for e in pull.events}
        for key, link in blocks.items():
            if key in seen or is_pending(key):
                continue
            b = link.booking
            if windowed and b is not None and (b.end <= window.start or b.start >= window.end):
                continue
            touches.append(Touch(key, None, None))
    return dataclasses.replace(pull, events=rest), touches


async def record_touches(
    conn: AsyncConnection, connection_id: int, touches: Sequence[Touch], now: datetime
) -> None:
    """Record what each touched block owes (a put-back, a new generation), or adopt
    the new etag when nothing compared changed (a reminder or colour the member's
    calendar app added is left alone)."""
    if not touches:
        return
    rows = {
        r.event_key: r
        for r in (
            await conn.execute(
                select(
                    EventLink.id,
                    EventLink.event_key,
                    EventLink.block_title,
                    EventLink.booking_version,
                    Booking.from_time,
                    Booking.to_time,
                    Booking.version,
                )
                .outerjoin(Booking, Booking.id == EventLink.booking_id)
                .where(
                    EventLink.connection_id == connection_id,
                    EventLink.kind == BLOCK,
                    EventLink.event_key.in_([t.key for t in touches]),
                )
            )
        ).all()
    }
    for touch in touches:
        row = rows.get(touch.key)
        if row is None:
            continue
        values: dict[str, Any]
        if touch.event is None:
            values = {"pending_write": {"kind": GONE}, "pending_since": now}
        elif _differs(touch.event, row):
            values = {"pending_write": {"kind": PUT_BACK}, "pending_since": now}
        else:
            values = {"written_etag": touch.etag}
        await conn.execute(update(EventLink).where(EventLink.id == row.id).values(**values))


def _differs(event: CalendarEvent, row: Any) -> bool:
    """Start, end, title and busy status against what the block shows; a booking moved
    since is rewritten by `push_blocks` anyway."""
    if event.time is None or event.time.all_day:
        return True
    moved = (
        row.version is not None
        and row.version == row.booking_version
        and ((event.time.start, event.time.end) != (row.from_time, row.to_time))
    )
    return moved or event.title != (row.block_title or "") or not event.busy
