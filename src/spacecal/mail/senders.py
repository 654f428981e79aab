"""A member's verified sender addresses: the registered email, plus addresses the
member added on the portal and confirmed through a mailed link."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal import clock


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii", "replace")).digest()


async def verified_addresses(conn: AsyncConnection, coworker_id: int) -> frozenset[str]:
    """Lowercased; includes the registered email."""
    rows = await conn.scalars(
        text(
            "SELECT lower(email) FROM coworkers WHERE id = :c UNION"
            " SELECT address FROM mail_senders WHERE coworker_id = :c"
            " AND confirmed_at IS NOT NULL"
        ),
        {"c": coworker_id},
    )
    return frozenset(str(r) for r in rows)


async def add_sender(conn: AsyncConnection, coworker_id: int, address: str) -> str:
    """Record `address` as waiting for confirmation; returns the confirmation token to
    mail to it (asking again replaces an earlier token)."""
    token = secrets.token_urlsafe(24)
    await conn.execute(
        text(
            "INSERT INTO mail_senders (coworker_id, address, confirm_hash, created_at)"
            " VALUES (:c, :a, :h, :now) ON CONFLICT (coworker_id, address) DO UPDATE"
            " SET confirm_hash = EXCLUDED.confirm_hash"
            " WHERE mail_senders.confirmed_at IS NULL"
        ),
        {"c": coworker_id, "a": address.strip().lower(), "h": _hash(token), "now": clock.now()},
    )
    return token


async def confirm_sender(conn: AsyncConnection, coworker_id: int, token: str) -> str | None:
    """Confirm the member's address the token was mailed to; returns it, or None."""
    address = await conn.scalar(
        text(
            "UPDATE mail_senders SET confirmed_at = :now, confirm_hash = NULL"
            " WHERE coworker_id = :c AND confirm_hash = :h AND confirmed_at IS NULL"
            " RETURNING address"
        ),
        {"c": coworker_id, "h": _hash(token), "now": clock.now()},
    )
    return None if address is None else str(address)


async def remove_sender(conn: AsyncConnection, coworker_id: int, address: str) -> None:
    await conn.execute(
        text("DELETE FROM mail_senders WHERE coworker_id = :c AND address = :a"),
        {"c": coworker_id, "a": address.strip().lower()},
    )


async def sender_rows(conn: AsyncConnection, coworker_id: int) -> list[tuple[str, bool]]:
    """(address, confirmed) of the member's added addresses, for the portal."""
    rows = await conn.execute(
        text(
            "SELECT address, confirmed_at IS NOT NULL FROM mail_senders"
            " WHERE coworker_id = :c ORDER BY address"
        ),
        {"c": coworker_id},
    )
    return [(str(a), bool(c)) for a, c in rows]
