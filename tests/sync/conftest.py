"""Sync tests run in `sync_env` (tests/support/environments.py): spacecal, its worker
and both emulators in-process, plus helpers to connect a member and let everything
settle. `proxied`: a CalDAV member on Radicale, reached through a fault proxy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from tests.support.caldav_env import CalDavEnv, proxied_caldav_env
from tests.support.caldav_proxy import FaultProxy
from tests.support.caldav_servers import CalDavServer

from spacecal.config import Settings
from spacecal.db.engine import Database


@pytest.fixture
async def proxied(
    settings: Settings,
    database: Database,
    member_password_hash: str,
    env_start: datetime,
    caldav_servers: dict[str, CalDavServer],
) -> AsyncIterator[tuple[CalDavEnv, FaultProxy]]:
    async for pair in proxied_caldav_env(
        settings, database, member_password_hash, env_start, caldav_servers["radicale"]
    ):
        yield pair
