"""Keep-alive tests: spacecal, its worker and both emulators in-process, with time
settings shrunk so a week passes in seconds. Spacecal's clock and both emulators'
clocks are moved together (DESIGN, Time); each step runs what the periodic tasks run
(the keep-alive pass, and the sweep where a test asks for it), then settles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from tests.portal.conftest import make_env
from tests.support.portal import PASSWORD
from tests.sync.conftest import SyncEnv

from spacecal import clock
from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.db.models import Connection, SubscriptionGeneration
from spacecal.sync.runtime import SyncRuntime
from spacecal.sync.upkeep.keepalive import keepalive_pass
from spacecal.sync.upkeep.sweep import sweep
from spacecal.web.auth import hash_password

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


@dataclass
class KeepEnv(SyncEnv):
    async def advance(self, delta: timedelta, *, sweep_too: bool = False) -> None:
        """Move every clock by `delta`, then run the periodic work and settle."""
        clock.clock.advance(delta)
        self.env.google.clock.advance(delta)
        self.env.microsoft.clock.advance(delta)
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


@pytest.fixture(scope="session")
def member_password_hash() -> str:
    return hash_password(PASSWORD)


async def _clean_jobs(database: Database) -> None:
    async with database.engine.begin() as conn:
        await conn.execute(
            text(
                "TRUNCATE procrastinate_events, procrastinate_periodic_defers,"
                " procrastinate_jobs, job_outbox RESTART IDENTITY CASCADE"
            )
        )


@pytest.fixture
async def keep_env(
    settings: Settings, database: Database, member_password_hash: str
) -> AsyncIterator[KeepEnv]:
    await _clean_jobs(database)
    clock.clock.reset()
    try:
        async for env in make_env(settings, database, member_password_hash, **SHRUNK):
            rt = SyncRuntime(settings=env.rt.settings, db=database, provider_for=env.rt.provider)
            yield KeepEnv(env, rt)
    finally:
        clock.clock.reset()
