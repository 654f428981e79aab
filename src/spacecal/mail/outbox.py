"""The outgoing mail queue: replies, confirmations and notices are rows of
`mail_outbox`, inserted in the transaction that decided them (so a decision and its
mail commit together), then sent: right after the deciding job commits (the fast
path: the job leases its rows in the deciding transaction, `lease` + `send_leased`)
and by the periodic pass of mail/sender.py (`send_due`: everything due, retries).

A send leases its rows first (next attempt pushed past the relay's timeout, attempts
+1, committed), so two workers never send the same row at once; a refused send waits
out the backoff (`mail_backoff_base_seconds` doubling up to the cap) and is given up
after `mail_max_attempts`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal import clock
from spacecal.config import Settings
from spacecal.failures import Backoff
from spacecal.mail import smtp
from spacecal.sync.runtime import SyncRuntime

log = logging.getLogger(__name__)

_INSERT = text(
    "INSERT INTO mail_outbox (to_address, from_address, subject, body_text, calendar, method,"
    " created_at, next_attempt_at, attempts)"
    " VALUES (:to, :sender, :subject, :body, :calendar, :method, :now, :now, 0) RETURNING id"
)
_LEASE = text(
    "UPDATE mail_outbox SET next_attempt_at = :lease_until, attempts = attempts + 1"
    " WHERE id IN (SELECT id FROM mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL"
    " AND next_attempt_at <= :now"
    " AND (CAST(:ids AS bigint[]) IS NULL OR id = ANY(CAST(:ids AS bigint[])))"
    " ORDER BY next_attempt_at, id LIMIT :limit FOR UPDATE SKIP LOCKED)"
    " RETURNING id, to_address, from_address, subject, body_text, calendar, method, attempts"
)
_SENT = text(
    "UPDATE mail_outbox SET sent_at = :now, last_error = NULL"
    " WHERE id = ANY(CAST(:ids AS bigint[]))"
)
_RETRY = text(
    "UPDATE mail_outbox SET next_attempt_at = :next, last_error = :error,"
    " failed_at = CASE WHEN :give_up THEN CAST(:now AS timestamptz) END WHERE id = :id"
)


async def queue_mail(
    conn: AsyncConnection,
    *,
    to: str,
    from_address: str,
    subject: str,
    text: str,
    calendar: bytes | None = None,
    method: str | None = None,
) -> int:
    """Queue one message in the caller's transaction; returns its id."""
    queued = await conn.scalar(
        _INSERT,
        {
            "to": to,
            "sender": from_address,
            "subject": subject[:998],
            "body": text,
            "calendar": calendar,
            "method": method,
            "now": clock.now(),
        },
    )
    assert queued is not None
    return int(queued)


@dataclass(frozen=True)
class SendResult:
    sent: int
    failed: int


async def lease(conn: AsyncConnection, settings: Settings, ids: Sequence[int] | None) -> list[Any]:
    """Lease what is due (only `ids`, when given) in the caller's transaction: the rows,
    each now leased past the relay's timeout with one more attempt counted. A deciding
    job leases its own mail in its deciding transaction (one transaction fewer per
    invitation); were it to die before sending, the periodic pass sends the rows once
    the lease has run out."""
    now = clock.now()
    lease_for = timedelta(seconds=settings.mail_timeout_seconds * 2)
    result = await conn.execute(
        _LEASE,
        {
            "now": now,
            "lease_until": now + lease_for,
            "ids": list(ids) if ids is not None else None,
            "limit": settings.mail_send_batch,
        },
    )
    return list(result.all())


async def send_due(rt: SyncRuntime, ids: Sequence[int] | None = None) -> SendResult:
    """Send what is due (only `ids`, when given); each row once, under a lease."""
    if not rt.settings.smtp_url:
        return SendResult(0, 0)  # no relay configured: the mail waits, attempts unspent
    async with rt.db.engine.begin() as conn:
        rows = await lease(conn, rt.settings, ids)
    return await send_leased(rt, rows)


async def send_leased(rt: SyncRuntime, rows: Sequence[Any]) -> SendResult:
    """Send rows `lease` returned (after their lease committed): sent ones marked, a
    refused one retried after the backoff, in one relay conversation."""
    settings = rt.settings
    if not rows:
        return SendResult(0, 0)
    backoff = Backoff(
        settings.mail_backoff_base_seconds,
        settings.mail_backoff_cap_seconds,
        settings.mail_backoff_base_seconds,
    )
    sent_ids: list[int] = []
    retries: list[dict[str, object]] = []
    connection = smtp.Connection(settings)
    try:
        for row in rows:
            message = smtp.compose(
                to=row.to_address,
                from_address=row.from_address,
                subject=row.subject,
                text=row.body_text,
                calendar=row.calendar,
                method=row.method,
            )
            try:
                await connection.send(message, sender=row.from_address, to=row.to_address)
            except smtp.RelayError as exc:
                after = clock.now()
                retries.append(
                    {
                        "id": row.id,
                        "next": after + backoff.delay(row.attempts),
                        "error": str(exc),
                        "give_up": row.attempts >= settings.mail_max_attempts,
                        "now": after,
                    }
                )
                log.warning("outgoing mail %d not sent (attempt %d): %s", row.id, row.attempts, exc)
                continue
            sent_ids.append(row.id)
    finally:
        await connection.close()
        if sent_ids or retries:
            async with rt.db.engine.begin() as conn:
                if sent_ids:
                    await conn.execute(_SENT, {"ids": sent_ids, "now": clock.now()})
                for retry in retries:
                    await conn.execute(_RETRY, retry)
    return SendResult(len(sent_ids), len(retries))


@dataclass(frozen=True)
class Decision:
    """One decision of the member's, as the portal lists it."""

    resource_id: int
    uid: str
    instance_start: datetime | None
    status: str  # accepted | declined | cancelled | pending
    reason: str
    booking_id: int | None
    decided_at: datetime


_RECENT = text(
    "SELECT resource_id, uid, start_time, status, reason, booking_id, updated_at"
    " FROM invitations WHERE coworker_id = :member AND status <> 'pending'"
    " ORDER BY updated_at DESC, id DESC LIMIT :limit"
)


async def recent_decisions(
    conn: AsyncConnection, coworker_id: int, limit: int = 20
) -> list[Decision]:
    """The member's latest decisions (each booked, declined or cancelled instance)."""
    rows = (await conn.execute(_RECENT, {"member": coworker_id, "limit": limit})).all()
    return [
        Decision(r.resource_id, r.uid, r.start_time, r.status, r.reason, r.booking_id, r.updated_at)
        for r in rows
    ]
