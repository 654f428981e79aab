"""A member's verified sender addresses: the registered email, plus addresses the
member added on the portal and confirmed through a mailed link."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

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


#: A link is mailed to one address at most this often (each is a mail to anyone).
RESEND_AFTER = timedelta(hours=1)


class SenderRefused(Exception):
    """No confirmation link mailed: "too_many" addresses wait for theirs, or one was
    mailed to this address "too_soon" ago."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def add_sender(
    conn: AsyncConnection, coworker_id: int, address: str, *, max_pending: int
) -> str | None:
    """Record `address` as waiting for confirmation; returns the confirmation token to
    mail to it (asking again replaces an earlier token), or None when it is confirmed
    already. SenderRefused beyond `max_pending` waiting addresses, or when a link went
    to this address less than RESEND_AFTER ago (created_at: when the last link was made)."""
    address = address.strip().lower()
    now = clock.now()
    # One member's requests in turn, so the count below holds.
    await conn.execute(text("SELECT 1 FROM coworkers WHERE id = :c FOR UPDATE"), {"c": coworker_id})
    row = (
        await conn.execute(
            text(
                "SELECT confirmed_at IS NOT NULL AS confirmed, created_at FROM mail_senders"
                " WHERE coworker_id = :c AND address = :a"
            ),
            {"c": coworker_id, "a": address},
        )
    ).first()
    if row is not None and row.confirmed:
        return None
    if row is not None and now - row.created_at < RESEND_AFTER:
        raise SenderRefused("too_soon")
    if row is None:
        pending = await conn.scalar(
            text(
                "SELECT count(*) FROM mail_senders WHERE coworker_id = :c AND confirmed_at IS NULL"
            ),
            {"c": coworker_id},
        )
        if int(pending or 0) >= max_pending:
            raise SenderRefused("too_many")
    token = secrets.token_urlsafe(24)
    await conn.execute(
        text(
            "INSERT INTO mail_senders (coworker_id, address, confirm_hash, created_at)"
            " VALUES (:c, :a, :h, :now) ON CONFLICT (coworker_id, address) DO UPDATE"
            " SET confirm_hash = EXCLUDED.confirm_hash, created_at = EXCLUDED.created_at"
            " WHERE mail_senders.confirmed_at IS NULL"
        ),
        {"c": coworker_id, "a": address, "h": _hash(token), "now": now},
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
