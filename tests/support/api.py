"""Helpers for API tests."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import httpx2
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal import clock
from spacecal.api.users import validate_roles
from spacecal.db.engine import Database
from spacecal.db.models import ApiToken, ApiUser
from spacecal.web.auth import token_hash


async def create(
    client: httpx2.AsyncClient, headers: dict[str, str], path: str, body: dict[str, Any]
) -> int:
    answer = await client.post(f"/api/spaces/{path}", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["WasSuccessful"] is True
    return int(answer.json()["Value"]["Id"])


async def insert_api_user(
    database: Database,
    password_hash: str,
    email: str = "admin@example.com",
    roles: list[str] | None = None,
    full_admin: bool = False,
) -> dict[str, str]:
    """An API user with a bearer token, written the way `POST /api/token` writes it,
    without paying argon2 per user (`password_hash` is one hash made per session).
    Returns the bearer headers."""
    async with database.engine.begin() as conn:
        return await insert_api_user_in(conn, password_hash, email, roles, full_admin)


async def insert_api_user_in(
    conn: AsyncConnection,
    password_hash: str,
    email: str = "admin@example.com",
    roles: list[str] | None = None,
    full_admin: bool = False,
    token_days: int = 7,
) -> dict[str, str]:
    """`insert_api_user` in the caller's transaction."""
    now = clock.now()
    token = secrets.token_urlsafe(32)
    user_id = await conn.scalar(
        insert(ApiUser)
        .values(
            email=email,
            password_hash=password_hash,
            roles=validate_roles(roles or []),
            full_admin=full_admin,
            active=True,
            created_on=now,
        )
        .returning(ApiUser.id)
    )
    await conn.execute(
        insert(ApiToken).values(
            token_hash=token_hash(token),
            kind="access",
            user_id=user_id,
            created_at=now,
            expires_at=now + timedelta(days=token_days),
            chain=token_hash(token),
            chain_started_at=now,
        )
    )
    return {"Authorization": f"Bearer {token}"}
