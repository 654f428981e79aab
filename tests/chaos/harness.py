"""The chaos environment: the sync tests' in-process stack (spacecal, its worker and
both emulators over ASGI) with every time span shrunk, plus the moves a scenario needs
that the sync harness does not have: moving all clocks together, letting procrastinate
see jobs that became due on the shifted clock, running the periodic work, and
reconnecting a member whose consent was revoked.

CalDAV (even seeds, `with_caldav`): a third member, Carol, connects a real Radicale
(one per session) through a fault-injecting proxy (tests/support/caldav_proxy.py);
her calendar app writes to Radicale directly (tests/support/caldav_member.py). CalDAV
has no push: her calendar converges through the poll the sweep runs (`periodic`).

Time (DESIGN, Time): spacecal's clock and both emulators' clocks move together;
procrastinate alone reads PostgreSQL's `now()`, so a job spacecal scheduled for a
time the shifted clock has reached is made runnable here (`promote_due_jobs`).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx2
from sqlalchemy import insert, or_, select, text
from tests.support.caldav_member import CalDavMember, empty_home
from tests.support.caldav_proxy import FaultProxy
from tests.support.caldav_servers import CalDavServer
from tests.support.environments import ACCOUNTS, SHRUNK, SyncEnv, make_env
from tests.support.member import GoogleMember, Member, MicrosoftMember
from tests.support.timing import chaos_start

from spacecal import clock
from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.db.models import Connection, Coworker, ProviderAccount
from spacecal.providers.base import AccountIdentity, TokenSet
from spacecal.providers.caldav import caldav_http_client, connect_account
from spacecal.providers.http import decode_jwt_claims
from spacecal.sync.accounts import consent
from spacecal.sync.accounts.caldav import save_caldav_account
from spacecal.sync.runtime import SyncRuntime
from spacecal.sync.upkeep.keepalive_pass import keepalive_pass
from spacecal.sync.upkeep.sweep import sweep

# Every span a recovery waits for is seconds of simulated time (the clocks jump).
CHAOS_SETTINGS: dict[str, Any] = {
    **SHRUNK,
    "sync_backoff_base_seconds": 1.0,
    "sync_backoff_cap_seconds": 8.0,
    "throttle_default_seconds": 2.0,
    "sweep_quiet_seconds": 120.0,
    "poll_interval_seconds": 60.0,
    "renewal_backoff_base_seconds": 10.0,
    "renewal_backoff_cap_seconds": 60.0,
    # CalDAV: Radicale on loopback; polls every minute after a change, at most every
    # two when quiet (below LONGEST_WAIT, so one recovery round polls every calendar);
    # no jitter (a seed's story must not depend on a random draw); a lost answer or a
    # held request fails within a second of the socket going quiet.
    "allow_private_targets": True,
    "caldav_poll_seconds": 60.0,
    "caldav_poll_max_seconds": 120.0,
    "caldav_poll_jitter": 0.0,
    "caldav_timeout_seconds": 1.0,
}
#: The longest wait anything in a run may ask for (Retry-After bursts stay below).
LONGEST_WAIT = timedelta(seconds=max(60.0, CHAOS_SETTINGS["sweep_quiet_seconds"]) + 1)

#: Enough for any failure backoff or Retry-After of a run to pass.
BACKOFF_SPAN = timedelta(
    seconds=max(
        CHAOS_SETTINGS["sync_backoff_cap_seconds"], CHAOS_SETTINGS["renewal_backoff_cap_seconds"]
    )
    + 31
)

EVENT_WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")


def with_caldav(seed: int) -> bool:
    """Whether Carol connects CalDAV in this seed: even seeds. Odd seeds keep the
    stories they had before CalDAV joined (the same draws, in the same order)."""
    return seed % 2 == 0


@dataclass
class CalDavSide:
    """Carol's CalDAV account: the real server, the proxy spacecal reaches it
    through, her calendar app's HTTP client, and her coworker id."""

    server: CalDavServer
    proxy: FaultProxy
    app: httpx2.Client
    carol: int
    email: str = ""


