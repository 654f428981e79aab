"""X-Forwarded-For is believed only from SPACECAL_TRUSTED_PROXIES (issue 17 item 6):
`spacecal serve` itself, over TCP on loopback. uvicorn's own default trusts it from
127.0.0.1, so a client on the same host picked the address the limiter counted it
under, and a fresh address per guess was never limited."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import httpx2
import pytest
from tests.support.api import insert_api_user
from tests.support.database import TEST_KEY
from tests.support.procs import free_port

from spacecal.config import Settings
from spacecal.db.engine import Database

PASSWORD = "correct horse battery"  # the session's password_hash


async def _serve(settings: Settings, trusted: str) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPACECAL_")}
    env.update(
        DATABASE_URL=str(settings.database_url),
        SPACECAL_SECRET_KEYS=TEST_KEY,
        SPACECAL_DATA_DIR=str(settings.data_dir),
        SPACECAL_LOGIN_MAX_FAILURES="3",
        SPACECAL_LOGIN_ADDRESS_MAX_FAILURES="3",
        SPACECAL_TRUSTED_PROXIES=trusted,
    )
    port = free_port()
    proc = subprocess.Popen(  # noqa: ASYNC220 - a long-lived child, stopped below
        [sys.executable, "-m", "spacecal.cli", "serve", "--port", str(port)],
        env=env,
        text=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    async with httpx2.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if (await client.get(base + "/readyz")).status_code == 200:
                    return proc, base
            except httpx2.TransportError:
                pass
            await asyncio.sleep(0.3)
    proc.kill()
    raise AssertionError("spacecal serve did not become ready")


async def _guesses_then_right(base: str, email: str) -> int:
    """Three wrong guesses at other accounts and then the right password, each claiming
    a new address."""
    async with httpx2.AsyncClient(base_url=base, timeout=30) as client:
        for n in range(3):
            answer = await client.post(
                "/api/token",
                data={"grant_type": "password", "username": f"x{n}@example.com", "password": "x"},
                headers={"X-Forwarded-For": f"203.0.113.{n + 1}"},
            )
            assert answer.status_code == 400, answer.text
        answer = await client.post(
            "/api/token",
            data={"grant_type": "password", "username": email, "password": PASSWORD},
            headers={"X-Forwarded-For": "203.0.113.99"},
        )
        return answer.status_code


@pytest.mark.parametrize(("trusted", "expected"), [("", 429), ("127.0.0.1", 200)])
async def test_forwarded_for_counts_only_from_trusted_proxies(
    clean: None,
    settings: Settings,
    database: Database,
    password_hash: str,
    trusted: str,
    expected: int,
) -> None:
    await insert_api_user(database, password_hash, "ops@example.com", full_admin=True)
    proc, base = await _serve(settings, trusted)
    try:
        # Untrusted: every guess counts under the TCP peer (127.0.0.1), so the address
        # limit refuses the fourth attempt. Trusted: each claimed address is its own (the proxy is
        # believed), so the right password from a fresh address goes through.
        assert await _guesses_then_right(base, "ops@example.com") == expected
    finally:
        proc.terminate()
        proc.wait(timeout=30)
