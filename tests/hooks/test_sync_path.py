"""The sync engine's own writes reach webhooks: a member connects a calendar through
the portal (against the emulators), then makes, moves and deletes an event; each
change the sync commits is delivered to a loopback receiver, signed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from tests.support.environments import PROVIDERS, SyncEnv, make_env

from hooks.conftest import Receiver
from spacecal import clock
from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.outbound.signing import SIGNATURE_HEADER, verify
from spacecal.sync.runtime import SyncRuntime

SECRET = "sync-path-secret"
ACTIONS = ("CoworkerCalendarConnect", "BookingCreate", "BookingUpdate", "BookingDelete")


@pytest.fixture
async def no_hooks(database: Database) -> AsyncIterator[None]:
    async def wipe() -> None:
        async with database.engine.begin() as conn:
            await conn.execute(text("TRUNCATE webhooks RESTART IDENTITY"))
            await conn.execute(text("DELETE FROM procrastinate_jobs WHERE queue_name = 'outbound'"))
            await conn.execute(text("DELETE FROM job_outbox"))

    await wipe()
    yield
    await wipe()


@pytest.fixture
async def sync_env(
    settings: Settings, database: Database, member_password_hash: str, env_start: datetime
) -> AsyncIterator[SyncEnv]:
    """The plugin's `sync_env`, allowed to deliver to the loopback receiver (explicitly:
    private targets are refused by default)."""
    async for env in make_env(
        settings, database, member_password_hash, start=env_start, allow_private_targets=True
    ):
        rt = SyncRuntime(settings=env.rt.settings, db=database, provider_for=env.rt.provider)
        yield SyncEnv(env, rt)


def _records(receiver: Receiver, action: str) -> list[dict[str, Any]]:
    records = []
    for call in receiver.to(action):
        assert verify(call.body, SECRET, call.headers[SIGNATURE_HEADER.lower()])
        [record] = json.loads(call.body)
        records.append(record)
    return records


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_calendar_changes_committed_by_the_sync_are_delivered(
    no_hooks: None, receiver: Receiver, sync_env: SyncEnv, provider: str
) -> None:
    api = sync_env.env.api
    for action in ACTIONS:
        answer = await api.post(
            "/api/sys/webhooks",
            json={"Name": action, "Action": action, "URL": receiver.url(action), "Secret": SECRET},
        )
        assert answer.status_code == 200, answer.text

    member = await sync_env.connect(provider)
    await sync_env.settle()
    [connected] = _records(receiver, "CoworkerCalendarConnect")
    assert (connected["Health"], connected["CalendarId"]) == ("healthy", member.calendar_id)

    day = clock.now().date() + timedelta(days=1)
    start = datetime.combine(day, time(9), tzinfo=UTC)
    event_id = member.create("Planning", start, start + timedelta(hours=1))
    await sync_env.settle()
    member.move(event_id, start + timedelta(hours=2), start + timedelta(hours=3))
    await sync_env.settle()
    member.delete(event_id)
    await sync_env.settle()

    [created] = _records(receiver, "BookingCreate")
    assert (created["Source"], created["Version"]) == (provider, 1)
    assert created["FromTime"] == start.isoformat().replace("+00:00", "Z")
    [moved] = _records(receiver, "BookingUpdate")
    assert (moved["Id"], moved["Version"]) == (created["Id"], 2)
    assert moved["FromTime"] == (start + timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    [cancelled] = _records(receiver, "BookingDelete")
    assert (cancelled["Id"], cancelled["Version"]) == (created["Id"], 3)
    assert cancelled["CancelledOn"] is not None
