"""Admin console tests: spacecal in-process over httpx2's ASGI transport, a browser-like
client (cookies, redirects, forms) and a seeded world of connections in every health.

The world (two businesses, both providers):

| key          | business  | provider  | member | console health                      |
|--------------|-----------|-----------|--------|-------------------------------------|
| healthy      | Riverside | google    | Alice  | healthy                             |
| failing      | Riverside | microsoft | Alice  | failing ("GraphUnavailable: …")     |
| reconnect    | Riverside | google    | Bob    | needs reconnect (account lost)      |
| expiring     | Riverside | microsoft | Bob    | subscription expiring in 1 h        |
| notified     | Harbour   | google    | Carol  | syncing (a notification waits)      |
| queued       | Harbour   | google    | Dave   | syncing (a reconcile job is queued) |
| polled       | Harbour   | microsoft | Carol  | healthy (push unsupported: polled)  |
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from sqlalchemy import insert, select, text
from tests.support.database import reset_database
from tests.support.environments import portal_settings
from tests.support.portal import PASSWORD, SPACECAL, Browser, Space, find_form, seed_space

from spacecal import clock
from spacecal.api.users import validate_roles
from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.db.models import (
    ApiUser,
    Business,
    Connection,
    Coworker,
    ProviderAccount,
    Resource,
    SubscriptionGeneration,
    SyncRun,
)
from spacecal.jobs.reconcile import defer_reconcile
from spacecal.web.auth import hash_password

G, M = "CoworkerGoogleCalendar", "CoworkerMsOfficeCalendar"
# Users by what they may do (password: PASSWORD). admin@example.com (seed_space) is a
# full admin.
USERS: dict[str, list[str]] = {
    "norole@example.com": [],
    "google-viewer@example.com": [f"{G}-List", f"{G}-Read"],
    "lister@example.com": [f"{G}-List", f"{M}-List"],
    "google-editor@example.com": [f"{G}-List", f"{G}-Read", f"{G}-Edit"],
    "google-deleter@example.com": [f"{G}-List", f"{G}-Read", f"{G}-Delete"],
    "ms-operator@example.com": [f"{M}-List", f"{M}-Read", f"{M}-Edit", f"{M}-Delete"],
}
ADMIN = "admin@example.com"


@pytest.fixture(scope="session")
def member_password_hash() -> str:
    return hash_password(PASSWORD)


@dataclass
class World:
    app: FastAPI
    space: Space
    ids: dict[str, int]
    harbour_id: int
    database: Database
    browsers: list[Browser] = field(default_factory=list)

    def browser(self) -> Browser:
        made = Browser({SPACECAL: httpx2.ASGITransport(app=self.app)})
        self.browsers.append(made)
        return made

    async def signed_in(self, email: str = ADMIN) -> Browser:
        browser = self.browser()
        page = await sign_in(browser, email)
        assert str(page.url).endswith("/admin/connections"), page.text
        assert f"Signed in as {email}" in page.text
        return browser

    async def row(self, key_or_id: str | int) -> Any:
        ident = self.ids[key_or_id] if isinstance(key_or_id, str) else key_or_id
        async with self.database.engine.connect() as conn:
            return (await conn.execute(select(Connection).where(Connection.id == ident))).first()

    async def jobs(self) -> list[Any]:
        async with self.database.engine.connect() as conn:
            return list(
                (
                    await conn.execute(
                        text(
                            "SELECT task_name, queueing_lock, status, args FROM procrastinate_jobs"
                            " ORDER BY id"
                        )
                    )
                ).all()
            )


async def sign_in(browser: Browser, email: str, password: str = PASSWORD) -> httpx2.Response:
    page = await browser.get("/admin/signin")
    assert page.status_code == 200, page.text
    return await browser.submit(
        find_form(page.text, "/admin/signin"), email=email, password=password
    )


async def clean(database: Database) -> None:
    await reset_database(database.engine)


def _record() -> dict[str, Any]:
    now = clock.now()
    return {"unique_id": uuid.uuid4(), "created_on": now, "updated_on": now}


async def seed_world(database: Database, space: Space) -> tuple[dict[str, int], int]:
    """The connections of the table above; returns their ids by key, and Harbour's id."""
    now = clock.now()
    async with database.engine.begin() as conn:

        async def one(model: Any, **values: Any) -> int:
            ident = await conn.scalar(insert(model).values(**values).returning(model.id))
            assert ident is not None
            return int(ident)

        harbour = await one(
            Business,
            name="Harbour",
            time_zone="Europe/Paris",
            max_booking_days_ahead=60,
            **_record(),
        )
        dock = await one(Resource, business_id=harbour, name="Dock Room", **_record())
        carol = await one(
            Coworker,
            business_id=harbour,
            full_name="Carol Quay",
            email="carol@harbour.test",
            **_record(),
        )
        dave = await one(
            Coworker,
            business_id=harbour,
            full_name="Dave Pier",
            email="dave@harbour.test",
            **_record(),
        )

        async def account(coworker: int, provider: str, email: str, status: str = "active") -> int:
            return await one(
                ProviderAccount,
                coworker_id=coworker,
                provider=provider,
                email=email,
                status=status,
                status_reason="The member revoked access." if status != "active" else None,
                scopes=[],
                created_at=now,
                updated_at=now,
            )

        accounts = {
            "alice-g": await account(space.alice, "google", "alice@gmail.test"),
            "alice-m": await account(space.alice, "microsoft", "alice@outlook.test"),
            "bob-g": await account(space.bob, "google", "bob@gmail.test", "needs_reconnect"),
            "bob-m": await account(space.bob, "microsoft", "bob@outlook.test"),
            "carol-g": await account(carol, "google", "carol@gmail.test"),
            "carol-m": await account(carol, "microsoft", "carol@outlook.test"),
            "dave-g": await account(dave, "google", "dave@gmail.test"),
        }

        async def connection(
            key: str, provider: str, resource: int, coworker: int, acct: str, **values: Any
        ) -> int:
            resource_name = {space.room_id: "Meeting Room A", space.desk_id: "Desk 1"}.get(
                resource, "Dock Room"
            )
            base: dict[str, Any] = {
                "provider": provider,
                "resource_id": resource,
                "coworker_id": coworker,
                "name": f"{resource_name} · {key}",
                "calendar_id": f"cal-{key}",
                "subscription_id": f"sub-{key}",
                "subscription_expire_date": now + timedelta(days=3),
                "provider_account_id": accounts[acct],
                "health": "healthy",
                "last_sync_at": now - timedelta(minutes=5),
                "last_notification_at": now - timedelta(minutes=6),
                "event_sync_token": f"secret-cursor-{key}",
            }
            base.update(values)
            return await one(Connection, **base, **_record())

        ids = {
            "healthy": await connection("healthy", "google", space.room_id, space.alice, "alice-g"),
            "failing": await connection(
                "failing",
                "microsoft",
                space.room_id,
                space.alice,
                "alice-m",
                health="failing",
                last_error="GraphUnavailable: 503 from Graph",
                last_error_at=now - timedelta(minutes=2),
            ),
            "reconnect": await connection(
                "reconnect", "google", space.room_id, space.bob, "bob-g", health="needs_reconnect"
            ),
            "expiring": await connection(
                "expiring",
                "microsoft",
                space.desk_id,
                space.bob,
                "bob-m",
                subscription_expire_date=now + timedelta(hours=1),
            ),
            "notified": await connection(
                "notified",
                "google",
                dock,
                carol,
                "carol-g",
                sync_requested_at=now - timedelta(seconds=3),
                notifications_pending=2,
            ),
            "queued": await connection("queued", "google", dock, dave, "dave-g"),
            "polled": await connection(
                "polled",
                "microsoft",
                dock,
                carol,
                "carol-m",
                push_supported=False,
                subscription_id=None,
                subscription_expire_date=None,
            ),
        }
        await defer_reconcile(conn, ids["queued"], accounts["dave-g"])
        await conn.execute(
            insert(SubscriptionGeneration).values(
                connection_id=ids["healthy"],
                provider="google",
                subscription_id="sub-healthy",
                secret="channel-token-never-shown",
                expires_at=now + timedelta(days=3),
                status="live",
                created_at=now - timedelta(days=1),
                provider_account_id=accounts["alice-g"],
            )
        )
        for minutes, outcome, error, full in (
            (50, "ok", None, True),
            (30, "failed", "GraphUnavailable: 503 from Graph", False),
            (10, "ok", None, False),
        ):
            await conn.execute(
                insert(SyncRun).values(
                    connection_id=ids["healthy"],
                    started_at=now - timedelta(minutes=minutes),
                    finished_at=now - timedelta(minutes=minutes) + timedelta(milliseconds=420),
                    outcome=outcome,
                    full_sync=full,
                    changes_pulled=3,
                    writes=1,
                    error=error,
                )
            )
    return ids, harbour


async def make_world(
    settings: Settings, database: Database, password_hash: str, **extra: Any
) -> AsyncIterator[World]:
    await clean(database)
    space = await seed_space(database.engine, password_hash)
    async with database.engine.begin() as conn:
        for email, roles in USERS.items():
            await conn.execute(
                insert(ApiUser).values(
                    email=email,
                    password_hash=password_hash,
                    roles=validate_roles(roles),
                    full_admin=False,
                    active=True,
                    created_on=clock.now(),
                )
            )
    ids, harbour = await seed_world(database, space)
    from spacecal.app import create_app

    app = create_app(portal_settings(settings, **extra), database)
    world = World(app, space, ids, harbour, database)
    try:
        yield world
    finally:
        for browser in world.browsers:
            await browser.aclose()


@pytest.fixture
async def world(
    settings: Settings, database: Database, member_password_hash: str
) -> AsyncIterator[World]:
    async for made in make_world(settings, database, member_password_hash):
        yield made
