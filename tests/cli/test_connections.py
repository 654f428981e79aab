"""`spacecal connections list|show|resync|renew` as an operator runs them, in-process
against the session's real database, on connections in every health state."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, text
from tests.support.database import TEST_KEY, reset_database

from spacecal import clock
from spacecal.cli import main
from spacecal.db.engine import Database
from spacecal.db.models import (
    Business,
    Connection,
    Coworker,
    ProviderAccount,
    Resource,
    SubscriptionGeneration,
    SyncRun,
)

CHANNEL_SECRET = "channel-token-" + "Zq7" * 12
REFRESH_TOKEN = "1//refresh-" + "k9X" * 12


@dataclass
class Seed:
    healthy: int  # Google, Riverside, Alice: live channel, synced
    failing: int  # Microsoft, Riverside, Alice: last sync failed
    reconnect: int  # Google, Hilltop, Bob: consent withdrawn
    polled: int  # Microsoft, Hilltop, Bob: push not supported


@pytest.fixture
def cli_env(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in __import__("os").environ if k.startswith("SPACECAL_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("SPACECAL_SECRET_KEYS", TEST_KEY)
    monkeypatch.setenv("SPACECAL_DATA_DIR", str(tmp_path))


def _record(**values: Any) -> dict[str, Any]:
    now = clock.now()
    return {"unique_id": uuid.uuid4(), "created_on": now, "updated_on": now, **values}


async def _insert(conn: Any, model: Any, **values: Any) -> int:
    return int(await conn.scalar(insert(model).values(**values).returning(model.id)))


@pytest.fixture
async def seed(database: Database) -> Seed:
    now = clock.now()
    await reset_database(database.engine)
    async with database.engine.begin() as conn:
        river = await _insert(conn, Business, **_record(name="Riverside", time_zone="UTC"))
        hill = await _insert(conn, Business, **_record(name="Hilltop", time_zone="UTC"))
        room = await _insert(conn, Resource, **_record(business_id=river, name="Meeting Room A"))
        desk = await _insert(conn, Resource, **_record(business_id=hill, name="Hot Desk 1"))
        alice = await _insert(
            conn, Coworker, **_record(business_id=river, full_name="Alice", email="alice@x.test")
        )
        bob = await _insert(
            conn, Coworker, **_record(business_id=hill, full_name="Bob", email="bob@x.test")
        )
        secret = database.cipher.encrypt(REFRESH_TOKEN)

        async def account(coworker: int, provider: str, status: str = "active") -> int:
            return await _insert(
                conn,
                ProviderAccount,
                coworker_id=coworker,
                provider=provider,
                email=f"{provider}-{coworker}@mail.test",
                refresh_token_enc=secret,
                status=status,
                status_reason=None if status == "active" else "invalid_grant",
                created_at=now,
                updated_at=now,
            )

        async def connection(
            resource: int, coworker: int, provider: str, acct: int, **more: Any
        ) -> int:
            return await _insert(
                conn,
                Connection,
                **_record(
                    **{
                        "provider": provider,
                        "resource_id": resource,
                        "coworker_id": coworker,
                        "name": f"{provider} calendar",
                        "calendar_id": f"cal-{provider}-{resource}",
                        "provider_account_id": acct,
                        "subscription_id": f"sub-{provider}-{resource}",
                        "subscription_expire_date": now + timedelta(days=5),
                        "last_notification_at": now - timedelta(minutes=7),
                        "last_sync_at": now - timedelta(minutes=6),
                        "health": "healthy",
                        **more,
                    }
                ),
            )

        healthy = await connection(room, alice, "google", await account(alice, "google"))
        failing = await connection(
            room,
            alice,
            "microsoft",
            await account(alice, "microsoft"),
            health="failing",
            last_error="Transient: HTTP 503 serviceUnavailable",
            last_error_at=now - timedelta(minutes=2),
            consecutive_failures=2,
        )
        reconnect = await connection(
            desk,
            bob,
            "google",
            await account(bob, "google", "needs_reconnect"),
            health="needs_reconnect",
        )
        polled = await connection(
            desk,
            bob,
            "microsoft",
            await account(bob, "microsoft"),
            push_supported=False,
            subscription_id=None,
            subscription_expire_date=None,
        )
        await conn.execute(
            insert(SubscriptionGeneration).values(
                connection_id=healthy,
                provider="google",
                subscription_id=f"sub-google-{room}",
                secret=CHANNEL_SECRET,
                expires_at=now + timedelta(days=5),
                status="live",
                created_at=now - timedelta(days=1),
            )
        )
        for minutes, outcome, error in ((30, "failed", "Transient: HTTP 500"), (6, "ok", None)):
            await conn.execute(
                insert(SyncRun).values(
                    connection_id=healthy,
                    started_at=now - timedelta(minutes=minutes),
                    finished_at=now - timedelta(minutes=minutes) + timedelta(seconds=1),
                    outcome=outcome,
                    changes_pulled=3,
                    writes=1,
                    error=error,
                )
            )
    return Seed(healthy, failing, reconnect, polled)


@dataclass
class Ran:
    code: int
    out: str
    err: str


@pytest.fixture
def spacecal(cli_env: None, capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """`await spacecal(*args)`: the command run in-process (in a thread: it runs its own
    event loop, as from a shell), with its exit status, stdout and stderr."""

    async def run(*args: str) -> Ran:
        code = await asyncio.to_thread(main, list(args))
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    yield run


def _no_secret(*texts: str) -> None:
    for t in texts:
        assert CHANNEL_SECRET not in t and REFRESH_TOKEN not in t


async def test_list_shows_every_connection_with_its_health(seed: Seed, spacecal: Any) -> None:
    ran = await spacecal("connections", "list")
    assert ran.code == 0, ran.err
    lines = ran.out.splitlines()
    assert lines[0].split()[:6] == ["ID", "PROVIDER", "BUSINESS", "RESOURCE", "MEMBER", "HEALTH"]
    rows = {int(line.split()[0]): line for line in lines[1:] if line.split()[0].isdigit()}
    assert set(rows) == {seed.healthy, seed.failing, seed.reconnect, seed.polled}
    assert "healthy" in rows[seed.healthy] and "6m ago" in rows[seed.healthy]
    assert "failing" in rows[seed.failing] and "HTTP 503" in rows[seed.failing]
    assert "needs_reconnect" in rows[seed.reconnect]
    assert "(1-4 of 4, page 1 of 1)" in ran.out
    _no_secret(ran.out, ran.err)


async def test_list_filters_and_json(seed: Seed, spacecal: Any) -> None:
    failing = json.loads(
        (await spacecal("connections", "list", "--health", "failing", "--json")).out
    )
    assert [c["id"] for c in failing["connections"]] == [seed.failing]
    assert failing["connections"][0]["last_error"].startswith("Transient: HTTP 503")
    hill_google = json.loads(
        (
            await spacecal(
                "connections", "list", "--business", "hilltop", "--provider", "google", "--json"
            )
        ).out
    )
    assert [c["id"] for c in hill_google["connections"]] == [seed.reconnect]
    assert hill_google["connections"][0]["health"] == "needs_reconnect"
    paged = json.loads(
        (await spacecal("connections", "list", "--limit", "3", "--page", "2", "--json")).out
    )
    assert (paged["total"], paged["pages"], len(paged["connections"])) == (4, 2, 1)
    unknown = await spacecal("connections", "list", "--business", "Nowhere")
    assert unknown.code == 2
    assert "no business 'Nowhere'" in unknown.err and "Riverside" in unknown.err


async def test_show_gives_fields_and_history_but_no_secret(seed: Seed, spacecal: Any) -> None:
    ran = await spacecal("connections", "show", str(seed.healthy))
    assert ran.code == 0, ran.err
    assert f"Connection {seed.healthy} (google)" in ran.out
    assert "Meeting Room A" in ran.out and "alice@x.test" in ran.out
    assert "Recent syncs" in ran.out
    history = [line for line in ran.out.splitlines() if line.strip().startswith("20")]
    outcomes = [line.split()[1] for line in history if line.split()[1] in ("ok", "failed")]
    assert outcomes == ["ok", "failed"]  # newest first
    as_json = json.loads((await spacecal("connections", "show", str(seed.healthy), "--json")).out)
    assert [h["outcome"] for h in as_json["history"]] == ["ok", "failed"]
    assert as_json["subscriptions"][0]["status"] == "live"
    assert as_json["has_cursor"] is False
    _no_secret(ran.out, json.dumps(as_json))
    missing = await spacecal("connections", "show", "999999")
    assert missing.code == 2 and "no connection 999999" in missing.err


async def _flags_and_jobs(database: Database) -> tuple[dict[int, tuple[bool, bool]], list[int]]:
    async with database.engine.connect() as conn:
        flags = {
            r.id: (r.resync_requested, r.renew_requested)
            for r in await conn.execute(
                select(Connection.id, Connection.resync_requested, Connection.renew_requested)
            )
        }
        jobs = [
            int(j)
            for j in await conn.scalars(
                text(
                    "SELECT (args->>'connection_id')::int FROM procrastinate_jobs"
                    " WHERE task_name = 'spacecal.keepalive' AND status = 'todo' ORDER BY 1"
                )
            )
        ]
    return flags, jobs


async def test_resync_by_health_flags_and_queues(
    seed: Seed, spacecal: Any, database: Database
) -> None:
    ran = await spacecal("connections", "resync", "--health", "failing")
    assert ran.code == 0, ran.err
    assert "Requested resync of 1 connection(s): 1 queued." in ran.out
    assert "Requesting resync: 1/1 (100%)" in ran.err  # not a terminal: plain lines
    flags, jobs = await _flags_and_jobs(database)
    assert flags[seed.failing] == (True, False)
    assert jobs == [seed.failing]
    assert not flags[seed.healthy][0]


async def test_resync_all_and_renew_report_what_waits(
    seed: Seed, spacecal: Any, database: Database
) -> None:
    ran = await spacecal("connections", "resync", "--all", "--batch", "3")
    assert ran.code == 0, ran.err
    assert "Requested resync of 4 connection(s): 3 queued" in ran.out
    assert "1 wait for the member to connect the account again" in ran.out
    renew = await spacecal("connections", "renew", str(seed.healthy), str(seed.polled), "424242")
    assert renew.code == 0, renew.err
    assert "Requested renewal of 2 connection(s): 1 queued" in renew.out
    assert "1 of them already had a keep-alive job waiting" in renew.out
    assert "1 skipped: the calendar is polled" in renew.out
    assert "No connection with id 424242." in renew.out
    flags, jobs = await _flags_and_jobs(database)
    assert flags[seed.healthy] == (True, True)
    assert flags[seed.polled] == (True, False)  # resync yes; nothing to renew
    assert flags[seed.reconnect] == (True, False)  # flagged, waits for the member
    assert jobs == sorted([seed.healthy, seed.failing, seed.polled])
    nothing = await spacecal("connections", "renew")
    assert nothing.code == 2 and "give IDs, --all, or --health" in nothing.err
