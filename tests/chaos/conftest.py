"""Chaos suite fixtures: a factory for fresh in-process stacks (one per seed).

The suite's database connections run with `synchronous_commit = off`: a scenario
commits thousands of small transactions and waiting for each WAL flush would be most
of its time; no test here kills the server, so nothing acknowledged can be lost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from tests.chaos.harness import ChaosEnv, chaos_env, fast_commit_url
from tests.support.caldav_servers import CalDavServer, start_radicale, stop

from spacecal.config import Settings
from spacecal.db.engine import Database, open_database


@pytest.fixture(scope="session")
def chaos_settings(settings: Settings) -> Settings:
    assert settings.database_url is not None
    return settings.model_copy(update={"database_url": fast_commit_url(settings.database_url)})


@pytest.fixture(scope="session")
async def chaos_database(chaos_settings: Settings) -> AsyncIterator[Database]:
    db = await open_database(chaos_settings)
    yield db
    await db.dispose()


@pytest.fixture(scope="session")
def chaos_radicale() -> Iterator[CalDavServer]:
    """The suite's own Radicale (Carol's server in even seeds): each seed empties the
    user's home, which must not touch the calendars of the CalDAV suites' server."""
    server = start_radicale()
    yield server
    stop(server)


@pytest.fixture
def make_chaos_env(
    chaos_settings: Settings,
    chaos_database: Database,
    member_password_hash: str,
    chaos_radicale: CalDavServer,
) -> Callable[..., AsyncIterator[ChaosEnv]]:
    """`make_chaos_env(seed=0)`: a fresh stack whose clocks start at the seed's instant
    (with Carol on CalDAV in even seeds)."""

    def make(seed: int = 0) -> AsyncIterator[ChaosEnv]:
        return chaos_env(chaos_settings, chaos_database, member_password_hash, seed, chaos_radicale)

    return make
