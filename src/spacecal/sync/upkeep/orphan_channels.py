"""Orphan channels: the subscriptions deleted connections leave behind, stopped at
the provider after the deletion. (Their calendars are the other leftover: kept, with
a note, in sync/upkeep/detached_calendars.py.)

Deleting a connection row (a resource deleted or made unbookable) happens in the
API's transaction, with no provider call there. Its open generations stay
`stopping` with the account that can stop them, and its kept calendar is owed a note
(sync/upkeep/detached_calendars.py). `stop_orphans(account)` (a job under the
account lock, queueing lock `stop:{account}`) stops those channels/subscriptions
and writes those notes.

A stop that fails is not tried again on the next keep-alive pass (one a minute) but
after a growing wait: each generation records `stop_failures` and `stop_retry_at`
(the failure policy, spacecal.failures `Loop.LEFTOVERS`), and after
`leftover_max_attempts` tries it is left to lapse at its expiry (the pass then marks
it stopped without a call; its notifications are ignored meanwhile, as it has no
connection). The pass queues this job only for accounts with something due, so a
provider that keeps failing costs one call per backoff step, never a loop.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime
from functools import partial

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal import clock, jobs
from spacecal.db.conditions import AccountStatus, GenerationStatus
from spacecal.db.models import ProviderAccount, SubscriptionGeneration
from spacecal.failures import Loop, backoff
from spacecal.jobs import names
from spacecal.providers.base import NotFound, ProviderError, Subscription, Throttled
from spacecal.sync.runtime import SyncRuntime
from spacecal.sync.tokens import AccountUnavailable
from spacecal.sync.upkeep.detached_calendars import accounts_owing_notes, write_notes
from spacecal.sync.upkeep.generations import GEN_COLUMNS

log = logging.getLogger("spacecal.orphans")


async def defer_stop_orphans(conn: AsyncConnection, account_id: int) -> bool:
    job = jobs.JobRow(f"account:{account_id}", f"stop:{account_id}", {"account_id": account_id})
    return await jobs.defer(conn, names.STOP_ORPHANS, job)


def _stop_due(now: datetime, max_attempts: int) -> list[ColumnElement[bool]]:
    return [
        SubscriptionGeneration.connection_id.is_(None),
        SubscriptionGeneration.status == GenerationStatus.STOPPING,
        SubscriptionGeneration.expires_at > now,
        SubscriptionGeneration.stop_failures < max_attempts,
        or_(
            SubscriptionGeneration.stop_retry_at.is_(None),
            SubscriptionGeneration.stop_retry_at <= now,
        ),
    ]


async def orphan_accounts(conn: AsyncConnection, now: datetime, max_attempts: int) -> list[int]:
    """Active accounts with leftovers due now: a channel of a deleted connection still
    running (and not waiting out a backoff), or a note owed to a kept calendar."""
    rows = await conn.scalars(
        select(SubscriptionGeneration.provider_account_id)
        .join(ProviderAccount, ProviderAccount.id == SubscriptionGeneration.provider_account_id)
        .where(ProviderAccount.status == AccountStatus.ACTIVE, *_stop_due(now, max_attempts))
        .distinct()
    )
    accounts = {int(a) for a in rows if a is not None}
    accounts |= await accounts_owing_notes(conn, now, max_attempts)
    return sorted(accounts)


@jobs.task(names.STOP_ORPHANS)
async def stop_orphans_task(rt: SyncRuntime, account_id: int) -> None:
    """The job: lock = the account, queueing lock = stop:{account} (no retry)."""
    stopped = await stop_orphans(rt, account_id)
    if stopped:
        log.info("stopped %d subscription(s) of deleted connections", stopped)


async def stop_orphans(rt: SyncRuntime, account_id: int) -> int:
    """Stop (at the provider) the due generations left by deleted connections of this
    account, then write the notes owed to its kept calendars. Returns how many
    leftovers were settled. A failed stop waits out its backoff (see the module)."""
    now = clock.now()
    max_attempts = rt.settings.leftover_max_attempts
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
                select(*GEN_COLUMNS, SubscriptionGeneration.stop_failures)
                .where(
                    SubscriptionGeneration.provider_account_id == account_id,
                    *_stop_due(now, max_attempts),
                )
                .order_by(SubscriptionGeneration.id)
            )
        ).all()
    if account is None or account.status != AccountStatus.ACTIVE:
        return 0
    provider = rt.provider_for(account.provider)
    tokens = rt.tokens(account.provider, account_id)
    settled = 0
    for g in gens:
        sub = Subscription(
            id=g.subscription_id,
            expires_at=g.expires_at,
            secret=g.secret,
            resource_id=g.watch_resource_id,
        )
        try:
            with contextlib.suppress(NotFound):
                await tokens.call(partial(provider.unsubscribe, subscription=sub))
        except AccountUnavailable:
            return settled  # needs reconnect now: nothing more can be done for it
        except ProviderError as exc:
            await _stop_failed(rt, g.id, g.stop_failures + 1, exc)
            if isinstance(exc, Throttled):
                return settled  # the account is over its quota: leave the rest for later
            continue
        await _mark_stopped(rt, g.id)
        settled += 1
    return settled + await write_notes(rt, account_id, account.provider)


async def _mark_stopped(rt: SyncRuntime, generation_id: int) -> None:
    async with rt.db.engine.begin() as conn:
        await conn.execute(
            update(SubscriptionGeneration)
            .where(SubscriptionGeneration.id == generation_id)
            .values(status=GenerationStatus.STOPPED, stop_retry_at=None)
        )


async def _stop_failed(
    rt: SyncRuntime, generation_id: int, failures: int, exc: ProviderError
) -> None:
    now = clock.now()
    wait = backoff(rt.settings, Loop.LEFTOVERS).wait_after(exc, failures)
    log.warning(
        "could not stop a leftover subscription (try %d, next in %ss): %s",
        failures,
        int(wait.total_seconds()),
        exc,
    )
    async with rt.db.engine.begin() as conn:
        await conn.execute(
            update(SubscriptionGeneration)
            .where(SubscriptionGeneration.id == generation_id)
            .values(stop_failures=failures, stop_retry_at=now + wait)
        )
