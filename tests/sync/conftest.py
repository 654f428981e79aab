"""Sync tests: spacecal, its worker and both emulators in-process (the portal's test
environment), plus helpers to connect a member and let everything settle."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select, text
from tests.portal.conftest import Env, make_env
from tests.support.member import GoogleMember, Member, MicrosoftMember
from tests.support.portal import PASSWORD

from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.db.models import Connection
from spacecal.runner import run_worker
from spacecal.sync.intake.dispatch import dispatch_all
from spacecal.sync.runtime import SyncRuntime
from spacecal.web.auth import hash_password

PROVIDERS = ["google", "microsoft"]
ACCOUNTS = {"google": "{name}@gmail.test", "microsoft": "{name}@outlook.test"}


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
                text(
                    "SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo'"
                    " AND (scheduled_at IS NULL OR scheduled_at <= now())"
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
async def sync_env(
    settings: Settings, database: Database, member_password_hash: str
) -> AsyncIterator[SyncEnv]:
    await _clean_jobs(database)
    async for env in make_env(settings, database, member_password_hash):
        rt = SyncRuntime(settings=env.rt.settings, db=database, provider_for=env.rt.provider)
        yield SyncEnv(env, rt)
