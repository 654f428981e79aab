"""API users: operators and integrations that call the records API."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from spacecal import clock
from spacecal.api.catalog import ALL_RECORDS
from spacecal.db.models import ApiUser
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


async def create_user(
    engine: AsyncEngine, email: str, password: str, roles: list[str], full_admin: bool
) -> tuple[int, bool]:
    """Create the user, or replace the password and roles of an existing one.

    Returns (id, created)."""
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise UserError(f"{email!r} is not an email address.")
    if len(password) < 8:
        raise UserError("the password must be at least 8 characters long.")
    roles = validate_roles(roles)
    password_hash = hash_password(password)
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
                set_={"password_hash": password_hash, "roles": roles, "full_admin": full_admin},
            )
            .returning(ApiUser.id)
        )
    assert user_id is not None
    return user_id, existed is None
