"""`spacecal doctor`: each check against a real database (fresh, migrated, with and
without a live worker, wrong keys, a skewed clock), and the webhook URL rules."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from tests.support.database import TEST_KEY, reset_jobs
from tests.support.timing import eventually

from spacecal import clock
from spacecal.cli import main
from spacecal.cli.doctor import run_checks
from spacecal.cli.doctor_checks import (
    FAIL,
    OK,
    WARN,
    Check,
    check_clock,
    check_keys,
    check_public_url,
    check_workers,
)
from spacecal.config import Settings
from spacecal.db.engine import Database, make_engine
from spacecal.providers.registry import production_providers
from spacecal.runner import run_worker
from spacecal.sync.runtime import SyncRuntime

EMULATED = {
    "google_client_id": "id",
    "google_client_secret": "secret",
    "google_api_base": "http://127.0.0.1:9100/calendar/v3",
}


@pytest.mark.parametrize(
    ("given", "status", "says"),
    [
        ({}, FAIL, "SPACECAL_PUBLIC_URL is not set"),
        ({"public_url": "http://calendar.example.com"}, FAIL, "is not https"),
        ({"public_url": "https://localhost:8443"}, FAIL, "only reachable from inside"),
        ({"public_url": "https://spacecal.internal"}, FAIL, "only reachable from inside"),
        ({"public_url": "https://10.1.2.3"}, FAIL, "is an IP address"),
        ({"public_url": "https://cal.example.com/?x=1"}, FAIL, "no query or fragment"),
        (
            {"public_url": "https://cal.example.com"},
            OK,
            "providers will call https://cal.example.com/webhooks/google, "
            "https://cal.example.com/webhooks/microsoft",
        ),
        (EMULATED, OK, "the providers are emulators on this machine"),
    ],
)
async def test_public_webhook_url_rules(given: dict[str, Any], status: str, says: str) -> None:
    found = await check_public_url(Settings(**given), resolve=False)
    assert (found.status, found.name) == (status, "public webhook URL")
    assert says in found.message


async def test_a_public_url_that_does_not_resolve_is_a_warning() -> None:
    found = await check_public_url(Settings(public_url="https://spacecal.invalid"))
    assert found.status == WARN and "does not resolve" in found.message


async def test_doctor_creates_no_embedded_database(tmp_path: Path) -> None:
    found = {c.name: c for c in await run_checks(Settings(database_url=None, data_dir=tmp_path))}
    assert (
        found["database"].status == WARN and "no embedded database yet" in found["database"].message
    )
    assert "migrations" not in found
    assert not await asyncio.to_thread(lambda: list(tmp_path.iterdir()))  # no cluster, no key


def test_keys_check_writes_no_key_file(tmp_path: Path) -> None:
    found, cipher = check_keys(Settings(database_url=None, secret_keys=None, data_dir=tmp_path))
    assert found.status == WARN and "generated on first start" in found.message
    assert cipher is None and not list(tmp_path.iterdir())
    bad, _ = check_keys(Settings(database_url="postgresql://x/y", secret_keys="not-a-key"))
    assert bad.status == FAIL and "is not a Fernet key" in bad.message


def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str, keys: str) -> None:
    import os

    for name in [k for k in os.environ if k.startswith("SPACECAL_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("SPACECAL_SECRET_KEYS", keys)
    monkeypatch.setenv("SPACECAL_DATA_DIR", str(tmp_path))


async def test_doctor_on_an_empty_database_fails_and_says_what_to_run(
    server_url: str,
    fresh_database_on: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _env(monkeypatch, tmp_path, fresh_database_on(server_url), TEST_KEY)
    code = await asyncio.to_thread(main, ["doctor"])
    out = capsys.readouterr().out
    assert code == 1
    lines = {
        line.split()[1]: line
        for line in out.splitlines()
        if line.split()[:1] in ([OK], [WARN], [FAIL])
    }
    assert lines["database"].startswith("OK") and "PostgreSQL" in lines["database"]
    assert lines["migrations"].startswith("FAIL")
    assert "run `spacecal db upgrade`" in lines["migrations"]
    assert "workers" not in lines  # nothing more is checked on a database without schema


async def test_doctor_cannot_reach_the_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _env(monkeypatch, tmp_path, "postgresql://nobody@127.0.0.1:9/none", TEST_KEY)
    code = await asyncio.to_thread(main, ["doctor", "--json"])
    import json

    found = {c["name"]: c for c in json.loads(capsys.readouterr().out)}
    assert code == 1
    assert found["database"]["status"] == FAIL
    assert "cannot reach DATABASE_URL" in found["database"]["message"]


async def _workers_alive(database: Database) -> int:
    async with database.engine.connect() as conn:
        value = await conn.scalar(
            text(
                "SELECT count(*) FROM procrastinate_workers"
                " WHERE last_heartbeat > now() - interval '1 minute'"
            )
        )
    return int(value or 0)


@pytest.mark.wallclock  # the clock check compares this process with PostgreSQL
async def test_doctor_sees_a_live_worker_and_its_absence(
    settings: Settings, database: Database
) -> None:
    await reset_jobs(database.engine)  # no leftover job for this worker to run
    checked = settings.model_copy(update={"public_url": "https://cal.example.com"})
    provider_for, client = production_providers(checked)
    rt = SyncRuntime(settings=checked, db=database, provider_for=provider_for)
    worker = asyncio.create_task(run_worker(rt, periodic=False, concurrency=1))
    try:
        await eventually(lambda: _workers_alive(database), within=10, interval=0.1)
        found = {c.name: c for c in await run_checks(checked)}
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        await client.aclose()
    for name in ("encryption keys", "database", "migrations", "key fingerprint", "clock", "queue"):
        assert found[name].status == OK, found[name]
    assert found["workers"].status == OK and "worker(s) alive" in found["workers"].message
    assert "connections" in found
    assert await _workers_alive(database) == 0  # a stopped worker unregisters itself
    engine = make_engine(database.url, pool_size=1)
    try:
        gone = await check_workers(engine)
    finally:
        await engine.dispose()
    assert gone.status == FAIL and "Start `spacecal worker`" in gone.message


async def test_wrong_keys_and_an_older_key(settings: Settings) -> None:
    other = Fernet.generate_key().decode()
    wrong = {
        c.name: c for c in await run_checks(settings.model_copy(update={"secret_keys": other}))
    }
    assert wrong["encryption keys"].status == OK
    assert wrong["key fingerprint"].status == FAIL
    assert "not among SPACECAL_SECRET_KEYS" in wrong["key fingerprint"].message
    rotated = settings.model_copy(update={"secret_keys": f"{other},{TEST_KEY}"})
    older = {c.name: c for c in await run_checks(rotated)}
    assert older["key fingerprint"].status == WARN
    assert "run `spacecal keys reencrypt`" in older["key fingerprint"].message


@pytest.mark.wallclock  # the clock check compares this process with PostgreSQL
async def test_clock_skew_is_measured_against_spacecal_clock(database: Database) -> None:
    engine = make_engine(database.url, pool_size=1)
    try:
        assert (await check_clock(engine, clock.now)).status == OK
        clock.clock.advance(timedelta(seconds=45))
        try:
            skewed: Check = await check_clock(engine, clock.now)
        finally:
            clock.clock.advance(timedelta(seconds=-45))
        clock.clock.advance(timedelta(seconds=-5))
        try:
            slightly: Check = await check_clock(engine, clock.now)
        finally:
            clock.clock.advance(timedelta(seconds=5))
    finally:
        await engine.dispose()
    assert skewed.status == FAIL and "45." in skewed.message and "behind" in skewed.message
    assert "time synchronisation" in skewed.message
    assert slightly.status == WARN and "ahead of" in slightly.message