@dataclass
class ChaosEnv(SyncEnv):
    caldav: CalDavSide | None = None

    def coworker(self, who: str) -> int:
        space = self.env.space
        if who == "carol":
            assert self.caldav is not None
            return self.caldav.carol
        return space.alice if who == "alice" else space.bob

    async def advance(self, delta: timedelta) -> None:
        """Move spacecal's and both emulators' clocks together."""
        clock.clock.advance(delta)
        self.env.google.clock.advance(delta)
        self.env.microsoft.clock.advance(delta)
        await self.promote_due_jobs(delta)

    async def promote_due_jobs(self, delta: timedelta = timedelta(0)) -> int:
        """Move procrastinate's waiting jobs by `delta` as well (PostgreSQL's `now()`
        does not move with the test's clocks): a job deferred with a delay
        (`now() + delay`, DESIGN, Time) becomes runnable once the clocks passed it.

        A `scheduled_at` further ahead than any delay of a run can only be an instant
        of spacecal's shifted clock (absolute scheduling, from before job times were
        relative): it is runnable once spacecal's clock reached it."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                text(
                    "UPDATE procrastinate_jobs SET scheduled_at = CASE"
                    " WHEN scheduled_at > now() + :longest"
                    "  THEN CASE WHEN scheduled_at <= :now THEN now() ELSE scheduled_at END"
                    " ELSE GREATEST(scheduled_at - :delta, now()) END"
                    " WHERE status = 'todo' AND scheduled_at > now()"
                ),
                {"now": clock.now(), "delta": delta, "longest": LONGEST_WAIT * 2},
            )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def periodic(self) -> None:
        """What the periodic tasks run each minute: keep-alive pass and sweep."""
        await keepalive_pass(self.rt)
        await sweep(self.rt)
        await self.settle()

    async def anything_due(self) -> bool:
        """Whether a failed sync is backing off or a job waits for a later time."""
        return bool(await self.still_due())

    async def still_due(self) -> list[str]:
        """What is still backing off or waiting: jobs scheduled later, and active
        connections with a retry time or failing renewals (with their last error)."""
        async with self.engine.connect() as conn:
            jobs = (
                await conn.execute(
                    text(
                        "SELECT task_name, args, scheduled_at FROM procrastinate_jobs"
                        " WHERE status = 'todo' AND scheduled_at > now()"
                    )
                )
            ).all()
            rows = (
                await conn.execute(
                    select(
                        Connection.id,
                        Connection.provider,
                        Connection.health,
                        Connection.retry_at,
                        Connection.renewal_failures,
                        Connection.last_error,
                    )
                    .join(ProviderAccount, ProviderAccount.id == Connection.provider_account_id)
                    .where(
                        or_(Connection.retry_at.is_not(None), Connection.renewal_failures > 0),
                        ProviderAccount.status == "active",
                    )
                )
            ).all()
        now = clock.now()
        out = [f"job {j.task_name} {j.args} due {j.scheduled_at:%H:%M:%S}" for j in jobs]
        out += [
            f"connection {r.id} ({r.provider}) {r.health}, retry at"
            f" {'-' if r.retry_at is None else f'now+{(r.retry_at - now).total_seconds():.0f}s'},"
            f" {r.renewal_failures} failed renewal(s): {r.last_error}"
            for r in rows
        ]
        return out

    async def account_status(self, provider: str, email: str) -> str | None:
        async with self.engine.connect() as conn:
            status = await conn.scalar(
                select(ProviderAccount.status).where(
                    ProviderAccount.provider == provider, ProviderAccount.email == email
                )
            )
        return None if status is None else str(status)

    async def _consent(self, provider: str, who: str) -> int:
        """The emulator grants consent to `who` (as its consent page would) and the
        tokens are stored as the portal's OAuth callback stores them; the account id."""
        settings = self.env.rt.settings
        email = ACCOUNTS[provider].format(name=who)
        now = clock.now()
        if provider == "google":
            google = self.env.google
            body = (
                google.issue_tokens(email, client_id=settings.google_client_id)
                if email in google.store.accounts
                else google.create_account(email, client_id=settings.google_client_id)
            )
            subject = str(decode_jwt_claims(body["id_token"])["sub"])
        else:
            microsoft = self.env.microsoft
            client_id = settings.microsoft_client_id
            assert client_id is not None
            try:
                user_id = microsoft.identity.require_account(email).user_id
                body = microsoft.issue_tokens(email, client_id=client_id)
            except KeyError:
                body = microsoft.create_account(email, client_id=client_id)
                user_id = body["user_id"]
            subject = str(user_id)
        tokens = TokenSet(
            access_token=body["access_token"],
            expires_at=now + timedelta(seconds=int(body["expires_in"])),
            refresh_token=body["refresh_token"],
            scopes=tuple(str(body.get("scope", "")).split()),
        )
        coworker = self.coworker(who)
        identity = AccountIdentity(email, subject)
        return await consent.save_account(
            self.env.rt.provisioner, coworker, provider, tokens, identity
        )

    async def connect_member(self, provider: str, who: str) -> Member:
        """`who` connects `provider` and switches the meeting room on, stored and
        provisioned exactly as the portal's callback and resource switch do
        (sync/accounts/provisioning.py), without the pages and the password check (the portal
        suite covers those; here they would be most of a seed's time)."""
        if provider == "caldav":
            await self._caldav_consent()
        else:
            await self._consent(provider, who)
        space = self.env.space
        coworker = self.coworker(who)
        prov = self.env.rt.provisioner
        connection_id = await prov.add_resource(coworker, provider, space.room_id)
        async with self.engine.connect() as conn:
            calendar_id = await conn.scalar(
                select(Connection.calendar_id).where(Connection.id == connection_id)
            )
        assert calendar_id, "provisioning left no calendar"
        return self.member(provider, who, str(calendar_id))

    async def _caldav_consent(self) -> int:
        """Carol's server checked and stored as the portal's CalDAV form does
        (portal/caldav.py), through the proxy."""
        side = self.caldav
        assert side is not None
        settings = self.env.rt.settings
        async with caldav_http_client(settings) as http:
            credentials, identity = await connect_account(
                http, side.proxy.url, side.server.username, side.server.password, settings=settings
            )
        side.email = identity.email
        return await save_caldav_account(self.env.rt.provisioner, side.carol, credentials, identity)

    async def reconnect(self, provider: str, who: str) -> None:
        """The member connects the same account again (the callback's reattach; for
        CalDAV, the form again with the password the server takes now)."""
        if provider == "caldav":
            assert self.caldav is not None
            self.caldav.proxy.authorized()
            await self._caldav_consent()  # saving a CalDAV account reattaches
            return
        account_id = await self._consent(provider, who)
        await consent.reattach(self.env.rt.provisioner, account_id)

    def event_writes(self) -> int:
        """Successful event writes spacecal made at both providers (creates, patches,
        deletes of events; channel/subscription and calendar calls excluded)."""
        records = [*self.env.google.core.calls.list(), *self.env.microsoft.calls.list()]
        caldav = self.caldav.proxy.writes if self.caldav is not None else 0
        return caldav + sum(
            1
            for r in records
            if r.method in EVENT_WRITE_METHODS
            and 200 <= r.status < 300
            and "/events" in r.path
            and not r.path.endswith("/watch")
        )

    def member(self, provider: str, who: str, calendar_id: str) -> Member:
        if provider == "caldav":
            assert self.caldav is not None
            side = self.caldav
            return CalDavMember(side.app, side.email, calendar_id, side.server.url)
        account = ACCOUNTS[provider].format(name=who)
        if provider == "google":
            return GoogleMember(self.env.google, account, calendar_id)
        return MicrosoftMember(self.env.microsoft, account, calendar_id)


