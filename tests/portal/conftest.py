"""Portal tests: spacecal and both emulators in-process, wired to each other over
httpx2's ASGI transport, and a browser-like client driving the pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from tests.support.portal import (
    GOOGLE,
    MICROSOFT,
    PASSWORD,
    SPACECAL,
    Browser,
    Space,
    seed_space,
)

from spacecal.app import create_app
from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.emulators.google import GoogleEmulator
from spacecal.emulators.microsoft import MicrosoftEmulator
from spacecal.portal.runtime import PortalRuntime
from spacecal.web.auth import hash_password

TABLES = (
    "sync_runs, event_links, subscription_generations, connections, provider_accounts, "
    "oauth_states, member_sign_in_links, bookings, coworkers, resources, businesses, "
    "api_tokens, api_users"
)


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
    settings: Settings, database: Database, password_hash: str, **extra: Any
) -> AsyncIterator[Env]:
    async with database.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    space = await seed_space(database.engine, password_hash)
    app = create_app(portal_settings(settings, **extra), database)
    push = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=SPACECAL)
    google = GoogleEmulator(seed=1, base_url=GOOGLE, push_client=push)
    microsoft = MicrosoftEmulator(seed=2, base_url=MICROSOFT, push_client=push)
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


@pytest.fixture
async def env(
    settings: Settings, database: Database, member_password_hash: str
) -> AsyncIterator[Env]:
    async for e in make_env(settings, database, member_password_hash):
        yield e
