"""Helpers for the Google emulator tests: an emulator on a frozen clock, an HTTP
client against it, an account with tokens, a webhook receiver standing in for spacecal."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from spacecal.emulators.common import EmulatorClock
from spacecal.emulators.google import GoogleEmulator

BASE = "http://google.emulator.test"
API = BASE + "/calendar/v3"
START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
FULL = "https://www.googleapis.com/auth/calendar"
APP_CREATED = "https://www.googleapis.com/auth/calendar.app.created"


@dataclass
class Receiver:
    """A webhook endpoint: records each notification, answers from a script, then 200."""

    script: list[int] = field(default_factory=list)
    received: list[dict[str, str]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)

    async def hook(self, request: Request) -> Response:
        self.received.append(dict(request.headers))
        self.bodies.append(await request.body())
        return Response(status_code=self.script.pop(0) if self.script else 200)

    def client(self) -> httpx2.AsyncClient:
        app = Starlette(routes=[Route("/webhooks/google", self.hook, methods=["POST"])])
        return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))


@dataclass
class Env:
    emu: GoogleEmulator
    http: httpx2.AsyncClient
    rx: Receiver
    email: str
    token: str
    refresh_token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def new_calendar(self, summary: str = "Room A", tz: str = "Europe/Paris") -> str:
        r = await self.http.post(
            f"{API}/calendars", json={"summary": summary, "timeZone": tz}, headers=self.auth
        )
        assert r.status_code == 200, r.text
        return str(r.json()["id"])

    async def list(self, cal: str, **params: Any) -> httpx2.Response:
        return await self.http.get(
            f"{API}/calendars/{cal}/events", params=params, headers=self.auth
        )

    async def pull(self, cal: str, **params: Any) -> tuple[list[dict[str, Any]], str]:
        """Follow every page; return the items and the final sync token."""
        items: list[dict[str, Any]] = []
        page: str | None = None
        while True:
            extra = {"pageToken": page} if page else {}
            r = await self.list(cal, **params, **extra)
            assert r.status_code == 200, r.text
            body = r.json()
            items.extend(body["items"])
            page = body.get("nextPageToken")
            if page is None:
                return items, body["nextSyncToken"]
            assert "nextSyncToken" not in body


def make_env(seed: int = 0, scopes: list[str] | None = None) -> Env:
    rx = Receiver()
    emu = GoogleEmulator(
        seed=seed,
        base_url=BASE,
        push_client=rx.client(),
        clock=EmulatorClock(START, frozen=True),
        push_retry_base=0.001,
    )
    acct = emu.create_account("member@example.com", scopes=scopes or ["openid", "email", FULL])
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=emu.app))
    return Env(emu, http, rx, acct["email"], acct["access_token"], acct["refresh_token"])
