"""Subscription generations: each Google channel or Graph subscription spacecal made,
recorded with its secret and its account (so it can be stopped even after its
connection is gone), and the connection record showing the live one.

Provisioning and renewal both subscribe; both record through here."""

from __future__ import annotations

import contextlib
from datetime import datetime
from functools import partial

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from spacecal.db.models import Connection, SubscriptionGeneration
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


async def show_live(conn: AsyncConnection, connection_id: int, now: datetime) -> None:
    """The record shows the newest live generation (or nothing when there is none)."""
    newest = (
        await conn.execute(
            select(
                SubscriptionGeneration.subscription_id,
                SubscriptionGeneration.watch_resource_id,
                SubscriptionGeneration.expires_at,
            )
            .where(
                SubscriptionGeneration.connection_id == connection_id,
                SubscriptionGeneration.status == "live",
            )
            .order_by(SubscriptionGeneration.expires_at.desc(), SubscriptionGeneration.id.desc())
            .limit(1)
        )
    ).first()
    await conn.execute(
        update(Connection)
        .where(Connection.id == connection_id)
        .values(
            subscription_id=newest.subscription_id if newest else None,
            watch_resource_id=newest.watch_resource_id if newest else None,
            subscription_expire_date=newest.expires_at if newest else None,
            updated_on=now,
        )
    )


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
