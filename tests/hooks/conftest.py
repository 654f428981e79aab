"""Outbound webhook tests: the app in-process over ASGI, a real receiver on loopback
(uvicorn on 127.0.0.1), and the real procrastinate worker delivering to it."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest
import uvicorn
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tests.support.api_env import MakeUser
from tests.support.database import reset_database
from tests.support.timing import eventually

from spacecal import jobs
from spacecal.app import create_app
from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.providers.base import CalendarProvider
from spacecal.runner import run_worker
from spacecal.sync.runtime import SyncRuntime
from spacecal.web.auth import hash_password

PASSWORD = "correct horse battery"


@dataclass
class Call:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook receiver: records every POST; answers `statuses` in turn (then 200)."""

    base: str = ""
    calls: list[Call] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0

    def url(self, name: str, host: str = "127.0.0.1") -> str:
        return self.base.replace("127.0.0.1", host) + f"/hook/{name}"

    def to(self, name: str) -> list[Call]:
        return [c for c in self.calls if c.path == f"/hook/{name}"]

    async def _hook(self, request: Request) -> Response:
        self.calls.append(Call(request.url.path, dict(request.headers), await request.body()))
        if self.delay:
            await asyncio.sleep(self.delay)
        status = self.statuses.pop(0) if self.statuses else 200
        return Response(status_code=status)

    async def _redirect(self, request: Request) -> Response:
        target = request.query_params["to"]
        self.calls.append(Call(request.url.path, dict(request.headers), await request.body()))
        return Response(status_code=307, headers={"Location": target})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/hook/{name}", self._hook, methods=["POST"]),
                Route("/redirect", self._redirect, methods=["POST"]),
            ]
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    port = _free_port()
    found.base = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(
        uvicorn.Config(
            found.app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started, within=5, interval=0.02, what="the receiver starts")
    try:
        yield found
    finally:
        server.should_exit = True
        await task


@pytest.fixture
def hook_settings(settings: Settings) -> Settings:
    """Small spans so retries run at once (each test may shrink more). The receiver
    lives on loopback: private targets are allowed, explicitly (off by default)."""
    return settings.model_copy(
        update={
            "allow_private_targets": True,
            "outbound_backoff_base_seconds": 0.0,
            "outbound_timeout_seconds": 2.0,
            "outbound_disable_after": 3,
            "outbound_max_attempts": 10,
        }
    )


@pytest.fixture
async def clean(database: Database) -> AsyncIterator[None]:
    await reset_database(database.engine)
    yield
    # Leave no webhook behind: in a whole-suite session, later tests' bookings would
    # otherwise queue deliveries to a receiver that is gone.
    async with database.engine.begin() as conn:
        await conn.execute(text("TRUNCATE webhooks RESTART IDENTITY"))
        await conn.execute(text("DELETE FROM procrastinate_jobs WHERE queue_name = 'outbound'"))
        await conn.execute(text("DELETE FROM job_outbox"))


@pytest.fixture
async def client(
    clean: None, hook_settings: Settings, database: Database
) -> AsyncIterator[httpx2.AsyncClient]:
    app = create_app(hook_settings, database)
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://spacecal.test") as c:
        yield c


@pytest.fixture(scope="session")
def password_hash() -> str:
    return hash_password(PASSWORD)


@pytest.fixture
async def admin(quick_user: MakeUser, client: httpx2.AsyncClient) -> dict[str, str]:
    """A full administrator (the plugin's `quick_user`, over this suite's `clean`)."""
    return await quick_user("admin@example.com", full_admin=True)


def _no_provider(name: str) -> CalendarProvider:
    raise AssertionError(f"no provider is needed here (asked for {name})")


RunWorker = Callable[[], Awaitable[None]]


@pytest.fixture
def work(hook_settings: Settings, database: Database) -> RunWorker:
    """Run the real worker until the queue is empty (retries due now included)."""

    async def run() -> None:
        rt = SyncRuntime(settings=hook_settings, db=database, provider_for=_no_provider)
        # A worker with wait=False stops at the first empty fetch, which can come while
        # a failing delivery is still deferring its retry: go again while any is due.
        for _ in range(30):
            await run_worker(rt, wait=False, periodic=False, concurrency=2)
            async with database.engine.connect() as conn:
                # Deliveries the triggers wrote while it ran wait in the outbox.
                due = await conn.scalar(
                    text(
                        "SELECT count(*) FROM procrastinate_jobs WHERE queue_name = 'outbound'"
                        " AND status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now())"
                    )
                ) or await conn.scalar(text("SELECT count(*) FROM job_outbox"))
            if not due:
                return
        raise AssertionError("deliveries kept coming")

    return run


async def create(
    client: httpx2.AsyncClient, headers: dict[str, str], path: str, body: dict[str, Any]
) -> int:
    answer = await client.post(path, json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["Value"]["Id"])


async def outbound_jobs(database: Database) -> list[dict[str, Any]]:
    """The delivery jobs, once the outbox rows the triggers wrote are jobs (what the
    worker's dispatcher does)."""
    async with database.engine.begin() as conn:
        while await jobs.drain_outbox(conn, limit=1000):
            pass
    async with database.engine.connect() as conn:
        rows = await conn.execute(
            text(
                # `delay`: how long after its deferral a job runs (the database's clock).
                "SELECT args, status, scheduled_at, scheduled_at - (SELECT min(e.at)"
                " FROM procrastinate_events e WHERE e.job_id = j.id) AS delay"
                " FROM procrastinate_jobs j WHERE queue_name = 'outbound' ORDER BY id"
            )
        )
        return [dict(r._mapping) for r in rows]
