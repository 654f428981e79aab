"""The jobs of received mail: `spacecal.mail.process` (one stored message: check who
vouches for it, hand it to the invitation step, record the outcome) and the periodic
`spacecal.mail.prune`.

Processing is safe to run twice: a message already processed is left alone, and the
invitation step orders changes by UID, SEQUENCE and DTSTAMP. A worker that died under
it gets the job queued again (on_stalled).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal import clock, jobs, metrics
from spacecal.jobs import names
from spacecal.mail import auth, dns
from spacecal.mail.invitations import handle_invitation
from spacecal.mail.message import ReceivedMessage, Recipient
from spacecal.mail.store import defer_processing, prune
from spacecal.sync.runtime import SyncRuntime

log = logging.getLogger("spacecal.mail")

#: A message whose DNS checks keep failing is retried this often, for this long.
DNS_RETRY_SECONDS = 300.0
DNS_GIVE_UP = timedelta(days=1)

_LOAD = text(
    "SELECT raw, rcpt_to, resource_id, coworker_id, address_id, received_at,"
    " (SELECT a.replaced_at IS NULL FROM invitation_addresses a WHERE a.id = m.address_id)"
    " FROM mail_messages m WHERE id = :id AND status = 'queued'"
)
_FINISH = text(
    "UPDATE mail_messages SET status = :status, outcome = :outcome, error = :error,"
    " processed_at = :now WHERE id = :id"
)


async def _record(
    conn: AsyncConnection, message_id: int, status: str, outcome: str, error: str | None = None
) -> None:
    await conn.execute(
        _FINISH,
        {
            "id": message_id,
            "status": status,
            "outcome": outcome,
            "error": error,
            "now": clock.now(),
        },
    )


async def _finish(
    rt: SyncRuntime, message_id: int, status: str, outcome: str, error: str | None = None
) -> None:
    async with rt.db.engine.begin() as conn:
        await _record(conn, message_id, status, outcome, error)
    metrics.mail_outcome(outcome)


async def process(rt: SyncRuntime, message_id: int) -> str | None:
    """Process one stored message; its outcome, or None when there was nothing to do
    (already processed or pruned) or it waits for DNS."""
    # One statement, read only: no transaction around it (two round trips fewer).
    async with rt.db.reads.connect() as conn:
        row = (await conn.execute(_LOAD, {"id": message_id})).first()
    if row is None:
        return None
    raw, rcpt, resource_id, coworker_id, address_id, received_at, current = row
    recipient = Recipient(
        str(rcpt),
        int(resource_id),
        None if coworker_id is None else int(coworker_id),
        None if address_id is None else int(address_id),
        True if current is None else bool(current),
    )
    try:
        resolver = dns.resolver_for(rt.settings)
        mail_auth = await asyncio.to_thread(auth.check, bytes(raw), resolver)
    except dns.DnsUnavailable as exc:
        if clock.now() - received_at < DNS_GIVE_UP:
            log.warning("mail %d: %s; trying again later", message_id, exc)
            async with rt.db.engine.begin() as conn:
                await defer_processing(conn, message_id, delay_seconds=DNS_RETRY_SECONDS)
            return None
        await _finish(rt, message_id, "failed", "dns-unavailable", str(exc))
        return "dns-unavailable"
    message = ReceivedMessage(message_id, bytes(raw), recipient, mail_auth)

    async def done(conn: AsyncConnection, outcome: str) -> None:
        await _record(conn, message_id, "done", outcome)  # in the deciding transaction

    try:
        outcome = await handle_invitation(rt, message, record=done)
    except Exception as exc:
        await _finish(rt, message_id, "failed", "error", type(exc).__name__)
        raise
    metrics.mail_outcome(outcome)
    log.info("mail %d to %s: %s", message_id, recipient.address, outcome)
    return outcome


async def _process_again(conn: AsyncConnection, args: dict[str, Any]) -> None:
    message_id = args.get("message_id")
    if isinstance(message_id, int):
        await defer_processing(conn, message_id)


@jobs.task(names.PROCESS_MAIL, on_stalled=_process_again)
async def process_mail_task(rt: SyncRuntime, message_id: int) -> None:
    await process(rt, message_id)


@jobs.periodic_task(names.PRUNE_MAIL, periodic_id="prune-mail", schedule=lambda _: "23 * * * *")
async def prune_mail_task(rt: SyncRuntime) -> None:
    pruned = await prune(rt.db.engine, rt.settings.mail_keep_days)
    if pruned:
        log.info("pruned %d received message(s)", pruned)
