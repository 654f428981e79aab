"""The in-process environments the suites share: spacecal and both emulators wired
to each other over httpx2's ASGI transport (`Env`, the portal's), plus its worker
(`SyncEnv`), plus the shrunk time settings and the clock moves of the keep-alive tests
(`KeepEnv`). Fixtures: `env`, `sync_env`, `keep_env`, `member_password_hash`.

Each environment starts at a fixed instant (`env_start`, tests/support/timing.py):
spacecal's clock and both emulators' clocks are set to it before anything is seeded,
and the database is reset (tests/support/database.py) first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text
from tests.support.database import reset_database
from tests.support.member import GoogleMember, Member, MicrosoftMember
from tests.support.portal import (
    GOOGLE,
    MICROSOFT,
    PASSWORD,
    SPACECAL,
    Browser,
    Space,
    seed_space,
)
from tests.support.timing import START, start_clocks

from spacecal import clock
from spacecal.app import create_app
from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.db.models import Connection, SubscriptionGeneration
from spacecal.emulators.common.clock import EmulatorClock
from spacecal.emulators.google import GoogleEmulator
from spacecal.emulators.microsoft import MicrosoftEmulator
from spacecal.portal.runtime import PortalRuntime
from spacecal.runner import run_worker
from spacecal.sync.intake.dispatch import dispatch_all
from spacecal.sync.runtime import SyncRuntime
from spacecal.sync.upkeep.keepalive_pass import keepalive_pass
from spacecal.sync.upkeep.sweep import sweep
from spacecal.web.auth import hash_password

PROVIDERS = ["google", "microsoft"]
ACCOUNTS = {"google": "{name}@gmail.test", "microsoft": "{name}@outlook.test"}

HOUR = 3600.0

# A day-long subscription renewed 6 h ahead (jitter within 1 h): a renewal a day.
SHRUNK: dict[str, Any] = {
    "subscription_ttl_seconds": int(24 * HOUR),
    "google_renewal_margin_seconds": 6 * HOUR,
    "microsoft_renewal_margin_seconds": 6 * HOUR,
    "renewal_jitter_seconds": 1 * HOUR,
    "renewal_backoff_base_seconds": 1 * HOUR,
    "renewal_backoff_cap_seconds": 4 * HOUR,
    "sweep_quiet_seconds": 2 * HOUR,
    "poll_interval_seconds": 1 * HOUR,
    "prune_jobs_after_seconds": 24 * HOUR,
    "prune_sync_runs_after_seconds": 3 * 24 * HOUR,
}


@pytest.fixture(scope="session")
def member_password_hash() -> str:
    return hash_password(PASSWORD)


def portal_settings(settings: Settings, **extra: Any) -> Settings:
    return settings.model_copy(
        update={
            "public_url": SPACECAL,
            "google_client_id": "spacecal-emulator.apps.googleusercontent.com",
            "google_client_secret": "spacecal-emulator-secret",
            "google_api_base": GOOGLE + "/calendar/v3",
            "google_authorize_url": GOOGLE + "/o/oauth2/v2/auth",
            "google_token_url": GOOGLE + "/token",
            "google_revoke_url": GOOGLE + "/revoke",
            "microsoft_client_id": "spacecal-test-client",
            "microsoft_client_secret": "spacecal-test-secret",
            "microsoft_graph_base": MICROSOFT + "/v1.0",
            "microsoft_login_base": MICROSOFT,
            **extra,
        }
    )


@dataclass
class Env:
    app: FastAPI
    rt: PortalRuntime
    google: GoogleEmulator
    microsoft: MicrosoftEmulator
    browser: Browser
    space: Space
    api: httpx2.AsyncClient  # spacecal's API as an admin would call it
    control: httpx2.AsyncClient  # the emulators' control endpoints

    def new_browser(self) -> Browser:
        return Browser(_mounts(self.app, self.google, self.microsoft))

    async def google_json(self, path: str, **params: Any) -> Any:
        answer = await self.control.get(GOOGLE + "/_control" + path, params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def ms_json(self, path: str, **params: Any) -> Any:
        answer = await self.control.get(MICROSOFT + "/_control" + path, params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def fault(self, base: str, rule: dict[str, Any]) -> None:
        answer = await self.control.post(base + "/_control/faults", json=rule)
        assert answer.status_code == 201, answer.text

    async def records(self, path: str) -> list[dict[str, Any]]:
        answer = await self.api.get(f"/api/spaces/{path}", params={"size": 100})
        assert answer.status_code == 200, answer.text
        records: list[dict[str, Any]] = answer.json()["Records"]
        return records


def _mounts(app: FastAPI, g: GoogleEmulator, m: MicrosoftEmulator) -> dict[str, Any]:
    return {
        SPACECAL: httpx2.ASGITransport(app=app),
        GOOGLE: httpx2.ASGITransport(app=g.app),
        MICROSOFT: httpx2.ASGITransport(app=m.app),
    }


async def make_env(
    settings: Settings,
    database: Database,
    password_hash: str,
    *,
    start: datetime = START,
    **extra: Any,
) -> AsyncIterator[Env]:
    """A fresh environment whose clocks (spacecal's, both emulators') read `start`."""
    await reset_database(database.engine)
    start_clocks(start)
    space = await seed_space(database.engine, password_hash)
    app = create_app(portal_settings(settings, **extra), database)
    push = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=SPACECAL)
    google = GoogleEmulator(
        seed=1, base_url=GOOGLE, push_client=push, clock=EmulatorClock(clock.now())
    )
    microsoft = MicrosoftEmulator(
        seed=2, base_url=MICROSOFT, push_client=push, clock=EmulatorClock(clock.now())
    )
    rt: PortalRuntime = app.state.portal
    provider_http = httpx2.AsyncClient(
        mounts={
            GOOGLE: httpx2.ASGITransport(app=google.app),
            MICROSOFT: httpx2.ASGITransport(app=microsoft.app),
        },
        timeout=30,
    )
    rt.use_http(provider_http)
    browser = Browser(_mounts(app, google, microsoft))
    api = httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app), base_url=SPACECAL, headers=space.admin_headers
    )
    control = httpx2.AsyncClient(mounts=_mounts(app, google, microsoft))
    env = Env(app, rt, google, microsoft, browser, space, api, control)
    try:
        yield env
    finally:
        for client in (browser.http, api, control, provider_http):
            await client.aclose()
        await google.aclose()
        await microsoft.aclose()
        await push.aclose()
        clock.clock.reset()


@pytest.fixture
async def env(
    settings: Settings, database: Database, member_password_hash: str, env_start: datetime
) -> AsyncIterator[Env]:
    async for e in make_env(settings, database, member_password_hash, start=env_start):
        yield e


@dataclass
class SyncEnv:
    env: Env
    rt: SyncRuntime

    @property
    def engine(self) -> Any:
        return self.rt.db.engine

    async def settle(self, rounds: int = 25) -> int:
        """Deliver every pending notification, turn the marks it left into jobs (the
        worker's dispatcher) and run every runnable job, until quiet. Returns the
        number of worker rounds that found work."""
        for busy in range(rounds):
            await self.env.google.drain()
            await self.env.microsoft.drain()
            await self.dispatch()
            if not await self.runnable_jobs():
                return busy
            await run_worker(self.rt, wait=False, periodic=False, concurrency=2)
        raise AssertionError("the sync did not settle (a ping-pong of writes?)")

    async def dispatch(self) -> int:
        """What the worker's dispatcher does: every notification mark becomes a job."""
        return await dispatch_all(self.engine, batch=self.rt.settings.dispatch_batch_size)

    async def marks(self) -> int:
        """Connections with a notification mark not yet dispatched."""
        async with self.engine.connect() as conn:
            value = await conn.scalar(
                select(func.count()).where(Connection.sync_requested_at.is_not(None))
            )
        return int(value or 0)

    async def runnable_jobs(self) -> int:
        async with self.engine.connect() as conn:
            value = await conn.scalar(
                # What a worker's fetch could take now (procrastinate_fetch_job_v2's
                # rule): a job behind another of its lock (one running, or one waiting
                # ahead, e.g. a throttled reconcile deferred to later) is not runnable.
                text(
                    "SELECT count(*) FROM procrastinate_jobs AS jobs WHERE status = 'todo'"
                    " AND (scheduled_at IS NULL OR scheduled_at <= now())"
                    " AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs AS other"
                    "  WHERE jobs.lock IS NOT NULL AND other.lock = jobs.lock"
                    "  AND (other.status = 'doing' OR (other.status = 'todo'"
                    "   AND (other.priority > jobs.priority"
                    "    OR (other.priority = jobs.priority AND other.id < jobs.id)))))"
                )
            )
        return int(value or 0)

    async def connect(self, provider: str, who: str = "alice", resource: str = "room") -> Member:
        """Sign `who` in, connect `provider` through the consent page, add the resource;
        the member's view of the new calendar."""
        browser = self.env.new_browser()
        email_portal = f"{who}@example.com"
        page = await browser.sign_in(email_portal)
        assert page.status_code == 200, page.text
        account = ACCOUNTS[provider].format(name=who)
        page = await browser.connect(provider, account)
        assert page.status_code == 200, page.text
        resource_id = self.env.space.room_id if resource == "room" else self.env.space.desk_id
        page = await browser.post_form(f"/portal/resources/{resource_id}/{provider}", action="add")
        assert page.status_code == 200, page.text
        coworker = self.env.space.alice if who == "alice" else self.env.space.bob
        async with self.engine.connect() as conn:
            calendar_id = await conn.scalar(
                select(Connection.calendar_id).where(
                    Connection.coworker_id == coworker,
                    Connection.provider == provider,
                    Connection.resource_id == resource_id,
                )
            )
        assert calendar_id, "provisioning left no calendar"
        await browser.aclose()
        if provider == "google":
            return GoogleMember(self.env.google, account, calendar_id)
        return MicrosoftMember(self.env.microsoft, account, calendar_id)


@pytest.fixture
async def sync_env(
    settings: Settings, database: Database, member_password_hash: str, env_start: datetime
) -> AsyncIterator[SyncEnv]:
    async for env in make_env(settings, database, member_password_hash, start=env_start):
        rt = SyncRuntime(settings=env.rt.settings, db=database, provider_for=env.rt.provider)
        yield SyncEnv(env, rt)


async def age_jobs(engine: Any, delta: timedelta) -> None:
    """Move procrastinate's recorded times `delta` into the past: PostgreSQL's `now()`
    does not move with the test's clocks, so this is how time passes for procrastinate
    (job ages for pruning; a job deferred with a delay, `now() + delay`, comes due).
    Only `scheduled_at` within a day is a delay: a later one is an instant of spacecal's
    shifted clock (absolute scheduling, before job times were relative) and stays."""
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE procrastinate_events SET at = at - :delta"), {"delta": delta}
        )
        await conn.execute(
            text(
                "UPDATE procrastinate_jobs SET scheduled_at = scheduled_at - :delta"
                " WHERE scheduled_at IS NOT NULL"
                " AND (status <> 'todo' OR scheduled_at <= now() + interval '1 day')"
            ),
            {"delta": delta},
        )


