"""A member with a CalDAV account, end to end: spacecal's in-process stack (the sync
environment, with loopback CalDAV allowed and the server's certificate trusted), a
real server (tests/support/caldav_servers.py), the portal's CalDAV form for
connecting, and the member's own calendar app (tests/support/caldav_member.py)
writing to the server directly. `address` is what the member types into the form:
the server itself, or a fault proxy in front of it.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx2
from sqlalchemy import select
from tests.support.caldav_member import CalDavMember
from tests.support.caldav_proxy import FaultProxy
from tests.support.caldav_servers import CalDavServer
from tests.support.environments import SyncEnv, make_env
from tests.support.portal import Browser, forms

from spacecal import clock
from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.db.models import Booking, Connection
from spacecal.sync.runtime import SyncRuntime
from spacecal.sync.upkeep.sweep import sweep


def app_verify(server: CalDavServer) -> ssl.SSLContext | bool:
    return ssl.create_default_context(cafile=str(server.ca_file)) if server.ca_file else True


@dataclass
class CalDavEnv:
    sync: SyncEnv
    server: CalDavServer
    app: httpx2.Client  # the member's calendar app, straight to the server
    address: str  # what the member types as the server's address
    browser: Browser | None = None
    made: list[str] = field(default_factory=list)  # calendar URLs to delete at the end

    @property
    def engine(self) -> Any:
        return self.sync.engine

    async def connect(self, who: str = "alice") -> httpx2.Response:
        """Sign in and submit Integrations' "Other calendar (CalDAV)" form."""
        browser = self.sync.env.new_browser()
        await browser.sign_in(f"{who}@example.com")
        page = await browser.get("/portal")
        form = next(f for f in forms(page.text) if f.fields.get("kind") == "other")
        answer = await browser.submit(
            form,
            server_url=self.address,
            username=self.server.username,
            password=self.server.password,
        )
        self.browser = browser
        return answer

    async def add(self, resource_id: int) -> httpx2.Response:
        """The resource's "add to my calendar" switch for CalDAV (redirects followed)."""
        assert self.browser is not None
        return await self.browser.post_form(f"/portal/resources/{resource_id}/caldav", action="add")

    async def calendar_of(self, resource_id: int) -> str | None:
        async with self.engine.connect() as conn:
            found = await conn.scalar(
                select(Connection.calendar_id).where(
                    Connection.provider == "caldav", Connection.resource_id == resource_id
                )
            )
        if found:
            self.made.append(str(found))
        return None if found is None else str(found)

    def member(self, calendar_id: str, email: str = "") -> CalDavMember:
        return CalDavMember(self.app, email, calendar_id, self.server.url)

    async def poll(self, after: float = 3600.0) -> None:
        """Time passes (`after` seconds, past any poll interval), then what the
        periodic sweep does (it queues the due polls) and the worker."""
        clock.clock.advance(timedelta(seconds=after))
        await sweep(self.sync.rt)
        await self.sync.settle()

    async def live_bookings(self) -> list[Any]:
        async with self.engine.connect() as conn:
            return list(
                (
                    await conn.execute(
                        select(Booking)
                        .where(Booking.cancelled_at.is_(None))
                        .order_by(Booking.from_time)
                    )
                ).all()
            )

    async def book(self, coworker: int, resource: int, start: datetime, hours: int = 1) -> int:
        """A booking made elsewhere (the records API, as an administrator)."""
        answer = await self.sync.env.api.post(
            "/api/spaces/bookings",
            json={
                "ResourceId": resource,
                "CoworkerId": coworker,
                "FromTime": start.isoformat(),
                "ToTime": (start + timedelta(hours=hours)).isoformat(),
            },
        )
        assert answer.status_code == 200 and answer.json()["WasSuccessful"], answer.text
        return int(answer.json()["Value"]["Id"])


async def caldav_env(
    settings: Settings,
    database: Database,
    password_hash: str,
    start: datetime,
    server: CalDavServer,
    address: str | None = None,
) -> AsyncIterator[CalDavEnv]:
    async for env in make_env(
        settings,
        database,
        password_hash,
        start=start,
        allow_private_targets=True,
        caldav_ca_file=server.ca_file,
        caldav_timeout_seconds=4.0,
        caldav_poll_jitter=0.0,
    ):
        rt = SyncRuntime(settings=env.rt.settings, db=database, provider_for=env.rt.provider)
        with httpx2.Client(
            auth=(server.username, server.password), verify=app_verify(server), timeout=10
        ) as app:
            cal = CalDavEnv(SyncEnv(env, rt), server, app, address or server.url)
            try:
                yield cal
            finally:
                if cal.browser is not None:
                    await cal.browser.aclose()
                # One user on a shared server: the next test must not adopt these.
                for url in cal.made:
                    app.delete(urljoin(server.url, urlsplit(url).path))


async def proxied_caldav_env(
    settings: Settings,
    database: Database,
    password_hash: str,
    start: datetime,
    server: CalDavServer,
    *,
    refuse: tuple[str, ...] = (),
) -> AsyncIterator[tuple[CalDavEnv, FaultProxy]]:
    """`caldav_env` with spacecal reaching the server through a fault proxy; `refuse`:
    methods the proxy answers 403 to (a server that will not make calendars)."""
    proxy = FaultProxy(server.url)
    await proxy.start()
    for method in refuse:
        proxy.add("refuse", times=1_000, method=method, status=403)
    try:
        async for env in caldav_env(
            settings, database, password_hash, start, server, address=proxy.url
        ):
            yield env, proxy
    finally:
        await proxy.aclose()
