"""Google's calendar usage limits (issue 18, item 10), through the portal and the
emulator, with moved clocks.

- spacecal paces calendar creation per account: a member adding many resources at
  once sees them set up progressively (the portal shows which wait and until when),
  and the emulator's limit is never hit.
- When the limit is hit anyway, the account is read-only: spacecal stores the pause in
  PostgreSQL, writes nothing to the account until it ends (reads go on), then finishes
  the waiting set-up and writes what it owes, by itself.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select
from tests.support.bookings import book_via_api
from tests.support.environments import KeepEnv, make_env, move_clocks
from tests.support.portal import OPEN_ALL_WEEK, Browser

from spacecal import clock
from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.db.models import Connection, ProviderAccount, Resource
from spacecal.sync.accounts.waiting import resume_waiting
from spacecal.sync.runtime import SyncRuntime
from spacecal.sync.upkeep.sweep import sweep

ACCOUNT = "alice@gmail.test"
WRITES = ("POST", "PUT", "PATCH", "DELETE")


def _calendar_writes(env: KeepEnv) -> list[Any]:
    """Writes to the account's calendars (a token refresh, a watch, a stop are none)."""
    return [
        c
        for c in env.env.google.core.calls.list()
        if c.method in WRITES
        and c.path.startswith("/calendar/v3/")
        and not c.path.endswith(("/watch", "/channels/stop"))
    ]


async def _env(
    settings: Settings, database: Database, password_hash: str, start: datetime, **extra: Any
) -> AsyncIterator[KeepEnv]:
    async for env in make_env(settings, database, password_hash, start=start, **extra):
        rt = SyncRuntime(settings=env.rt.settings, db=database, provider_for=env.rt.provider)
        yield KeepEnv(env, rt)


@pytest.fixture
async def paced_env(
    settings: Settings, database: Database, member_password_hash: str, env_start: datetime
) -> AsyncIterator[KeepEnv]:
    # Two at once, then one every 5 minutes.
    async for env in _env(
        settings,
        database,
        member_password_hash,
        env_start,
        google_calendar_create_burst=2,
        google_calendar_creates_per_hour=12,
    ):
        yield env


@pytest.fixture
async def unpaced_env(
    settings: Settings, database: Database, member_password_hash: str, env_start: datetime
) -> AsyncIterator[KeepEnv]:
    async for env in _env(
        settings,
        database,
        member_password_hash,
        env_start,
        google_calendar_create_burst=100,
        google_calendar_creates_per_hour=10_000,
        account_read_only_seconds=6 * 3600,
    ):
        yield env


async def _more_resources(env: KeepEnv, count: int) -> list[int]:
    now = clock.now()
    async with env.engine.begin() as conn:
        business = await conn.scalar(
            select(Resource.business_id).where(Resource.id == env.env.space.room_id)
        )
        ids = []
        for n in range(count):
            ids.append(
                await conn.scalar(
                    insert(Resource)
                    .values(
                        business_id=business,
                        name=f"Pod {n + 1}",
                        resource_type="desk",
                        opening_hours=OPEN_ALL_WEEK,
                        unique_id=uuid.uuid4(),
                        created_on=now,
                        updated_on=now,
                    )
                    .returning(Resource.id)
                )
            )
    return [env.env.space.room_id, env.env.space.desk_id, *ids]


async def _limits(env: KeepEnv, **body: Any) -> None:
    answer = await env.env.control.post("http://google.emulator.test/_control/limits", json=body)
    assert answer.status_code == 200, answer.text


async def _member(env: KeepEnv) -> Browser:
    b = env.env.new_browser()
    await b.sign_in("alice@example.com")
    page = await b.connect("google", ACCOUNT)
    assert "is connected" in page.text, page.text
    return b


async def _add(b: Browser, resource_id: int) -> str:
    await b.get("/portal")
    page = await b.post_form(f"/portal/resources/{resource_id}/google", action="add")
    assert page.status_code == 200, page.text
    return html.unescape(page.text)


async def _healthy(env: KeepEnv) -> int:
    async with env.engine.connect() as conn:
        rows = (await conn.execute(select(Connection.health, Connection.calendar_id))).all()
    return sum(1 for health, cal in rows if health == "healthy" and cal)


def _quota_refusals(env: KeepEnv) -> int:
    return sum(1 for c in env.env.google.core.calls.list(account=ACCOUNT) if c.status == 403)