def fast_commit_url(url: str) -> str:
    """The same database, its sessions not waiting for WAL flushes at commit."""
    option = "options=-c%20synchronous_commit%3Doff"
    return url + ("&" if "?" in url else "?") + option


async def add_carol(env: Any, password_hash: str) -> int:
    now = clock.now()
    async with env.rt.db.engine.begin() as conn:
        carol = await conn.scalar(
            insert(Coworker)
            .values(
                business_id=env.space.business_id,
                full_name="Carol Member",
                email="carol@example.com",
                password_hash=password_hash,
                unique_id=uuid.uuid4(),
                created_on=now,
                updated_on=now,
            )
            .returning(Coworker.id)
        )
    return int(carol)


async def chaos_env(
    settings: Settings,
    database: Database,
    password_hash: str,
    seed: int = 0,
    radicale: CalDavServer | None = None,
) -> AsyncIterator[ChaosEnv]:
    """A fresh stack for one scenario (tables emptied), its clocks starting at the
    seed's instant (`chaos_start`: a replay of the seed runs at the same times); with
    `radicale` and an even seed, Carol and her CalDAV account as well."""
    side: CalDavSide | None = None
    try:
        start = chaos_start(seed)
        async for env in make_env(settings, database, password_hash, start=start, **CHAOS_SETTINGS):
            rt = SyncRuntime(settings=env.rt.settings, db=database, provider_for=env.rt.provider)
            if radicale is not None and with_caldav(seed):
                app = httpx2.Client(auth=(radicale.username, radicale.password), timeout=30)
                empty_home(radicale, app)
                proxy = FaultProxy(radicale.url)
                await proxy.start()
                side = CalDavSide(radicale, proxy, app, await add_carol(env, password_hash))
            yield ChaosEnv(env, rt, side)
    finally:
        if side is not None:
            await side.proxy.aclose()
            empty_home(side.server, side.app)
            side.app.close()
        clock.clock.reset()
