"""Deferring `reconcile(connection)` inside the caller's own transaction: the
reconcile job's locks and arguments, for everything that queues one (the booking
write path, intake's dispatcher, sync itself). It lives in jobs/ because the
booking write path (spacecal.bookings) sits below sync/ and queues reconciles too.

A trigger must be exactly as durable as the change that caused it (DESIGN,
"Nothing acknowledged is lost"): the webhook's 2xx and a booking's commit both
mean "a reconcile will run". So the job is deferred on the caller's connection
(jobs.defer) and commits or rolls back with it.

Job rules (DESIGN, Jobs): `lock` = the provider account (one sync per mailbox at a
time), `queueing_lock` = the connection (a storm coalesces to one running + one
queued). A second defer while one is queued is "already triggered", i.e. success.

An account may name another lock (`provider_accounts.job_lock`): a CalDAV account
takes one of a few buckets of its server's host (`host_bucket_lock`), so one server
sees at most that many syncs at once; an account always maps to the same bucket,
so it still syncs one at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal import jobs
from spacecal.db.models import ProviderAccount
from spacecal.jobs import names, sql
from spacecal.logs import current_trace


def _args(connection_id: int, trace: str | None, *, blocks_only: bool = False) -> dict[str, object]:
    # The trace id rides along only when there is one (older jobs have none).
    args: dict[str, object] = {"connection_id": connection_id}
    if trace is not None:
        args["trace"] = trace
    if blocks_only:
        args["blocks_only"] = True
    return args


def account_lock(account_id: int | None, connection_id: int) -> str:
    # A connection without an account cannot sync; it still gets a lock of its own.
    return f"account:{account_id}" if account_id is not None else f"orphan:{connection_id}"


def host_bucket_lock(host: str, account_id: int, buckets: int) -> str:
    """The lock of a CalDAV account's reconciles: bucket `account_id % buckets` of
    its server's host."""
    return f"caldav:{host.lower()}:{account_id % max(buckets, 1)}"


async def _named_locks(conn: AsyncConnection, account_ids: set[int]) -> dict[int, str]:
    """The accounts among `account_ids` that name their own job lock."""
    if not account_ids:
        return {}
    rows = await conn.execute(
        select(ProviderAccount.id, ProviderAccount.job_lock).where(
            ProviderAccount.id.in_(account_ids), ProviderAccount.job_lock.is_not(None)
        )
    )
    return {int(r.id): str(r.job_lock) for r in rows}


def connection_queueing_lock(connection_id: int) -> str:
    return f"reconcile:{connection_id}"


BLOCKS_QUEUEING_PREFIX = "blocks:"


def blocks_queueing_lock(connection_id: int) -> str:
    """The queueing lock of a connection's blocks-only reconcile: its own, so a queued
    one never swallows a notification's full reconcile (nor the reverse)."""
    return f"{BLOCKS_QUEUEING_PREFIX}{connection_id}"


def _reconcile_job(
    connection_id: int, account_id: int | None, trace: str | None, lock: str | None = None
) -> jobs.JobRow:
    return jobs.JobRow(
        lock or account_lock(account_id, connection_id),
        connection_queueing_lock(connection_id),
        _args(connection_id, trace),
    )


async def defer_reconcile(
    conn: AsyncConnection,
    connection_id: int,
    account_id: int | None,
    *,
    delay_seconds: float | None = None,
    priority: int = 0,
    trace: str | None = None,
) -> bool:
    """Queue a reconcile of `connection_id` in `conn`'s transaction, to run
    `delay_seconds` from now (None: at once).

    True: a new job; False: one was already queued (and, with `delay_seconds`, it is
    pushed back to at least that time). `trace` defaults to the trace id of the
    request or job doing the deferring (spacecal.logs), so it follows the change."""
    named = await _named_locks(conn, {account_id} if account_id is not None else set())
    job = _reconcile_job(
        connection_id,
        account_id,
        trace if trace is not None else current_trace(),
        named.get(account_id) if account_id is not None else None,
    )
    if await jobs.defer(conn, names.RECONCILE, job, priority=priority, delay_seconds=delay_seconds):
        return True
    if delay_seconds is not None:
        await jobs.postpone(conn, connection_queueing_lock(connection_id), delay_seconds)
    return False


@dataclass(frozen=True)
class ReconcileRequest:
    connection_id: int
    account_id: int | None
    trace: str | None = None


async def defer_reconciles(conn: AsyncConnection, requests: Sequence[ReconcileRequest]) -> int:
    """Queue a reconcile for each request in `conn`'s transaction, in one insert where
    possible (jobs.defer_many): connections with a job already queued are left out.
    Returns how many new jobs were queued."""
    wanted = {r.connection_id: r for r in requests}
    named = await _named_locks(conn, {r.account_id for r in wanted.values() if r.account_id})
    batch = [
        _reconcile_job(
            r.connection_id,
            r.account_id,
            r.trace or current_trace(),
            named.get(r.account_id) if r.account_id is not None else None,
        )
        for r in wanted.values()
    ]
    # A fixed order (by queueing lock), so concurrent batches insert in the same order.
    batch.sort(key=lambda j: j.queueing_lock or "")
    return await jobs.defer_many(conn, names.RECONCILE, batch)


async def defer_block_writes(
    conn: AsyncConnection, targets: Sequence[tuple[int, int | None]]
) -> int:
    """Queue a blocks-only reconcile (`reconcile(..., blocks_only=True)`: write the
    availability blocks the calendar owes, no pull) for each (connection, account), in
    `conn`'s transaction and one insert. Same task and same lock as a reconcile (the
    account's: one sync per mailbox at a time, so it never runs beside a pull of the
    calendar it writes); its own queueing lock, so a storm of booking changes still
    coalesces to one running + one queued per calendar. Returns how many were queued."""
    wanted = dict(targets)
    named = await _named_locks(conn, {a for a in wanted.values() if a is not None})
    trace = current_trace()
    batch = [
        jobs.JobRow(
            # (no account has id 0: `or 0` only keeps the lookup typed)
            named.get(account_id or 0) or account_lock(account_id, connection_id),
            blocks_queueing_lock(connection_id),
            _args(connection_id, trace, blocks_only=True),
        )
        for connection_id, account_id in sorted(wanted.items())
    ]
    return await jobs.defer_many(conn, names.RECONCILE, batch)


async def blocks_queued(conn: AsyncConnection, connection_id: int) -> bool:
    """A blocks-only reconcile of the connection waits in the queue (it runs after the
    job asking, under the same account lock, and writes the blocks then)."""
    found = await conn.scalar(sql.QUEUED_LOCKS, {"locks": [blocks_queueing_lock(connection_id)]})
    return found is not None
