"""Which calendar a set-up may take over: a leftover spacecal made earlier under the
name it gives, or a CalendarId an administrator stored; and what adopting one undoes.

Apart from the set-up steps (`provisioning.py`) because adopting is where a set-up
could take a calendar that is not spacecal's: every rule that guards it (the marker
and the legacy checks of reconcile/verify.py, no other connection naming it) is read
here, in one place.
"""

from __future__ import annotations

from functools import partial

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from spacecal.db.models import Connection
from spacecal.providers.base import CalendarProvider
from spacecal.sync.accounts.setup_rows import SetUp
from spacecal.sync.reconcile.target import calendar_verified
from spacecal.sync.reconcile.verify import adoptable, verify
from spacecal.sync.runtime import SyncRuntime
from spacecal.sync.tokens import AccountTokens
from spacecal.sync.upkeep.detached_calendars import forget_adopted


async def leftover_calendar(
    runtime: SyncRuntime,
    setup: SetUp,
    name: str,
    provider: CalendarProvider,
    tokens: AccountTokens,
) -> str | None:
    """A calendar spacecal made earlier under `name` (a crash before its id was
    stored, or a reconnect), verified like any other (reconcile/verify.py
    `adoptable`) and named by no other connection; marked if it predates markers."""
    calendars = await tokens.call(provider.list_calendars)
    async with runtime.db.engine.connect() as conn:
        taken = set(
            (
                await conn.scalars(
                    select(Connection.calendar_id).where(
                        Connection.provider_account_id == setup.account_id,
                        Connection.id != setup.id,
                        Connection.calendar_id.is_not(None),
                    )
                )
            ).all()
        )
    for calendar in calendars:
        if calendar.name != name or calendar.id in taken:
            continue
        ok, unmarked = await adoptable(
            runtime, provider, tokens, setup.account_id, calendar.id, name
        )
        if ok:
            if unmarked:
                await tokens.call(partial(provider.mark_calendar, calendar_id=calendar.id))
            return calendar.id
    return None


async def take_back(
    engine: AsyncEngine,
    setup: SetUp,
    adopted: str,
    name: str,
    provider: CalendarProvider,
    tokens: AccountTokens,
) -> None:
    """Adopted: a note owed to it from an earlier disconnect is void, and one already
    written ("no longer synced") is taken away before it is stored (a crash in between
    adopts it again and repeats both)."""
    async with engine.begin() as conn:
        await forget_adopted(conn, setup.account_id, adopted)
    await tokens.call(lambda a: provider.set_calendar_note(a, adopted, name=name, note=None))


async def verify_stored(
    runtime: SyncRuntime,
    setup: SetUp,
    calendar_id: str,
    provider: CalendarProvider,
    tokens: AccountTokens,
) -> None:
    """A stored CalendarId (an administrator's) is used only once verified as a
    calendar spacecal made for this account (sync/reconcile/verify.py); raises
    CalendarUnverified otherwise."""
    async with runtime.db.engine.connect() as conn:
        row = (
            await conn.execute(
                select(calendar_verified(), Connection.marker_pending).where(
                    Connection.id == setup.id
                )
            )
        ).one()
    if row[0]:
        return
    await verify(
        runtime,
        provider,
        tokens,
        connection_id=setup.id,
        account_id=setup.account_id,
        calendar_id=calendar_id,
        marker_pending=bool(row[1]),
    )
