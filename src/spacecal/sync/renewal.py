"""Keeping one connection's push channel/subscription alive.

Runs inside the keep-alive job (sync/keepalive.py), under the account lock, so it
never races a reconcile of the same mailbox. Everything it decides is read from
`subscription_generations` each time, so it is safe to run twice:

- no live generation, or the newest one already expired → recover: subscribe anew,
  record the generation, clear the cursor (full resync) and queue a reconcile. An
  expired subscription is never skipped (what made peers' calendars go silent).
- the newest live generation expires within the margin, or Graph asked for
  reauthorization (`renew_requested`) → renew. Google: a new channel with a new id and
  a new token is recorded first; only then are the older channels stopped (both are
  accepted by intake during the overlap). Graph: PATCH the expiry of the same
  subscription (the clientState stays what Graph returns); 404 → recover.
- more than one live generation and the newest is fine → the older ones are stopped
  (a crash between "record new" and "stop old" heals here).

The connection record's SubscriptionId / WatchResourceId / SubscriptionExpireDate
are written with every generation change, always from the newest live generation.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, func, select, text, update
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import InstrumentedAttribute

from spacecal import clock, metrics
from spacecal.config import Settings
from spacecal.db.models import Connection, SubscriptionGeneration
from spacecal.providers.base import (
    CalendarProvider,
    Conflict,
    NotFound,
    PushNotSupported,
    Subscription,
)
from spacecal.sync.generations import drop_unknown_subscriptions, record_live, show_live
from spacecal.sync.provisioning import CURSOR_COLUMN, WEBHOOK_PATHS
from spacecal.sync.tokens import AccountTokens


@dataclass(frozen=True)
class RenewTarget:
    connection_id: int
    provider: str
    account_id: int
    calendar_id: str
    renew_requested: bool


@dataclass(frozen=True)
class _Gen:
    id: int
    subscription_id: str
    resource_id: str | None
    secret: str
    expires_at: datetime

    def as_subscription(self) -> Subscription:
        return Subscription(
            id=self.subscription_id,
            expires_at=self.expires_at,
            secret=self.secret,
            resource_id=self.resource_id,
        )


def margin(settings: Settings, provider: str) -> timedelta:
    seconds = (
        settings.google_renewal_margin_seconds
        if provider == "google"
        else settings.microsoft_renewal_margin_seconds
    )
    return timedelta(seconds=seconds)


async def _generations_by_status(
    engine: AsyncEngine, connection_id: int, statuses: tuple[str, ...]
) -> dict[str, list[_Gen]]:
    """The connection's generations of each status, newest first, in one query."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    SubscriptionGeneration.id,
                    SubscriptionGeneration.subscription_id,
                    SubscriptionGeneration.watch_resource_id,
                    SubscriptionGeneration.secret,
                    SubscriptionGeneration.expires_at,
                    SubscriptionGeneration.status,
                )
                .where(
                    SubscriptionGeneration.connection_id == connection_id,
                    SubscriptionGeneration.status.in_(statuses),
                )
                .order_by(
                    SubscriptionGeneration.expires_at.desc(), SubscriptionGeneration.id.desc()
                )
            )
        ).all()
    found: dict[str, list[_Gen]] = {status: [] for status in statuses}
    for r in rows:
        found[r.status].append(
            _Gen(r.id, r.subscription_id, r.watch_resource_id, r.secret, r.expires_at)
        )
    return found


def generations_from_json(rows: list[dict[str, object]]) -> dict[str, list[_Gen]]:
    """The `live` and `stopping` generations as `generations_json` returns them (one
    JSON array, newest first), for a caller that read them in its own query."""
    found: dict[str, list[_Gen]] = {"live": [], "stopping": []}
    for r in rows:
        found[str(r["status"])].append(
            _Gen(
                int(str(r["id"])),
                str(r["subscription_id"]),
                None if r["watch_resource_id"] is None else str(r["watch_resource_id"]),
                str(r["secret"]),
                datetime.fromisoformat(str(r["expires_at"])),
            )
        )
    return found