def move_clocks(env: Env, delta: timedelta) -> None:
    """spacecal's clock and both emulators' clocks, `delta` on."""
    clock.clock.advance(delta)
    env.google.clock.advance(delta)
    env.microsoft.clock.advance(delta)


@dataclass
class KeepEnv(SyncEnv):
    async def advance(self, delta: timedelta, *, sweep_too: bool = False) -> None:
        """Move every clock by `delta` (procrastinate's recorded times too), then run
        the periodic work and settle."""
        move_clocks(self.env, delta)
        await age_jobs(self.engine, delta)
        await self.tick(sweep_too=sweep_too)

    async def tick(self, *, sweep_too: bool = False) -> None:
        await keepalive_pass(self.rt)
        if sweep_too:
            await sweep(self.rt)
        await self.settle()

    async def connection(self, provider: str) -> Any:
        async with self.engine.connect() as conn:
            return (
                await conn.execute(select(Connection).where(Connection.provider == provider))
            ).one()

    async def generations(self, provider: str, status: str | None = None) -> list[Any]:
        query = select(SubscriptionGeneration).where(SubscriptionGeneration.provider == provider)
        if status is not None:
            query = query.where(SubscriptionGeneration.status == status)
        async with self.engine.connect() as conn:
            return list((await conn.execute(query.order_by(SubscriptionGeneration.id))).all())

    async def record(self, provider: str) -> dict[str, Any]:
        """The one connection record, as the records API shows it to the admin (HTTP
        Basic: the seeded Bearer token expires after a simulated day)."""
        path = "coworkergooglecalendars" if provider == "google" else "coworkermsofficecalendars"
        answer = await self.env.api.get(
            f"/api/spaces/{path}",
            params={"size": 100},
            auth=("admin@example.com", PASSWORD),
        )
        assert answer.status_code == 200, answer.text
        [record] = answer.json()["Records"]
        return dict(record)

    async def portal_page(self, who: str = "alice") -> str:
        """The member's Integrations page, as the member sees it."""
        browser = self.env.new_browser()
        try:
            page = await browser.sign_in(f"{who}@example.com")
            assert page.status_code == 200, page.text
            page = await browser.get("/portal")
            assert page.status_code == 200, page.text
            return page.text
        finally:
            await browser.aclose()

    def live_at_provider(self, provider: str, calendar_id: str) -> list[str]:
        """Channel/subscription ids the emulator would still notify for this calendar."""
        if provider == "google":
            return [c["id"] for c in self.env.google.channels(calendar_id) if c["live"]]
        return [
            s["id"]
            for s in self.env.microsoft.list_subscriptions()
            if calendar_id in str(s.get("resource", ""))
        ]


@pytest.fixture
async def keep_env(
    settings: Settings, database: Database, member_password_hash: str, env_start: datetime
) -> AsyncIterator[KeepEnv]:
    async for env in make_env(settings, database, member_password_hash, start=env_start, **SHRUNK):
        rt = SyncRuntime(settings=env.rt.settings, db=database, provider_for=env.rt.provider)
        yield KeepEnv(env, rt)
