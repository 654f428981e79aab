"""Provisioning: a calendar per (member, resource, provider), watched and filled.

This module holds the steps and their order; which calendar may be adopted is
`adoption.py`, and the cursor step's pull is `first_pull.py`.

The steps run in a fixed order and the connection row records the state after each
provider call, so a retry (or a crash and a retry) resumes where the last attempt
stopped instead of starting over:

    calendar   list the account's calendars; adopt one with the name spacecal gives
               it (naming.calendar_name, never the record's Name) that is verified
               as spacecal's (marked, or from before markers and passing the legacy
               checks: reconcile/verify.py `adoptable`) and no other connection
               names (taking away a "no longer synced" note an earlier disconnect
               left on it), else create it; store CalendarId
    subscribe  a channel/subscription with a fresh random secret; store it as a live
               generation and on the record (a Graph 409 means a leftover subscription:
               delete the ones spacecal does not know, then subscribe again)
    cursor     a full pull; link the events bookings already name (an adopted
               calendar, sync/reconcile/adopt.py); store the sync token / delta link (left
               empty, with a reconcile queued, while events remain to decide) and
               the sync window
    bookings   write the member's future bookings of the resource with idempotent
               creates (the key is derived from booking and calendar, so a repeat, or a
               reattached calendar, never gets a second copy) and link them
    healthy    and marked (`sync_requested_at`): the reconcile job the dispatcher
               makes of the mark writes the horizon's availability blocks (the fill),
               outside the member's request

The account's limits come first (sync/limits.py): while the provider keeps the
account read-only, or when creating one more calendar now would go over spacecal's
pace for the account, the set-up waits (`setup_after`, health still `provisioning`)
and the periodic resume (sync/accounts/waiting.py) finishes it later. A provider's
`AccountReadOnly` at any step records the pause and waits the same way.

A failure at any step leaves the row `error` with the reason; nothing is orphaned that
the next attempt does not adopt or clean up (Google channels cannot be listed: one
whose answer was lost lapses at its expiry and its notifications are ignored).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update

from spacecal import clock
from spacecal.db.conditions import Health
from spacecal.db.models import (
    Connection,
    SubscriptionGeneration,
)
from spacecal.domain.account_messages import setup_waiting
from spacecal.failures import Loop, backoff
from spacecal.providers.base import (
    AccountReadOnly,
    CalendarProvider,
    Conflict,
    ProviderError,
    PushNotSupported,
    Subscription,
    Throttled,
)
from spacecal.sync import limits
from spacecal.sync.accounts.adoption import leftover_calendar, take_back, verify_stored
from spacecal.sync.accounts.first_pull import first_pull
from spacecal.sync.accounts.setup_rows import (
    ProvisioningFailed,
    ProvisioningWaiting,
    SetUp,
    connection_row,
    load_setup,
)
from spacecal.sync.locks import provisioning_lock
from spacecal.sync.naming import idempotency_key, sync_window, webhook_urls
from spacecal.sync.reconcile.target import load_target
from spacecal.sync.reconcile.verify import CalendarUnverified
from spacecal.sync.reconcile.writeback import push_bookings
from spacecal.sync.runtime import SyncRuntime
from spacecal.sync.tokens import AccountTokens, AccountUnavailable, store_tokens
from spacecal.sync.upkeep.generations import drop_unknown_subscriptions, record_live, show_live

ProviderFactory = Callable[[str], CalendarProvider]
# Called after each step with the step's name; tests inject a crash with it.
StepHook = Callable[[str], Awaitable[None]]


class Provisioner:
    """Provisioning, disconnect and reattach for members' provider accounts, over the
    runtime sync shares (settings, database, providers, tokens: sync/runtime.py); the
    application's services object is one (web/services.py)."""

    def __init__(self, runtime: SyncRuntime, step_hook: StepHook | None = None) -> None:
        self.runtime = runtime
        self.engine = runtime.db.engine
        self.cipher = runtime.db.cipher
        self.settings = runtime.settings
        self.provider_for = runtime.provider_for
        self.step_hook = step_hook

    def tokens(self, provider: str, account_id: int) -> AccountTokens:
        return self.runtime.tokens(provider, account_id)

    async def _step(self, name: str) -> None:
        if self.step_hook is not None:
            await self.step_hook(name)

    # --- accounts -------------------------------------------------------------------

    # --- one connection --------------------------------------------------------------

    async def add_resource(self, coworker_id: int, provider: str, resource_id: int) -> int:
        """The member switched a resource on: make (or finish) its connection."""
        connection_id = await connection_row(self.engine, coworker_id, provider, resource_id)
        await self.resume(connection_id)
        return connection_id

    async def _set(self, connection_id: int, **values: Any) -> None:
        values.setdefault("updated_on", clock.now())
        async with self.engine.begin() as conn:
            await conn.execute(
                update(Connection).where(Connection.id == connection_id).values(**values)
            )

    async def resume(self, connection_id: int) -> None:
        """Run the remaining steps of one connection; safe to run again at any time.
        Under the connection's provisioning lock (sync/locks.py): a second
        set-up of the same connection waits, then finds the steps done."""
        async with provisioning_lock(self.engine, connection_id):
            await self._resume(connection_id)

    async def _resume(self, connection_id: int) -> None:
        setup = await load_setup(self.engine, connection_id)
        try:
            await limits.check_writes(self.engine, setup.account_id, clock.now())
            await self._run(setup)
        except AccountUnavailable as exc:
            raise ProvisioningFailed(str(exc)) from None
        except limits.MustWait as wait:
            await self._wait(setup, wait.until, paused=wait.paused)
        except AccountReadOnly:
            # AccountTokens recorded the pause for every process; wait it out.
            until = await limits.paused_until(self.engine, setup.account_id, clock.now())
            await self._wait(setup, until or clock.now(), paused=True)
        except Throttled as exc:
            # Account-wide throttling: wait as the one failure policy says (Retry-After
            # exactly), then the periodic resume goes on; not a failed set-up.
            delay = backoff(self.settings, Loop.SYNC).wait_after(exc, 1)
            await self._wait(setup, clock.now() + delay, paused=False)
        except ProviderError as exc:
            await self._set(
                connection_id,
                health=Health.ERROR,
                last_error=f"Setting up the calendar failed: {exc}"[:2000],
                last_error_at=clock.now(),
            )
            raise ProvisioningFailed(
                "The calendar provider did not complete the set-up "
                f"({exc.status or 'no answer'}). Try again in a moment."
            ) from exc

    async def _wait(self, setup: SetUp, until: datetime, *, paused: bool) -> None:
        await self._set(setup.id, health=Health.PROVISIONING, setup_after=until)
        raise ProvisioningWaiting(
            setup_waiting(
                setup.provider, setup.resource_name, until, ZoneInfo(setup.time_zone), paused=paused
            ),
            until,
            paused=paused,
        )

    async def _run(self, setup: SetUp) -> None:
        provider = self.provider_for(setup.provider)
        tokens = self.tokens(setup.provider, setup.account_id)
        calendar_id = setup.calendar_id
        if calendar_id is None:
            calendar_id = await self._calendar(setup, provider, tokens)
        else:
            await self._verified(setup, calendar_id, provider, tokens)
        if setup.push_supported and not await self._has_live_generation(setup.id):
            await self._subscribe(setup, calendar_id, provider, tokens)
            await self._step("subscribed")
        if setup.cursor is None:
            await first_pull(self.engine, self.settings, setup, calendar_id, provider, tokens)
            await self._step("cursor_stored")
        await self._write_bookings(setup, calendar_id, provider, tokens)
        # Push is live again: a renewal's old error no longer describes it either.
        # The mark hands the fill (the horizon's blocks) to the reconcile job, so the
        # member's request returns at once and one writer owns the blocks.
        await self._set(
            setup.id,
            sync_requested_at=func.coalesce(Connection.sync_requested_at, clock.now()),
            health=Health.HEALTHY,
            last_error=None,
            last_error_at=None,
            renewal_error=None,
            renewal_error_at=None,
            setup_after=None,
        )

    async def _calendar(
        self, setup: SetUp, provider: CalendarProvider, tokens: AccountTokens
    ) -> str:
        # The name spacecal gives the calendar, never the record's Name: an API user
        # may set that to the name of the member's own calendar ("Family").
        name = setup.calendar_name
        calendar_id = await leftover_calendar(self.runtime, setup, name, provider, tokens)
        if calendar_id is None:
            if provider.capabilities.paced_calendar_creation:
                await limits.take_calendar_slot(
                    self.engine, setup.account_id, self.settings, clock.now()
                )
            made = await tokens.call(lambda a: provider.create_calendar(a, name, setup.time_zone))
            calendar_id = made.id
        else:
            await take_back(self.engine, setup, calendar_id, name, provider, tokens)
        await self._step("calendar_created")
        # spacecal made (or marked) it for this account: verified (reconcile/verify.py).
        await self._set(
            setup.id,
            calendar_id=calendar_id,
            verified_calendar_id=calendar_id,
            verified_account_id=setup.account_id,
            marker_pending=False,
        )
        await self._step("calendar_stored")
        return calendar_id

    async def _verified(
        self, setup: SetUp, calendar_id: str, provider: CalendarProvider, tokens: AccountTokens
    ) -> None:
        """A stored CalendarId (an administrator's) is used only once verified as a
        calendar spacecal made for this account (sync/reconcile/verify.py)."""
        try:
            await verify_stored(self.runtime, setup, calendar_id, provider, tokens)
        except CalendarUnverified as exc:
            await self._set(
                setup.id,
                health=Health.UNVERIFIED,
                last_error=str(exc)[:2000],
                last_error_at=clock.now(),
            )
            raise ProvisioningFailed(str(exc)) from None

    async def _has_live_generation(self, connection_id: int) -> bool:
        async with self.engine.connect() as conn:
            found = await conn.scalar(
                select(SubscriptionGeneration.id).where(
                    SubscriptionGeneration.connection_id == connection_id,
                    SubscriptionGeneration.status == "live",
                )
            )
        return found is not None

    async def _subscribe(
        self,
        setup: SetUp,
        calendar_id: str,
        provider: CalendarProvider,
        tokens: AccountTokens,
    ) -> None:
        notification_url, lifecycle_url = webhook_urls(
            self.settings.effective_public_url(), provider.capabilities
        )
        secret = secrets.token_urlsafe(32)

        async def subscribe(access: str) -> Subscription:
            return await provider.subscribe(
                access,
                calendar_id,
                notification_url=notification_url,
                lifecycle_url=lifecycle_url,
                secret=secret,
                ttl_seconds=self.settings.subscription_ttl_seconds,
            )

        try:
            try:
                sub = await tokens.call(subscribe)
            except Conflict:
                await drop_unknown_subscriptions(self.engine, provider, tokens, calendar_id)
                sub = await tokens.call(subscribe)
        except PushNotSupported:
            # This calendar cannot be watched: the sweep polls it instead.
            await self._set(setup.id, push_supported=False)
            return
        now = clock.now()
        async with self.engine.begin() as conn:
            await record_live(
                conn,
                connection_id=setup.id,
                account_id=setup.account_id,
                provider=setup.provider,
                sub=sub,
                now=now,
                cipher=self.cipher,
            )
            await show_live(conn, setup.id, now)

    async def _write_bookings(
        self,
        setup: SetUp,
        calendar_id: str,
        provider: CalendarProvider,
        tokens: AccountTokens,
    ) -> None:
        """The member's existing bookings of this resource, written the way every
        reconcile writes them (idempotent, crash-safe: sync/reconcile/writeback.py).
        The horizon's blocks are the reconcile's (the mark `_run` ends with)."""
        async with self.engine.connect() as conn:
            sync_target = await load_target(conn, setup.id)
        if sync_target is not None:
            await push_bookings(self.engine, sync_target, provider, tokens, now=clock.now())


__all__ = [
    "Provisioner",
    "ProvisioningFailed",
    "ProvisioningWaiting",
    "idempotency_key",
    "store_tokens",
    "sync_window",
]
