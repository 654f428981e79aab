"""A pull that holds only spacecal's own writes coming back (echoes).

After spacecal writes a block or a booking's event, the provider notifies (a Google
watch, a Graph subscription) and the next pull returns that event with the etag
spacecal stored: nothing to decide. For a connection that owes its calendar nothing
(owed.py, read with the target in start.py) such a pull ends the reconcile here: one
read of the pulled events' links and one UPDATE storing the cursor, instead of the
~40 statements of the full path. An availability fan-out writes hundreds of
calendars and pulls each echo once, and the full path for those echoes was about
half of the fan-out's machine time (docs/performance.md, "Availability fan-out").

Anything else (a deletion, an event whose etag is not the one written, a full pull,
a series read whole) takes the full path, which decides it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from spacecal.db.columns import CURSOR_COLUMN
from spacecal.db.models import Connection, EventLink
from spacecal.providers.base import PullResult
from spacecal.sync.reconcile.target import SyncTarget


def only_echoes(pull: PullResult, written: dict[str, str | None]) -> bool:
    """Every pulled event holds the etag spacecal last wrote to it (`written`: event
    key → the link's `written_etag`); the caller has ruled out deletions and full
    pulls."""
    return all(
        written.get(e.key) is not None and pull.etags.get(e.key) == written[e.key]
        for e in pull.events
    )


async def store_if_only_echoes(
    reads: AsyncEngine, target: SyncTarget, pull: PullResult, now: datetime
) -> bool:
    """Store the pull's cursor when it holds only echoes (an empty pull included) and
    the row still names the calendar and account it was pulled from; False: nothing
    stored, the full path decides the pull. `reads`: the autocommit engine."""
    if pull.full or pull.whole_series or any(e.cancelled for e in pull.events):
        return False
    async with reads.connect() as conn:
        if pull.events:
            rows = await conn.execute(
                select(EventLink.event_key, EventLink.written_etag).where(
                    EventLink.connection_id == target.connection_id,
                    EventLink.event_key.in_([e.key for e in pull.events]),
                )
            )
            if not only_echoes(pull, {r.event_key: r.written_etag for r in rows}):
                return False
        stored = await conn.execute(
            update(Connection)
            .where(
                Connection.id == target.connection_id,
                Connection.calendar_id == target.calendar_id,
                Connection.provider_account_id == target.account_id,
            )
            .values({CURSOR_COLUMN[target.provider]: pull.cursor, "last_sync_at": now})
        )
    return bool(stored.rowcount == 1)