async def test_many_resources_are_set_up_progressively_within_the_limit(
    paced_env: KeepEnv,
) -> None:
    env = paced_env
    # Google's limit in the emulator: 3 calendars per 10 minutes, else read-only.
    await _limits(
        env, calendar_create_limit=3, calendar_create_period_seconds=600, read_only_seconds=6 * 3600
    )
    resources = await _more_resources(env, 3)  # five in all
    b = await _member(env)
    texts = [await _add(b, r) for r in resources]
    assert all("Added:" in t for t in texts[:2]), texts[:2]
    assert all("Added to the queue" in t for t in texts[2:]), texts[2]
    page = html.unescape((await b.get("/portal")).text)
    assert page.count("Waiting to be set up") == 3, page
    assert "set up by itself from" in page
    assert await _healthy(env) == 2
    for expected in (3, 4, 5):
        move_clocks(env.env, timedelta(minutes=5))
        await resume_waiting(env.rt)
        assert await _healthy(env) == expected
        assert env.env.google.limits.read_only_until(ACCOUNT) is None
    page = html.unescape((await b.get("/portal")).text)
    assert "Waiting to be set up" not in page and page.count("In your calendar") == 5
    assert _quota_refusals(env) == 0
    await b.aclose()


async def test_usage_limit_pauses_every_write_until_it_ends(unpaced_env: KeepEnv) -> None:
    env = unpaced_env
    await _limits(
        env,
        calendar_create_limit=2,
        calendar_create_period_seconds=3600,
        read_only_seconds=6 * 3600,
    )
    resources = await _more_resources(env, 1)
    b = await _member(env)
    assert "Added:" in await _add(b, resources[0])
    assert "Added:" in await _add(b, resources[1])
    text = await _add(b, resources[2])  # Google: quotaExceeded, read-only for hours
    assert "Added to the queue" in text, text
    assert "read-only until about" in text and 'id="read-only-google"' in text
    async with env.engine.connect() as conn:
        paused = await conn.scalar(select(ProviderAccount.writes_paused_until))
    assert paused is not None and paused >= clock.now() + timedelta(hours=5, minutes=59)
    refusals = _quota_refusals(env)
    assert refusals == 1

    # A booking of the room during the pause: read and pull go on, no write is tried.
    writes_before = _calendar_writes(env)
    booking = await book_via_api(env.env)
    await env.settle()
    for _ in range(3):
        move_clocks(env.env, timedelta(hours=1))
        await sweep(env.rt)
        await resume_waiting(env.rt)
        await env.settle()
    writes = _calendar_writes(env)
    assert writes[len(writes_before) :] == [], writes[len(writes_before) :]
    assert _quota_refusals(env) == refusals  # never knocked again: no failure loop
    got = (await env.env.api.get(f"/api/spaces/bookings/{booking}")).json()
    assert not got["GoogleEventId"]

    # The pause ends: the waiting set-up finishes and the booking is written, by itself.
    move_clocks(env.env, timedelta(hours=3, minutes=5))
    await resume_waiting(env.rt)
    await sweep(env.rt)
    await env.settle()
    assert await _healthy(env) == 3
    got = (await env.env.api.get(f"/api/spaces/bookings/{booking}")).json()
    assert got["GoogleEventId"], got
    page = html.unescape((await b.get("/portal")).text)
    assert "read-only" not in page and "Waiting to be set up" not in page
    await b.aclose()


async def test_throttled_set_up_waits_its_retry_after_instead_of_failing(
    paced_env: KeepEnv,
) -> None:
    env = paced_env
    b = env.env.new_browser()
    await b.sign_in("alice@example.com")
    page = await b.connect("microsoft", "alice@outlook.test")
    assert "is connected" in page.text, page.text
    await env.env.fault(
        "http://microsoft.emulator.test",
        {
            "kind": "http_429",
            "times": 1,
            "params": {"retry_after": 30},
            "match": {"method": "POST", "path": "/v1.0/me/calendars"},
        },
    )
    await b.get("/portal")
    text = html.unescape(
        (
            await b.post_form(f"/portal/resources/{env.env.space.room_id}/microsoft", action="add")
        ).text
    )
    assert "Added to the queue" in text and "Set-up did not finish" not in text, text
    async with env.engine.connect() as conn:
        after = await conn.scalar(select(Connection.setup_after))
    assert after is not None  # Retry-After, exactly (the test's clock runs on)
    assert abs(after - (clock.now() + timedelta(seconds=30))) < timedelta(seconds=2)
    await resume_waiting(env.rt)
    assert await _healthy(env) == 0  # not before its time
    move_clocks(env.env, timedelta(seconds=31))
    await resume_waiting(env.rt)
    assert await _healthy(env) == 1
    await b.aclose()
