"""Graph lifecycle notifications, turned into durable marks in intake's transaction.

- `reauthorizationRequired`: `renew_requested`; the keep-alive job PATCHes the
  expiry, which reauthorizes the subscription (a 404 there recovers it).
- `subscriptionRemoved`: the generation is `stopped` (Graph deleted it); with no
  live generation left, the keep-alive job subscribes anew and resyncs in full.
- `missed`: changes were lost; `resync_requested`: the keep-alive job clears the
  delta link under the account lock and queues a reconcile (a full pull).

Each also queues the keep-alive job (same transaction), so the 202 means the work
is recorded; if that job were lost, the keep-alive pass finds the mark again.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal.db.models import Connection, SubscriptionGeneration
from spacecal.sync.upkeep.keepalive import defer_keepalive

EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")


@dataclass(frozen=True)
class LifecycleEvent:
    event: str
    subscription_id: str
    connection_id: int
    account_id: int | None


async def record_lifecycle(conn: AsyncConnection, events: list[LifecycleEvent]) -> None:
    for e in events:
        if e.event == "subscriptionRemoved":
            await conn.execute(
                update(SubscriptionGeneration)
                .where(
                    SubscriptionGeneration.provider == "microsoft",
                    SubscriptionGeneration.subscription_id == e.subscription_id,
                )
                .values(status="stopped")
            )
        elif e.event == "reauthorizationRequired":
            await conn.execute(
                update(Connection)
                .where(Connection.id == e.connection_id)
                .values(renew_requested=True)
            )
        elif e.event == "missed":
            await conn.execute(
                update(Connection)
                .where(Connection.id == e.connection_id)
                .values(resync_requested=True)
            )
        else:
            continue
        await defer_keepalive(conn, e.connection_id, e.account_id)
