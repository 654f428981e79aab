"""The set-up's cursor step: one full pull, the events bookings already name linked,
and the cursor and sync window stored.

Apart from the other steps (`provisioning.py`) because it is the one that reads the
calendar's contents: its rule (no cursor while an event is left unexplained, so a
reconcile's full pull decides those) belongs with the pull, not with the ordering.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from spacecal import clock
from spacecal.config import Settings
from spacecal.db.columns import CURSOR_COLUMN
from spacecal.db.models import Connection
from spacecal.jobs.reconcile import defer_reconcile
from spacecal.providers.base import CalendarProvider
from spacecal.sync.accounts.setup_rows import SetUp
from spacecal.sync.naming import sync_window
from spacecal.sync.reconcile.adopt import link_known_events
from spacecal.sync.tokens import AccountTokens


async def first_pull(
    engine: AsyncEngine,
    settings: Settings,
    setup: SetUp,
    calendar_id: str,
    provider: CalendarProvider,
    tokens: AccountTokens,
) -> None:
    """A full pull; events of an adopted calendar that bookings already name are
    linked (sync/reconcile/adopt.py). The cursor is stored only when no event is left
    unexplained; otherwise a reconcile's full pull decides those."""
    now = clock.now()
    window = sync_window(
        setup.time_zone,
        setup.days_ahead,
        now,
        margin_days=settings.sync_window_margin_days,
    )
    result = await tokens.call(lambda a: provider.pull(a, calendar_id, None, window))
    async with engine.begin() as conn:
        unexplained = await link_known_events(
            conn,
            connection_id=setup.id,
            provider=setup.provider,
            calendar_id=calendar_id,
            coworker_id=setup.coworker_id,
            resource_id=setup.resource_id,
            pull=result,
            now=now,
        )
        values: dict[str, Any] = {
            "sync_window_start": window.start,
            "sync_window_end": window.end,
            "last_sync_at": now,
            "updated_on": now,
        }
        if unexplained == 0:
            values[CURSOR_COLUMN[setup.provider]] = result.cursor
        await conn.execute(update(Connection).where(Connection.id == setup.id).values(**values))
        if unexplained:
            await defer_reconcile(conn, setup.id, setup.account_id)
