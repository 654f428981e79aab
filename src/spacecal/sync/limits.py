"""What a provider allows one account, kept in PostgreSQL so every process honours it.

- The read-only pause. Google makes an account's calendars read-only for hours when it
  created too many calendars in a short period (403 `quotaExceeded`, "Calendar usage
  limits exceeded.": providers' `AccountReadOnly`). That is no throttle to back off
  from: every write fails until the provider lifts it. So the first process that meets
  it stores `provider_accounts.writes_paused_until` (`account_read_only_seconds` on),
  and every process writes nothing to the account before then: provisioning waits
  (`connections.setup_after`), reconcile pulls and decides but leaves its writes to the
  sweep after the pause (`retry_at`). Reads go on.
- Paced calendar creation (a generic cell rate per account, `calendar_pace_at` the
  theoretical time of the next creation): `google_calendar_create_burst` at once, then
  `google_calendar_creates_per_hour`; a set-up over the pace waits for its slot.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from spacecal.config import Settings
from spacecal.db.models import ProviderAccount


class MustWait(Exception):
    """The account cannot take this write before `until` (`paused`: the provider's
    read-only pause; otherwise spacecal's own pace of calendar creation)."""

    def __init__(self, until: datetime, *, paused: bool) -> None:
        super().__init__(f"waiting until {until.isoformat()}")
        self.until = until
        self.paused = paused


async def paused_until(engine: AsyncEngine, account_id: int, now: datetime) -> datetime | None:
    """When the account's read-only pause ends, or None when it is not paused."""
    async with engine.connect() as conn:
        until = await conn.scalar(
            select(ProviderAccount.writes_paused_until).where(ProviderAccount.id == account_id)
        )
    return until if until is not None and until > now else None


async def pause_writes(
    engine: AsyncEngine, account_id: int, now: datetime, seconds: float
) -> datetime:
    """Record the provider's read-only pause (never shortening a longer one)."""
    until = now + timedelta(seconds=seconds)
    async with engine.begin() as conn:
        stored = await conn.scalar(
            update(ProviderAccount)
            .where(ProviderAccount.id == account_id)
            .values(
                writes_paused_until=func.greatest(
                    func.coalesce(ProviderAccount.writes_paused_until, until), until
                )
            )
            .returning(ProviderAccount.writes_paused_until)
        )
    return stored if stored is not None else until


async def check_writes(engine: AsyncEngine, account_id: int, now: datetime) -> None:
    """Raise MustWait while the account is paused."""
    until = await paused_until(engine, account_id, now)
    if until is not None:
        raise MustWait(until, paused=True)


async def take_calendar_slot(
    engine: AsyncEngine, account_id: int, settings: Settings, now: datetime
) -> None:
    """Take one calendar creation of the account's pace, or raise MustWait with the
    time a slot frees. One row lock, so processes share the pace."""
    interval = timedelta(seconds=3600.0 / settings.google_calendar_creates_per_hour)
    tolerance = interval * (settings.google_calendar_create_burst - 1)
    async with engine.begin() as conn:
        pace = await conn.scalar(
            select(ProviderAccount.calendar_pace_at)
            .where(ProviderAccount.id == account_id)
            .with_for_update()
        )
        due = max(pace or now, now)
        if due - now > tolerance:
            raise MustWait(due - tolerance, paused=False)
        await conn.execute(
            update(ProviderAccount)
            .where(ProviderAccount.id == account_id)
            .values(calendar_pace_at=due + interval)
        )