def generations_json(
    connection_id: ColumnElement[int] | InstrumentedAttribute[int],
) -> ScalarSelect[Any]:
    """A sub-select of the connection's `live` and `stopping` generations as one JSON
    array, newest first (the order `_generations_by_status` reads them in)."""
    g = SubscriptionGeneration
    item = func.json_build_object(
        "id", g.id,
        "subscription_id", g.subscription_id,
        "watch_resource_id", g.watch_resource_id,
        "secret", g.secret,
        "expires_at", g.expires_at,
        "status", g.status,
    )  # fmt: skip
    return (
        select(
            func.coalesce(
                func.json_agg(aggregate_order_by(item, g.expires_at.desc(), g.id.desc())),
                text("'[]'::json"),
            )
        )
        .where(g.connection_id == connection_id, g.status.in_(("live", "stopping")))
        .scalar_subquery()
    )


async def _generations(engine: AsyncEngine, connection_id: int, status: str) -> list[_Gen]:
    return (await _generations_by_status(engine, connection_id, (status,)))[status]


class Renewal:
    """One connection's subscription care, for one keep-alive job."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        provider: CalendarProvider,
        tokens: AccountTokens,
        target: RenewTarget,
        *,
        generations: dict[str, list[_Gen]] | None = None,
    ) -> None:
        """`generations`: the `live` and `stopping` ones, when the caller read them
        with its own query (`generations_json`); `run` then spares its read."""
        self.engine = engine
        self.settings = settings
        self.provider = provider
        self.tokens = tokens
        self.target = target
        base = settings.effective_public_url()
        path, lifecycle = WEBHOOK_PATHS[target.provider]
        self.notification_url = base + path
        self.lifecycle_url = base + lifecycle if lifecycle else None
        # This job's view of the `stopping` generations, once read with the live ones
        # (the job runs under the account lock: nothing else retires them meanwhile),
        # so stopping them needs no second read.
        self._stopping: list[_Gen] | None = generations["stopping"] if generations else None
        self._preread = generations

    async def run(self) -> bool:
        """Renew or recover as the tables say. True when a full resync is needed (the
        caller clears the cursor and queues a reconcile)."""
        now = clock.now()
        found, self._preread = self._preread, None
        if found is None:
            found = await _generations_by_status(
                self.engine, self.target.connection_id, ("live", "stopping")
            )
        live, self._stopping = found["live"], found["stopping"]
        newest = live[0] if live else None
        if newest is None or newest.expires_at <= now:
            return await self._recover(live)
        if self.target.renew_requested or newest.expires_at <= now + margin(
            self.settings, self.target.provider
        ):
            if self.target.provider == "microsoft":
                return await self._patch(newest, live[1:])
            await self._new_channel(newest, live)
            return False
        if len(live) > 1:
            await self._retire(live[1:])
        await self._clear_request()
        return False

    # --- Google: a new channel first, then stop the old ones ------------------------

    async def _new_channel(self, current: _Gen, live: list[_Gen]) -> None:
        secret = secrets.token_urlsafe(32)
        sub = await self.tokens.call(
            lambda access: self.provider.renew(
                access,
                self.target.calendar_id,
                current.as_subscription(),
                notification_url=self.notification_url,
                lifecycle_url=self.lifecycle_url,
                new_secret=secret,
                ttl_seconds=self.settings.subscription_ttl_seconds,
            )
        )
        await self._record(sub, retire=live)
        metrics.renewal(self.target.provider, "renewed")
        await self.stop_stopping()

    # --- Graph: PATCH the expiry; gone → a new subscription ---------------------------

    async def _patch(self, current: _Gen, older: list[_Gen]) -> bool:
        try:
            sub = await self.tokens.call(
                lambda access: self.provider.renew(
                    access,
                    self.target.calendar_id,
                    current.as_subscription(),
                    notification_url=self.notification_url,
                    lifecycle_url=self.lifecycle_url,
                    new_secret=current.secret,
                    ttl_seconds=self.settings.subscription_ttl_seconds,
                )
            )
        except NotFound:
            await self._mark([current.id], "stopped")
            return await self._recover(older)
        now = clock.now()
        async with self.engine.begin() as conn:
            # Graph keeps the clientState: store what came back, never a new secret.
            await conn.execute(
                update(SubscriptionGeneration)
                .where(SubscriptionGeneration.id == current.id)
                .values(expires_at=sub.expires_at, secret=sub.secret or current.secret)
            )
            await self._retire_in(conn, older)
            await self._clear_request_in(conn)
            await show_live(conn, self.target.connection_id, now)
        metrics.renewal(self.target.provider, "renewed")
        await self.stop_stopping()
        return False

    # --- recovery: nothing live (expired, removed, never made) ------------------------

    async def _recover(self, live: list[_Gen]) -> bool:
        secret = secrets.token_urlsafe(32)

        async def subscribe(access: str) -> Subscription:
            return await self.provider.subscribe(
                access,
                self.target.calendar_id,
                notification_url=self.notification_url,
                lifecycle_url=self.lifecycle_url,
                secret=secret,
                ttl_seconds=self.settings.subscription_ttl_seconds,
            )

        try:
            try:
                sub = await self.tokens.call(subscribe)
            except Conflict:
                await drop_unknown_subscriptions(
                    self.engine, self.provider, self.tokens, self.target.calendar_id
                )
                sub = await self.tokens.call(subscribe)
        except PushNotSupported:
            async with self.engine.begin() as conn:
                await conn.execute(
                    update(Connection)
                    .where(Connection.id == self.target.connection_id)
                    .values(push_supported=False, renew_requested=False)
                )
                await self._retire_in(conn, live)
            metrics.renewal(self.target.provider, "push_not_supported")
            return True
        await self._record(sub, retire=live, resync=True)
        metrics.renewal(self.target.provider, "recovered")
        await self.stop_stopping()
        return True

    # --- bookkeeping -----------------------------------------------------------------

    async def _record(self, sub: Subscription, *, retire: list[_Gen], resync: bool = False) -> None:
        """The new generation, live; the ones it replaces, `stopping` (stopped next).
        `resync`: a recovery; the full resync it owes is recorded with it, so a failure
        after this point cannot lose it."""
        now = clock.now()
        async with self.engine.begin() as conn:
            await record_live(
                conn,
                connection_id=self.target.connection_id,
                account_id=self.target.account_id,
                provider=self.target.provider,
                sub=sub,
                now=now,
            )
            await self._retire_in(conn, retire)
            await self._clear_request_in(conn)
            if resync:
                await conn.execute(
                    update(Connection)
                    .where(Connection.id == self.target.connection_id)
                    .values(resync_requested=True)
                )
            await show_live(conn, self.target.connection_id, now)

    async def _retire(self, gens: list[_Gen]) -> None:
        async with self.engine.begin() as conn:
            await self._retire_in(conn, gens)
            await show_live(conn, self.target.connection_id, clock.now())
        await self.stop_stopping()

    async def _retire_in(self, conn: AsyncConnection, gens: list[_Gen]) -> None:
        if not gens:
            return
        now = clock.now()
        lapsed = [g.id for g in gens if g.expires_at <= now]
        open_ = [g.id for g in gens if g.expires_at > now]
        for ids, status in ((lapsed, "stopped"), (open_, "stopping")):
            if ids:
                await conn.execute(
                    update(SubscriptionGeneration)
                    .where(SubscriptionGeneration.id.in_(ids))
                    .values(status=status, provider_account_id=self.target.account_id)
                )
        if self._stopping is not None:
            known = {g.id for g in self._stopping}
            self._stopping += [g for g in gens if g.expires_at > now and g.id not in known]

    async def _mark(self, ids: list[int], status: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(SubscriptionGeneration)
                .where(SubscriptionGeneration.id.in_(ids))
                .values(status=status)
            )

    async def _clear_request(self) -> None:
        if self.target.renew_requested:
            async with self.engine.begin() as conn:
                await self._clear_request_in(conn)

    async def _clear_request_in(self, conn: AsyncConnection) -> None:
        if not self.target.renew_requested:
            return  # nothing to clear: spare the statement
        await conn.execute(
            update(Connection)
            .where(Connection.id == self.target.connection_id)
            .values(renew_requested=False)
        )

    async def stop_stopping(self) -> None:
        """Stop this connection's `stopping` generations at the provider; a lapsed
        one needs no call. A failure leaves it `stopping` for the next job."""
        now = clock.now()
        stopping = self._stopping
        if stopping is None:
            stopping = await _generations(self.engine, self.target.connection_id, "stopping")
        done: list[int] = []
        try:
            for g in stopping:
                if g.expires_at > now:
                    with contextlib.suppress(NotFound):
                        await self.tokens.call(
                            partial(self.provider.unsubscribe, subscription=g.as_subscription())
                        )
                done.append(g.id)
        finally:
            # One statement for all of them; those stopped before a failure still count.
            if done:
                await self._mark(done, "stopped")
                if self._stopping is not None:
                    self._stopping = [g for g in self._stopping if g.id not in done]


def clear_cursor_values(provider: str) -> dict[str, object]:
    """A full resync: the next reconcile pulls everything (DESIGN, Full resync)."""
    return {CURSOR_COLUMN[provider]: None}
