"""Channels of deleted connections: stopped at the provider after the deletion.

Deleting a connection row (a resource deleted or made unbookable) happens in the
API's transaction, with no provider call there. Its open generations stay
`stopping` with the account that can stop them; `stop_orphans(account)` (a job
under the account lock, queueing lock `stop:{account}`) stops them, and the
keep-alive pass queues it again while any remain, until they lapse at their expiry
at the latest.
"""

from __future__ import annotations

import contextlib
import json
import logging
from functools import partial
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal import clock
from spacecal.db.models import ProviderAccount, SubscriptionGeneration
from spacecal.providers.base import NotFound, ProviderError, Subscription
from spacecal.sync.queue import QUEUE
from spacecal.sync.runtime import SyncRuntime
from spacecal.sync.tokens import AccountUnavailable

log = logging.getLogger("spacecal.orphans")

STOP_ORPHANS_TASK = "spacecal.stop_orphans"

_DEFER = text(
    "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, 0, :lock,"
    " :queueing_lock, CAST(:args AS jsonb), NULL)]::procrastinate_job_to_defer_v1[])"
)


async def defer_stop_orphans(conn: AsyncConnection, account_id: int) -> bool:
    params = {
        "queue": QUEUE,
        "task": STOP_ORPHANS_TASK,
        "lock": f"account:{account_id}",
        "queueing_lock": f"stop:{account_id}",
        "args": json.dumps({"account_id": account_id}),
    }
    try:
        async with conn.begin_nested():
            await conn.execute(_DEFER, params)
    except IntegrityError:
        return False
    return True


async def orphan_accounts(conn: AsyncConnection, now: Any) -> list[int]:
    """Accounts holding `stopping` generations of deleted connections that still run."""
    rows = await conn.scalars(
        select(SubscriptionGeneration.provider_account_id)
        .join(ProviderAccount, ProviderAccount.id == SubscriptionGeneration.provider_account_id)
        .where(
            SubscriptionGeneration.connection_id.is_(None),
            SubscriptionGeneration.status == "stopping",
            SubscriptionGeneration.expires_at > now,
            ProviderAccount.status == "active",
        )
        .distinct()
    )
    return [int(a) for a in rows if a is not None]


async def stop_orphans(rt: SyncRuntime, account_id: int) -> int:
    """Stop (at the provider) the generations left by deleted connections of this
    account. A failure leaves them `stopping`: the keep-alive pass queues this again,
    until they lapse at their expiry at the latest."""
    now = clock.now()
    async with rt.db.engine.connect() as conn:
        account = (
            await conn.execute(
                select(ProviderAccount.provider, ProviderAccount.status).where(
                    ProviderAccount.id == account_id
                )
            )
        ).first()
        gens = (
            await conn.execute(
                select(
                    SubscriptionGeneration.id,
                    SubscriptionGeneration.subscription_id,
                    SubscriptionGeneration.watch_resource_id,
                    SubscriptionGeneration.secret,
                    SubscriptionGeneration.expires_at,
                ).where(
                    SubscriptionGeneration.provider_account_id == account_id,
                    SubscriptionGeneration.connection_id.is_(None),
                    SubscriptionGeneration.status == "stopping",
                )
            )
        ).all()
    if account is None or account.status != "active":
        return 0
    provider = rt.provider_for(account.provider)
    tokens = rt.tokens(account.provider, account_id)
    stopped = 0
    for g in gens:
        if g.expires_at > now:
            sub = Subscription(
                id=g.subscription_id,
                expires_at=g.expires_at,
                secret=g.secret,
                resource_id=g.watch_resource_id,
            )
            try:
                with contextlib.suppress(NotFound):
                    await tokens.call(partial(provider.unsubscribe, subscription=sub))
            except (ProviderError, AccountUnavailable) as exc:
                log.warning("could not stop a leftover subscription: %s", exc)
                return stopped
        async with rt.db.engine.begin() as conn:
            await conn.execute(
                update(SubscriptionGeneration)
                .where(SubscriptionGeneration.id == g.id)
                .values(status="stopped")
            )
        stopped += 1
    return stopped
