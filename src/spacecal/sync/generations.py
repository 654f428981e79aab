"""Subscription generations: each Google channel or Graph subscription spacecal made,
recorded with its secret and its account (so it can be stopped even after its
connection is gone), and the connection record showing the live one.

Provisioning and renewal both subscribe; both record through here."""

from __future__ import annotations

import contextlib
from datetime import datetime
from functools import partial

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from spacecal.db.models import SubscriptionGeneration
from spacecal.providers.base import CalendarProvider, NotFound, Subscription
from spacecal.sync.tokens import AccountTokens


async def record_live(
    conn: AsyncConnection,
    *,
    connection_id: int,
    account_id: int | None,
    provider: str,
    sub: Subscription,
    now: datetime,
) -> None:
    """A new live generation, in `conn`'s transaction; the record is not updated here
    (callers retire old generations first, then call `show_live`)."""
    await conn.execute(
        insert(SubscriptionGeneration).values(
            connection_id=connection_id,
            provider_account_id=account_id,
            provider=provider,
            subscription_id=sub.id,
            watch_resource_id=sub.resource_id,
            secret=sub.secret,
            expires_at=sub.expires_at,
            status="live",
            created_at=now,
        )
    )


# One statement: a row-valued sub-select sets the three columns to NULL when it finds
# no live generation (PostgreSQL's UPDATE semantics), which is what the record shows.
_SHOW_LIVE = text(
    "UPDATE connections SET (subscription_id, watch_resource_id, subscription_expire_date)"
    " = (SELECT g.subscription_id, g.watch_resource_id, g.expires_at"
    " FROM subscription_generations AS g"
    " WHERE g.connection_id = :connection_id AND g.status = 'live'"
    " ORDER BY g.expires_at DESC, g.id DESC LIMIT 1),"
    " updated_on = :now WHERE id = :connection_id"
)


async def show_live(conn: AsyncConnection, connection_id: int, now: datetime) -> None:
    """The record shows the newest live generation (or nothing when there is none)."""
    await conn.execute(_SHOW_LIVE, {"connection_id": connection_id, "now": now})


async def drop_unknown_subscriptions(
    engine: AsyncEngine,
    provider: CalendarProvider,
    tokens: AccountTokens,
    calendar_id: str | None,
) -> None:
    """Delete the calendar's subscriptions spacecal has no live record of: leftovers of
    an attempt whose answer was lost (Graph answers 409 to a second subscription on the
    same calendar)."""
    listed = await tokens.call(provider.list_subscriptions)
    async with engine.connect() as conn:
        known = set(
            await conn.scalars(
                select(SubscriptionGeneration.subscription_id).where(
                    SubscriptionGeneration.provider == provider.name,
                    SubscriptionGeneration.status == "live",
                )
            )
        )
    for sub in listed:
        if sub.id not in known and sub.calendar_id in (calendar_id, None):
            with contextlib.suppress(NotFound):
                await tokens.call(partial(provider.unsubscribe, subscription=sub))
