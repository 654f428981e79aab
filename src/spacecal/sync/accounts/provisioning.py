"""Provisioning: a calendar per (member, resource, provider), watched and filled.

The steps run in a fixed order and the connection row records the state after each
provider call, so a retry (or a crash and a retry) resumes where the last attempt
stopped instead of starting over:

    calendar   list the account's calendars; adopt one spacecal made with this name
               (taking away a "no longer synced" note an earlier disconnect left on
               it), else create it; store CalendarId
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
    healthy

A failure at any step leaves the row `error` with the reason; nothing is orphaned that
the next attempt does not adopt or clean up (Google channels cannot be listed: one
whose answer was lost lapses at its expiry and its notifications are ignored).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from spacecal import clock
from spacecal.db.columns import CURSOR_COLUMN, cursor_of
from spacecal.db.conditions import Health
from spacecal.db.models import (
    CONNECTION_KEY,
    Business,
    Connection,
    ProviderAccount,
    Resource,
    SubscriptionGeneration,
)
from spacecal.jobs.reconcile import defer_reconcile
from spacecal.providers.base import (
    AccountIdentity,
    CalendarProvider,
    Conflict,
    ProviderError,
    PushNotSupported,
    Subscription,
    TokenSet,
)
from spacecal.sync.locks import provisioning_lock
from spacecal.sync.naming import calendar_name, idempotency_key, sync_window, webhook_urls
from spacecal.sync.reconcile.adopt import link_known_events
from spacecal.sync.reconcile.target import load_target
from spacecal.sync.reconcile.writeback import push_bookings
from spacecal.sync.runtime import SyncRuntime
from spacecal.sync.tokens import AccountTokens, AccountUnavailable, store_tokens
from spacecal.sync.upkeep.detached_calendars import forget_adopted
from spacecal.sync.upkeep.generations import drop_unknown_subscriptions, record_live, show_live

ProviderFactory = Callable[[str], CalendarProvider]
# Called after each step with the step's name; tests inject a crash with it.
StepHook = Callable[[str], Awaitable[None]]


class ProvisioningFailed(Exception):
    """Provisioning stopped at a step; `str()` is a sentence for the member."""


@dataclass(frozen=True)
class _SetUp:
    """One connection row with what provisioning needs to know around it."""

    id: int
    provider: str
    name: str
    resource_id: int
    resource_name: str
    coworker_id: int
    account_id: int
    calendar_id: str | None
    cursor: str | None
    push_supported: bool
    time_zone: str
    days_ahead: int


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

    async def save_account(
        self, coworker_id: int, provider: str, tokens: TokenSet, identity: AccountIdentity
    ) -> int:
        """Store a fresh consent (one account per member and provider)."""
        from spacecal.sync.accounts.consent import save_account

        return await save_account(self, coworker_id, provider, tokens, identity)

    async def reattach(self, account_id: int) -> list[int]:
        """After a reconnect: watch again the calendars spacecal made earlier, then
        resync each in full (sync/accounts/consent.py)."""
        from spacecal.sync.accounts.consent import reattach

        return await reattach(self, account_id)

    # --- one connection --------------------------------------------------------------

    async def add_resource(self, coworker_id: int, provider: str, resource_id: int) -> int:
        """The member switched a resource on: make (or finish) its connection."""
        connection_id = await self._connection_row(coworker_id, provider, resource_id)
        await self.resume(connection_id)
        return connection_id

    async def _connection_row(self, coworker_id: int, provider: str, resource_id: int) -> int:
        now = clock.now()
        async with self.engine.begin() as conn:
            account = (
                await conn.execute(
                    select(ProviderAccount.id, ProviderAccount.status).where(
                        ProviderAccount.coworker_id == coworker_id,
                        ProviderAccount.provider == provider,
                    )
                )
            ).first()
            if account is None or account.status != "active":
                raise ProvisioningFailed(
                    "Connect your calendar account first."
                    if account is None or account.status == "disconnected"
                    else "Your calendar account needs to be connected again."
                )
            existing = await conn.scalar(
                select(Connection.id).where(
                    Connection.coworker_id == coworker_id,
                    Connection.provider == provider,
                    Connection.resource_id == resource_id,
                )
            )
            if existing is not None:
                return int(existing)
            names = (
                await conn.execute(
                    select(Resource.name, Business.name.label("business"))
                    .join(Business, Business.id == Resource.business_id)
                    .where(Resource.id == resource_id)
                )
            ).first()
            if names is None:
                raise ProvisioningFailed("This resource does not exist any more.")
            # The triple is unique: a concurrent insert that won leaves nothing here,
            # and its row is read below.
            new_id = await conn.scalar(
                insert(Connection)
                .values(
                    provider=provider,
                    resource_id=resource_id,
                    coworker_id=coworker_id,
                    name=calendar_name(names.name, names.business),
                    provider_account_id=account.id,
                    health=Health.PROVISIONING,
                    unique_id=uuid.uuid4(),
                    created_on=now,
                    updated_on=now,
                    updated_by="portal",
                )
                .on_conflict_do_nothing(index_elements=CONNECTION_KEY)
                .returning(Connection.id)
            )
            if new_id is None:
                new_id = await conn.scalar(
                    select(Connection.id).where(
                        Connection.coworker_id == coworker_id,
                        Connection.provider == provider,
                        Connection.resource_id == resource_id,
                    )
                )
            assert new_id is not None
            return int(new_id)

    async def _target(self, connection_id: int) -> _SetUp:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        Connection.id,
                        Connection.provider,
                        Connection.name,
                        Connection.resource_id,
                        Connection.coworker_id,
                        Connection.provider_account_id,
                        Connection.calendar_id,
                        Connection.event_sync_token,
                        Connection.delta_link,
                        Connection.push_supported,
                        Resource.name.label("resource_name"),
                        Business.time_zone,
                        Business.max_booking_days_ahead,
                    )
                    .join(Resource, Resource.id == Connection.resource_id)
                    .join(Business, Business.id == Resource.business_id)
                    .where(Connection.id == connection_id)
                )
            ).first()
        if row is None or row.provider_account_id is None or row.coworker_id is None:
            raise ProvisioningFailed("This calendar connection is not linked to an account.")
        return _SetUp(
            id=row.id,
            provider=row.provider,
            name=row.name,
            resource_id=row.resource_id,
            resource_name=row.resource_name,
            coworker_id=row.coworker_id,
            account_id=row.provider_account_id,
            calendar_id=row.calendar_id,
            cursor=cursor_of(row),
            push_supported=row.push_supported,
            time_zone=row.time_zone,
            days_ahead=row.max_booking_days_ahead,
        )

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
        setup = await self._target(connection_id)
        try:
            await self._run(setup)
        except AccountUnavailable as exc:
            raise ProvisioningFailed(str(exc)) from None
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

    async def _run(self, setup: _SetUp) -> None:
        provider = self.provider_for(setup.provider)
        tokens = self.tokens(setup.provider, setup.account_id)
        calendar_id = setup.calendar_id
        if calendar_id is None:
            calendar_id = await self._calendar(setup, provider, tokens)
        if setup.push_supported and not await self._has_live_generation(setup.id):
            await self._subscribe(setup, calendar_id, provider, tokens)
            await self._step("subscribed")
        if setup.cursor is None:
            await self._first_pull(setup, calendar_id, provider, tokens)
            await self._step("cursor_stored")
        await self._write_bookings(setup, calendar_id, provider, tokens)
        # Push is live again: a renewal's old error no longer describes it either.
        await self._set(
            setup.id,
            health=Health.HEALTHY,
            last_error=None,
            last_error_at=None,
            renewal_error=None,
            renewal_error_at=None,
        )

    async def _first_pull(
        self,
        setup: _SetUp,
        calendar_id: str,
        provider: CalendarProvider,
        tokens: AccountTokens,
    ) -> None:
        """A full pull; events of an adopted calendar that bookings already name are
        linked (sync/reconcile/adopt.py). The cursor is stored only when no event is left
        unexplained; otherwise a reconcile's full pull decides those."""
        now = clock.now()
        window = sync_window(setup.time_zone, setup.days_ahead, now)
        result = await tokens.call(lambda a: provider.pull(a, calendar_id, None, window))
        async with self.engine.begin() as conn:
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

    async def _calendar(
        self, setup: _SetUp, provider: CalendarProvider, tokens: AccountTokens
    ) -> str:
        calendars = await tokens.call(provider.list_calendars)
        leftover = [c for c in calendars if c.name == setup.name]
        if not leftover:
            made = await tokens.call(
                lambda a: provider.create_calendar(a, setup.name, setup.time_zone)
            )
            calendar_id = made.id
        else:
            calendar_id = leftover[0].id
            # Adopted: a note owed to it from an earlier disconnect is void, and one
            # already written ("no longer synced") is taken away before it is stored
            # (a crash in between adopts it again and repeats both).
            async with self.engine.begin() as conn:
                await forget_adopted(conn, setup.account_id, calendar_id)
            await tokens.call(
                lambda a: provider.set_calendar_note(a, calendar_id, name=setup.name, note=None)
            )
        await self._step("calendar_created")
        await self._set(setup.id, calendar_id=calendar_id)
        await self._step("calendar_stored")
        return calendar_id

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
        setup: _SetUp,
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
            )
            await show_live(conn, setup.id, now)

    async def _write_bookings(
        self,
        setup: _SetUp,
        calendar_id: str,
        provider: CalendarProvider,
        tokens: AccountTokens,
    ) -> None:
        """The member's existing bookings of this resource, written the way every
        reconcile writes them (idempotent, crash-safe: sync/reconcile/writeback.py)."""
        async with self.engine.connect() as conn:
            sync_target = await load_target(conn, setup.id)
        if sync_target is not None:
            await push_bookings(self.engine, sync_target, provider, tokens, now=clock.now())


__all__ = [
    "Provisioner",
    "ProvisioningFailed",
    "calendar_name",
    "idempotency_key",
    "store_tokens",
    "sync_window",
]
