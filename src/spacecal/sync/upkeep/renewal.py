"""Keeping one connection's push channel/subscription alive.

Runs inside the keep-alive job (sync/upkeep/keepalive.py), under the account lock, so it
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
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal import clock, metrics
from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.db.models import Connection, SubscriptionGeneration
from spacecal.providers.base import (
    CalendarProvider,
    Conflict,
    NotFound,
    PushNotSupported,
    Subscription,
)
from spacecal.sync.locks import provisioning_lock
from spacecal.sync.naming import webhook_urls
from spacecal.sync.tokens import AccountTokens
from spacecal.sync.upkeep.generations import (
    Gen,
    drop_unknown_subscriptions,
    generations_by_status,
    generations_of,
    replace_live,
    show_live,
)


@dataclass(frozen=True)
class RenewalSubject:
    connection_id: int
    provider: str
    account_id: int
    calendar_id: str
    renew_requested: bool


def margin(settings: Settings, provider: str) -> timedelta:
    """How long before expiry a subscription is renewed: a setting per provider, since
    their lifetimes differ (Google's channels live days, Graph's events ~3 days)."""
    return timedelta(seconds=settings.renewal_margin_seconds(provider))


class Renewal:
    """One connection's subscription care, for one keep-alive job."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        provider: CalendarProvider,
        tokens: AccountTokens,
        subject: RenewalSubject,
        *,
        generations: dict[str, list[Gen]] | None = None,
    ) -> None:
        """`generations`: the `live` and `stopping` ones, when the caller read them
        with its own query (`generations_json`); `run` then spares its read."""
        self.engine = db.engine
        self.cipher = db.cipher
        # Single statements need no transaction: one round trip, no BEGIN/COMMIT.
        self.autocommit = db.reads
        self.settings = settings
        self.provider = provider
        self.tokens = tokens
        self.subject = subject
        self.notification_url, self.lifecycle_url = webhook_urls(
            settings.effective_public_url(), provider.capabilities
        )
        # This job's view of the `stopping` generations, once read with the live ones
        # (the job runs under the account lock: nothing else retires them meanwhile),
        # so stopping them needs no second read.
        self._stopping: list[Gen] | None = generations["stopping"] if generations else None
        self._preread = generations

    async def run(self) -> bool:
        """Renew or recover as the tables say. True when a full resync is needed (the
        caller clears the cursor and queues a reconcile)."""
        now = clock.now()
        found, self._preread = self._preread, None
        if found is None:
            found = await generations_by_status(
                self.engine, self.subject.connection_id, ("live", "stopping")
            )
        live, self._stopping = found["live"], found["stopping"]
        newest = live[0] if live else None
        if newest is None:
            return await self._first_or_recover()
        if newest.expires_at <= now:
            return await self._recover(live)
        if self.subject.renew_requested or newest.expires_at <= now + margin(
            self.settings, self.subject.provider
        ):
            if self.provider.capabilities.renews_in_place:
                return await self._patch(newest, live[1:])
            await self._new_channel(newest, live)
            return False
        if len(live) > 1:
            await self._retire(live[1:])
        await self._clear_request()
        return False

    async def _renew(self, current: Gen, secret: str) -> Subscription:
        """The provider's renewal of `current`: a new channel (Google) or the same
        subscription extended (Graph), for `ttl` from now."""
        return await self.tokens.call(
            lambda access: self.provider.renew(
                access,
                self.subject.calendar_id,
                current.as_subscription(),
                notification_url=self.notification_url,
                lifecycle_url=self.lifecycle_url,
                new_secret=secret,
                ttl_seconds=self.settings.subscription_ttl_seconds,
            )
        )

    # --- Google: a new channel first, then stop the old ones ------------------------

    async def _new_channel(self, current: Gen, live: list[Gen]) -> None:
        sub = await self._renew(current, secrets.token_urlsafe(32))
        await self._record(sub, retire=live)
        metrics.renewal(self.subject.provider, "renewed")
        await self.stop_stopping()

    # --- Graph: PATCH the expiry; gone → a new subscription ---------------------------

    async def _patch(self, current: Gen, older: list[Gen]) -> bool:
        try:
            sub = await self._renew(current, current.secret)
        except NotFound:
            await self._mark([current.id], "stopped")
            return await self._recover(older)
        # Graph keeps the clientState: store what came back, never a new secret.
        await self._replace(
            replace(sub, secret=sub.secret or current.secret), retire=older, extends=current.id
        )
        metrics.renewal(self.subject.provider, "renewed")
        await self.stop_stopping()
        return False

    # --- recovery: nothing live (expired, removed, never made) ------------------------

    async def _first_or_recover(self) -> bool:
        """No live channel at all. Its provisioner may be between storing the calendar
        and recording the first channel: then that channel is the provisioner's to
        make, and this job leaves the connection alone. Otherwise read again under the
        same lock (provisioning may have finished since this job's read) and recover."""
        async with provisioning_lock(self.engine, self.subject.connection_id, wait=False) as held:
            if not held:
                return False
            live = await generations_of(self.engine, self.subject.connection_id, "live")
            if live and live[0].expires_at > clock.now():
                return False
            return await self._recover(live)

    async def _recover(self, live: list[Gen]) -> bool:
        secret = secrets.token_urlsafe(32)

        async def subscribe(access: str) -> Subscription:
            return await self.provider.subscribe(
                access,
                self.subject.calendar_id,
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
                    self.engine, self.provider, self.tokens, self.subject.calendar_id
                )
                sub = await self.tokens.call(subscribe)
        except PushNotSupported:
            async with self.engine.begin() as conn:
                await conn.execute(
                    update(Connection)
                    .where(Connection.id == self.subject.connection_id)
                    .values(push_supported=False, renew_requested=False)
                )
                await self._retire_in(conn, live)
            metrics.renewal(self.subject.provider, "push_not_supported")
            return True
        await self._record(sub, retire=live, resync=True)
        metrics.renewal(self.subject.provider, "recovered")
        await self.stop_stopping()
        return True

    # --- bookkeeping -----------------------------------------------------------------

    async def _record(self, sub: Subscription, *, retire: list[Gen], resync: bool = False) -> None:
        """The new generation, live; the ones it replaces, `stopping` (stopped next).
        `resync`: a recovery; the full resync it owes is recorded with it, so a failure
        after this point cannot lose it."""
        await self._replace(sub, retire=retire, resync=resync)

    async def _replace(
        self,
        sub: Subscription,
        *,
        retire: list[Gen],
        extends: int | None = None,
        resync: bool = False,
    ) -> None:
        """`generations.replace_live` for this connection (one statement), then note
        the retired generations this job still has to stop."""
        now = clock.now()
        async with self.autocommit.connect() as conn:
            await replace_live(
                conn,
                connection_id=self.subject.connection_id,
                account_id=self.subject.account_id,
                provider=self.subject.provider,
                sub=sub,
                retire=[g.id for g in retire],
                now=now,
                cipher=self.cipher,
                extends=extends,
                clear_request=self.subject.renew_requested,
                resync=resync,
            )
        self._note_retired(retire, now)

    async def _retire(self, gens: list[Gen]) -> None:
        async with self.engine.begin() as conn:
            await self._retire_in(conn, gens)
            await show_live(conn, self.subject.connection_id, clock.now())
        await self.stop_stopping()

    async def _retire_in(self, conn: AsyncConnection, gens: list[Gen]) -> None:
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
                    .values(status=status, provider_account_id=self.subject.account_id)
                )
        self._note_retired(gens, now)

    def _note_retired(self, gens: list[Gen], now: datetime) -> None:
        """Retired generations still open are this job's to stop (`stop_stopping`)."""
        if self._stopping is not None:
            known = {g.id for g in self._stopping}
            self._stopping += [g for g in gens if g.expires_at > now and g.id not in known]

    async def _mark(self, ids: list[int], status: str) -> None:
        async with self.autocommit.connect() as conn:
            await conn.execute(
                update(SubscriptionGeneration)
                .where(SubscriptionGeneration.id.in_(ids))
                .values(status=status)
            )

    async def _clear_request(self) -> None:
        if self.subject.renew_requested:
            async with self.engine.begin() as conn:
                await self._clear_request_in(conn)

    async def _clear_request_in(self, conn: AsyncConnection) -> None:
        if not self.subject.renew_requested:
            return  # nothing to clear: spare the statement
        await conn.execute(
            update(Connection)
            .where(Connection.id == self.subject.connection_id)
            .values(renew_requested=False)
        )

    async def stop_stopping(self) -> None:
        """Stop this connection's `stopping` generations at the provider; a lapsed
        one needs no call. A failure leaves it `stopping` for the next job."""
        now = clock.now()
        stopping = self._stopping
        if stopping is None:
            stopping = await generations_of(self.engine, self.subject.connection_id, "stopping")
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
