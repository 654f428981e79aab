"""Storing an accepted message: one row per accepted recipient, and its job, in one
transaction committed before the receiver answers 250 (DESIGN, "Nothing acknowledged
is lost"); pruning what is older than SPACECAL_MAIL_KEEP_DAYS."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from spacecal import clock, jobs
from spacecal.jobs import names
from spacecal.mail.message import Recipient

_INSERT = text(
    "INSERT INTO mail_messages (received_at, mail_from, rcpt_to, resource_id, coworker_id,"
    " address_id, peer, size, raw) VALUES (:now, :mail_from, :rcpt, :resource, :coworker,"
    " :address, :peer, :size, :raw) RETURNING id"
)


async def defer_processing(
    conn: AsyncConnection, message_id: int, *, delay_seconds: float | None = None
) -> None:
    """Queue the processing of one stored message in `conn`'s transaction."""
    job = jobs.JobRow(None, f"mail:{message_id}", {"message_id": message_id})
    await jobs.defer(conn, names.PROCESS_MAIL, job, delay_seconds=delay_seconds)


async def store(
    engine: AsyncEngine,
    *,
    mail_from: str,
    recipients: Sequence[Recipient],
    raw: bytes,
    peer: str,
) -> list[int]:
    """Commit the message once for each distinct recipient, and its processing job;
    the ids."""
    ids: list[int] = []
    seen: set[str] = set()
    async with engine.begin() as conn:
        for r in recipients:
            if r.address.lower() in seen:
                continue
            seen.add(r.address.lower())
            message_id = await conn.scalar(
                _INSERT,
                {
                    "now": clock.now(),
                    "mail_from": mail_from[:320],
                    "rcpt": r.address,
                    "resource": r.resource_id,
                    "coworker": r.coworker_id,
                    "address": r.address_id,
                    "peer": peer[:100],
                    "size": len(raw),
                    "raw": raw,
                },
            )
            ids.append(int(message_id))
            await defer_processing(conn, int(message_id))
    return ids


async def prune(engine: AsyncEngine, keep_days: int) -> int:
    """Delete processed messages received more than `keep_days` ago (one waiting to be
    processed stays: it is a trigger). Returns how many."""
    before = clock.now() - timedelta(days=keep_days)
    async with engine.begin() as conn:
        result = await conn.execute(
            text("DELETE FROM mail_messages WHERE received_at < :before AND status <> 'queued'"),
            {"before": before},
        )
    return result.rowcount or 0
