"""Review finding 4: refresh-token rotation and revocation against racing requests.

The races are made deterministic with a row lock held from another connection: the
test holds the user's `api_users` row FOR UPDATE, starts a refresh, waits (by polling
pg_stat_activity, not by timing) until that refresh is blocked on a lock, runs the
competing action, then lets go. Whatever order PostgreSQL then lets them run in, no
token issued by the refresh may stay usable."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection
from tests.support.api import insert_api_user
from tests.support.portal import PASSWORD

from spacecal.api.users import revoke_tokens
from spacecal.app import create_app
from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.db.models import ApiUser

EMAIL = "integration@example.com"
_WAITING = text(
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


def client_for(app: object) -> httpx2.AsyncClient:
    transport = httpx2.ASGITransport(app=app, client=("192.0.2.40", 1000))  # type: ignore[arg-type]
    return httpx2.AsyncClient(transport=transport, base_url="http://spacecal.test", timeout=60)


@asynccontextmanager
async def user_row_held(database: Database, email: str) -> AsyncIterator[AsyncConnection]:
    """The user's row locked FOR UPDATE by another connection until the block ends."""
    async with database.engine.connect() as conn, conn.begin():
        await conn.execute(select(ApiUser.id).where(ApiUser.email == email).with_for_update())
        yield conn


async def until(condition: Callable[[], Awaitable[bool]], database: Database) -> None:
    """Poll until `condition()` holds (a state of the database, not a time)."""
    for _ in range(3000):
        if await condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the awaited database state never came")


async def waiting_on_locks(database: Database) -> int:
    async with database.engine.connect() as conn:
        return int(await conn.scalar(_WAITING) or 0)


async def sign_in(client: httpx2.AsyncClient) -> dict[str, str]:
    data = {"grant_type": "password", "username": EMAIL, "password": PASSWORD}
    answer = await client.post("/api/token", data=data)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def renew(pair: dict[str, str]) -> dict[str, str]:
    return {"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}


async def assert_dead(app: object, answers: list[httpx2.Response]) -> None:
    """No pair any of the answers issued works (checked by a fresh process's app, so
    no per-process cache answers for it)."""
    async with client_for(app) as fresh:
        for answer in answers:
            if answer.status_code != 200:
                assert answer.json()["error"] == "invalid_grant", answer.text
                continue
            pair = answer.json()
            bearer = {"Authorization": f"Bearer {pair['access_token']}"}
            used = await fresh.get("/api/spaces/businesses", headers=bearer)
            assert used.status_code == 401, "a token issued in the race still works"
            again = await fresh.post("/api/token", data=renew(pair))
            assert again.json().get("error") == "invalid_grant", again.text


async def test_two_refreshes_racing_with_one_token_leave_no_working_chain(
    clean: None, settings: Settings, database: Database, password_hash: str
) -> None:
    """The first refresh is held while a second one with the same token runs: the
    loser's reuse detection must revoke the pair the winner writes."""
    await insert_api_user(database, password_hash, EMAIL, full_admin=True)
    app = create_app(settings, database)
    async with client_for(app) as client:
        pair = await sign_in(client)
        async with user_row_held(database, EMAIL):
            first = asyncio.create_task(client.post("/api/token", data=renew(pair)))
            await until(lambda: _at_least(database, 1), database)
            second = asyncio.create_task(client.post("/api/token", data=renew(pair)))
            # The second one either finishes or waits on a lock too.
            await until(lambda: _done_or_waiting(second, database, 2), database)
        answers = [await first, await second]
    assert sorted(a.status_code for a in answers) == [200, 400], [a.text for a in answers]
    await assert_dead(create_app(settings, database), answers)


async def test_a_revocation_racing_a_refresh_revokes_its_new_pair(
    clean: None, settings: Settings, database: Database, password_hash: str
) -> None:
    """`spacecal users revoke-tokens` runs while a refresh is held: the refresh either
    issues nothing or its new pair is revoked too."""
    await insert_api_user(database, password_hash, EMAIL, full_admin=True)
    app = create_app(settings, database)
    async with client_for(app) as client:
        pair = await sign_in(client)
        async with user_row_held(database, EMAIL):
            refresh = asyncio.create_task(client.post("/api/token", data=renew(pair)))
            await until(lambda: _at_least(database, 1), database)
            revoke = asyncio.create_task(revoke_tokens(database.engine, EMAIL))
            await until(lambda: _done_or_waiting(revoke, database, 2), database)
        answer = await refresh
        await revoke
    await assert_dead(create_app(settings, database), [answer])


async def _at_least(database: Database, n: int) -> bool:
    return await waiting_on_locks(database) >= n


async def _done_or_waiting(task: asyncio.Task[Any], database: Database, n: int) -> bool:
    return task.done() or await waiting_on_locks(database) >= n
