"""The records API in-process over ASGI, from empty tables: `client`, `make_user`,
`admin`, `quick_user`, `quick_admin` (the API and security suites; the hooks suite has
its own `client` beside its receiver)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx2
import pytest
from tests.support.api import insert_api_user
from tests.support.database import reset_database

from spacecal.api.users import create_user
from spacecal.app import create_app
from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.web.auth import hash_password

PASSWORD = "correct horse battery"


@pytest.fixture
async def clean(database: Database) -> None:
    await reset_database(database.engine)


@pytest.fixture
async def client(
    clean: None, settings: Settings, database: Database
) -> AsyncIterator[httpx2.AsyncClient]:
    app = create_app(settings, database)
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://spacecal.test") as c:
        yield c


MakeUser = Callable[..., Awaitable[dict[str, str]]]


@pytest.fixture
def make_user(database: Database, client: httpx2.AsyncClient) -> MakeUser:
    """Create an API user and return headers carrying a fresh bearer token."""

    async def make(
        email: str = "admin@example.com", roles: list[str] | None = None, full_admin: bool = False
    ) -> dict[str, str]:
        await create_user(database.engine, email, PASSWORD, roles or [], full_admin)
        answer = await client.post(
            "/api/token",
            data={"grant_type": "password", "username": email, "password": PASSWORD},
        )
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    return make


@pytest.fixture
async def admin(make_user: MakeUser) -> dict[str, str]:
    return await make_user("admin@example.com", full_admin=True)


@pytest.fixture(scope="session")
def password_hash() -> str:
    """One argon2 hash of PASSWORD for the session (hashing costs ~50-300 ms a user)."""
    return hash_password(PASSWORD)


@pytest.fixture
def quick_user(database: Database, clean: None, password_hash: str) -> MakeUser:
    """Like `make_user`, without argon2 on every call: the user row gets the session's
    hash of PASSWORD and the bearer token is written the way `POST /api/token` writes
    it. Tests of the token endpoint itself use `make_user`."""

    async def make(
        email: str = "admin@example.com", roles: list[str] | None = None, full_admin: bool = False
    ) -> dict[str, str]:
        return await insert_api_user(database, password_hash, email, roles, full_admin)

    return make


@pytest.fixture
async def quick_admin(quick_user: MakeUser, client: httpx2.AsyncClient) -> dict[str, str]:
    """A full administrator's bearer headers (see `quick_user`)."""
    return await quick_user("admin@example.com", full_admin=True)
