"""Taking calendars away: one resource switched off, a whole account disconnected, or a
connection record deleted through the API.

Provider clean-up is best effort within a short budget (a kept calendar's
availability blocks are deleted too: nothing would keep them true): a subscription that could not
be stopped keeps its generation row with status `stopping` (a later job finishes it;
it lapses at its expiry at the latest and its notifications are ignored). The
connection rows are deleted either way; bookings stay.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal import clock
from spacecal.db.models import (
    Connection,
    DetachedCalendar,
    EventLink,
    ProviderAccount,
    SubscriptionGeneration,
)
from spacecal.providers.base import NotFound, ProviderError, Subscription
from spacecal.sync.reconcile.target import calendar_verified
from spacecal.sync.reconcile.touched import BLOCK
from spacecal.sync.reconcile.writeback import is_pending
from spacecal.sync.tokens import AccountUnavailable
from spacecal.sync.upkeep.generations import GEN_COLUMNS

if TYPE_CHECKING:
    from spacecal.sync.accounts.provisioning import Provisioner


async def _account_of(
    prov: Provisioner, connection_id: int
) -> tuple[str | None, int | None, str | None]:
    """The connection's provider, its active account (None: nothing can be called)
    and its calendar (None unless verified as spacecal's: reconcile/verify.py, so
    an administrator's CalendarId is never deleted); all None for one that is gone."""
    async with prov.engine.connect() as conn:
        row = (
            await conn.execute(
                select(
                    Connection.provider,
                    Connection.provider_account_id,
                    Connection.calendar_id,
                    calendar_verified().label("verified"),
                    ProviderAccount.status,
                )
                .outerjoin(ProviderAccount, ProviderAccount.id == Connection.provider_account_id)
                .where(Connection.id == connection_id)
            )
        ).first()
    if row is None:
        return (None, None, None)
    account = row.provider_account_id if row.status == "active" else None
    return (row.provider, account, row.calendar_id if row.verified else None)


async def stop_generations(
    prov: Provisioner,
    connection_id: int,
    *,
    statuses: Iterable[str] = ("live", "stopping"),
    conn: AsyncConnection | None = None,
    delete_calendar: bool = False,
) -> None:
    """Stop the connection's channels/subscriptions at the provider (best effort).

    Each generation ends `stopped`, or `stopping` when the provider could not be
    reached in the budget. `conn`: write the statuses in the caller's transaction.
    """
    provider_name, account_id, calendar_id = await _account_of(prov, connection_id)
    async with prov.engine.connect() as read:
        generations = (
            await read.execute(
                select(*GEN_COLUMNS).where(
                    SubscriptionGeneration.connection_id == connection_id,
                    SubscriptionGeneration.status.in_(list(statuses)),
                )
            )
        ).all()
        # Blocks would go stale in a kept calendar: nothing keeps them true any more.
        blocks = [
            str(key)
            for key in await read.scalars(
                select(EventLink.event_key).where(
                    EventLink.connection_id == connection_id, EventLink.kind == BLOCK
                )
            )
            if not is_pending(key)
        ]
    outcome: dict[int, str] = {g.id: "stopping" for g in generations}
    if provider_name is not None and account_id is not None:
        provider = prov.provider_for(provider_name)
        tokens = prov.tokens(provider_name, account_id)

        async def stop_all() -> None:
            for g in generations:
                sub = Subscription(
                    id=g.subscription_id,
                    expires_at=g.expires_at,
                    secret=g.secret,
                    resource_id=g.watch_resource_id,
                )
                with contextlib.suppress(NotFound):  # already gone: that is what we wanted
                    await tokens.call(partial(provider.unsubscribe, subscription=sub))
                outcome[g.id] = "stopped"
            if delete_calendar and calendar_id is not None:
                with contextlib.suppress(NotFound):
                    await tokens.call(lambda a: provider.delete_calendar(a, calendar_id))
            elif calendar_id is not None:
                for event_id in blocks:
                    with contextlib.suppress(NotFound):
                        await tokens.call(
                            partial(
                                provider.delete_event, calendar_id=calendar_id, event_id=event_id
                            )
                        )

        # What did not stop stays `stopping`, for a later job.
        with contextlib.suppress(ProviderError, AccountUnavailable, TimeoutError):
            await asyncio.wait_for(stop_all(), prov.settings.disconnect_timeout_seconds)
    for status in ("stopped", "stopping"):
        ids = [gid for gid, s in outcome.items() if s == status]
        if not ids:
            continue
        stmt = (
            update(SubscriptionGeneration)
            .where(SubscriptionGeneration.id.in_(ids))
            .values(status=status)
        )
        if conn is not None:
            await conn.execute(stmt)
        else:
            async with prov.engine.begin() as write:
                await write.execute(stmt)


async def remove_connection(prov: Provisioner, connection_id: int) -> None:
    """The member switched a resource off: stop, optionally delete, forget."""
    await stop_generations(
        prov,
        connection_id,
        delete_calendar=prov.settings.delete_calendars_on_disconnect,
    )
    async with prov.engine.begin() as conn:
        await conn.execute(delete(Connection).where(Connection.id == connection_id))


async def disconnect_account(prov: Provisioner, coworker_id: int, provider_name: str) -> None:
    """The member disconnected an account: every connection, then the consent."""
    async with prov.engine.connect() as conn:
        account = (
            await conn.execute(
                select(ProviderAccount.id, ProviderAccount.refresh_token_enc).where(
                    ProviderAccount.coworker_id == coworker_id,
                    ProviderAccount.provider == provider_name,
                )
            )
        ).first()
        if account is None:
            return
        ids = (
            await conn.scalars(
                select(Connection.id).where(Connection.provider_account_id == account.id)
            )
        ).all()
    for connection_id in ids:
        await remove_connection(prov, connection_id)
    if account.refresh_token_enc is not None:
        provider = prov.provider_for(provider_name)
        with contextlib.suppress(
            ProviderError, TimeoutError
        ):  # best effort: the token is forgotten below either way
            await asyncio.wait_for(
                provider.revoke(prov.cipher.decrypt(account.refresh_token_enc)),
                prov.settings.disconnect_timeout_seconds,
            )
    async with prov.engine.begin() as conn:
        # Notes still owed to kept calendars cannot be written without the consent.
        await conn.execute(
            delete(DetachedCalendar).where(DetachedCalendar.provider_account_id == account.id)
        )
        await conn.execute(
            update(ProviderAccount)
            .where(ProviderAccount.id == account.id)
            .values(
                status="disconnected",
                status_reason="Disconnected by the member.",
                refresh_token_enc=None,
                access_token_enc=None,
                access_token_expires_at=None,
                updated_at=clock.now(),
            )
        )


async def connection_on_delete(
    prov: Provisioner, conn: AsyncConnection, old: Mapping[str, Any]
) -> bool:
    """The records API deleted a connection record: stop its push at the provider
    (best effort, inside a short budget) and let the API delete the row. The
    composition root (spacecal.app) binds `prov`, the running application's."""
    await stop_generations(prov, int(old["id"]), conn=conn)
    return False
