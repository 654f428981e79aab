"""Fixtures for the Microsoft emulator tests: the emulator in-process, a Graph client
talking to it over httpx2's ASGI transport, and a small webhook peer (a Starlette app)
that plays the client's notification endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from spacecal.emulators.common import EmulatorClock
from spacecal.emulators.microsoft import MicrosoftEmulator

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
BASE = "http://microsoft.emulator.test"
HOOK = "http://client.test/hooks/ms"
LIFECYCLE = "http://client.test/hooks/ms-lifecycle"


@dataclass
class Peer:
    """The client's webhook endpoint, with knobs for how it answers."""

    validation_mode: str = "echo"  # echo | encoded | wrong | slow | forbidden
    slow_seconds: float = 0.5
    notification_status: int = 202
    slow_notifications: int = 0  # answer this many notifications too slowly first
    validations: list[str] = field(default_factory=list)
    notifications: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.app = Starlette(routes=[Route("/{path:path}", self.handle, methods=["POST"])])

    async def handle(self, request: Request) -> Response:
        token = request.query_params.get("validationToken")
        if token is not None:
            self.validations.append(request.url.path)
            mode = self.validation_mode
            if mode == "slow":
                await asyncio.sleep(self.slow_seconds)
            if mode == "encoded":
                return PlainTextResponse(quote(token))
            if mode == "wrong":
                return PlainTextResponse("OK")
            if mode == "forbidden":
                return Response(status_code=403)
            return PlainTextResponse(token)
        body = await request.json()
        if self.slow_notifications > 0:
            self.slow_notifications -= 1
            await asyncio.sleep(self.slow_seconds)
            return Response(status_code=202)
        self.notifications.append((request.url.path, body))
        return Response(status_code=self.notification_status)

    def items(self, path: str = "/hooks/ms") -> list[dict[str, Any]]:
        return [item for p, body in self.notifications if p == path for item in body["value"]]


@pytest.fixture
def peer() -> Peer:
    return Peer()


@pytest.fixture
async def emu(peer: Peer) -> AsyncIterator[MicrosoftEmulator]:
    push = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=peer.app))
    emulator = MicrosoftEmulator(
        seed=7,
        base_url=BASE,
        push_client=push,
        clock=EmulatorClock(NOW, frozen=True),
        notification_timeout=0.2,
        validation_timeout=0.2,
        retry_base=0.01,
        retry_cap=0.05,
    )
    yield emulator
    await emulator.aclose()
    await push.aclose()


@pytest.fixture
async def http(emu: MicrosoftEmulator) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=emu.app), base_url=BASE
    ) as client:
        yield client


@dataclass
class Member:
    email: str
    token: str
    refresh_token: str
    calendar_id: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
async def member(emu: MicrosoftEmulator, http: httpx2.AsyncClient) -> Member:
    acc = emu.create_account("ann@example.com")
    headers = {"Authorization": f"Bearer {acc['access_token']}"}
    created = await http.post(
        "/v1.0/me/calendars", json={"name": "Meeting Room A"}, headers=headers
    )
    assert created.status_code == 201
    return Member(acc["email"], acc["access_token"], acc["refresh_token"], created.json()["id"])


def dtz(moment: str, zone: str = "UTC") -> dict[str, str]:
    return {"dateTime": moment, "timeZone": zone}
