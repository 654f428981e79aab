"""API users: operators and integrations that call the records API.

A password change (`set_password`, or `create_user` over an existing user),
`deactivate` and `revoke_tokens` revoke every token of the user and bump its
`generation`, which ends its console sessions and makes every process re-check a
cached Basic credential (web/auth.py says within how long)."""

from __future__ import annotations

import re

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from spacecal import clock
from spacecal.api.catalog import ALL_RECORDS
from spacecal.config import Settings
from spacecal.db.models import ApiToken, ApiUser
from spacecal.web.auth import hash_password

OPERATIONS = ("List", "Read", "Create", "Edit", "Delete")
KNOWN_ROLES = frozenset(spec.role(op) for spec in ALL_RECORDS for op in OPERATIONS)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class UserError(ValueError):
    """Bad input for a user; the message says which and what to do."""


def validate_roles(roles: list[str]) -> list[str]:
    unknown = sorted(set(roles) - KNOWN_ROLES)
    if unknown:
        raise UserError(
            f"unknown role(s): {', '.join(unknown)}. Roles are <Record>-<Operation>, "
            f"e.g. CoworkerGoogleCalendar-Read; operations: {', '.join(OPERATIONS)}."
        )
    return sorted(set(roles))


def _check_password(password: str) -> None:
    if len(password) < 8:
        raise UserError("the password must be at least 8 characters long.")


async def revoke_all(conn: AsyncConnection, user_id: int) -> int:
    """Revoke every live token of the user and end its sessions; the tokens revoked."""
    now = clock.now()
    # The user's row first: it waits for a token grant in progress (api/token.py holds
    # the row FOR SHARE), so the tokens below include the pair that grant writes.
    await conn.execute(
        update(ApiUser).where(ApiUser.id == user_id).values(generation=ApiUser.generation + 1)
    )
    revoked = await conn.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(revoked.rowcount or 0)


async def _user_id(conn: AsyncConnection, email: str) -> int:
    email = email.strip().lower()
    user_id = await conn.scalar(select(ApiUser.id).where(ApiUser.email == email))
    if user_id is None:
        raise UserError(f"no API user has the email {email}; `spacecal users create` makes one.")
    return int(user_id)


async def set_password(
    engine: AsyncEngine, email: str, password: str, settings: Settings | None = None
) -> int:
    """Replace the user's password; every token and session of theirs ends. Returns
    the number of tokens revoked."""
    _check_password(password)
    password_hash = hash_password(password, settings)
    async with engine.begin() as conn:
        user_id = await _user_id(conn, email)
        await conn.execute(
            update(ApiUser).where(ApiUser.id == user_id).values(password_hash=password_hash)
        )
        return await revoke_all(conn, user_id)


async def deactivate(engine: AsyncEngine, email: str) -> int:
    """The user can no longer sign in or use any token; returns the tokens revoked.
    `spacecal users create` with a new password makes them active again."""
    async with engine.begin() as conn:
        user_id = await _user_id(conn, email)
        await conn.execute(update(ApiUser).where(ApiUser.id == user_id).values(active=False))
        return await revoke_all(conn, user_id)


async def revoke_tokens(engine: AsyncEngine, email: str) -> int:
    """Revoke every access and refresh token of the user (the password stays)."""
    async with engine.begin() as conn:
        return await revoke_all(conn, await _user_id(conn, email))


async def create_user(
    engine: AsyncEngine,
    email: str,
    password: str,
    roles: list[str],
    full_admin: bool,
    settings: Settings | None = None,
) -> tuple[int, bool]:
    """Create the user, or replace the password and roles of an existing one (and make
    it active again; its old tokens and sessions end). Returns (id, created)."""
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise UserError(f"{email!r} is not an email address.")
    _check_password(password)
    roles = validate_roles(roles)
    password_hash = hash_password(password, settings)
    async with engine.begin() as conn:
        existed = await conn.scalar(select(ApiUser.id).where(ApiUser.email == email))
        user_id = await conn.scalar(
            insert(ApiUser)
            .values(
                email=email,
                password_hash=password_hash,
                roles=roles,
                full_admin=full_admin,
                active=True,
                created_on=clock.now(),
            )
            .on_conflict_do_update(
                index_elements=[ApiUser.email],
                set_={
                    "password_hash": password_hash,
                    "roles": roles,
                    "full_admin": full_admin,
                    "active": True,
                },
            )
            .returning(ApiUser.id)
        )
        assert user_id is not None
        if existed is not None:
            await revoke_all(conn, user_id)
    return user_id, existed is None
