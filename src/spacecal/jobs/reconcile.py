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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal import jobs
from spacecal.jobs import names
from spacecal.logs import current_trace


def _args(connection_id: int, trace: str | None) -> dict[str, object]:
    # The trace id rides along only when there is one (older jobs have none).
    args: dict[str, object] = {"connection_id": connection_id}
    if trace is not None:
        args["trace"] = trace
    return args


def account_lock(account_id: int | None, connection_id: int) -> str:
    # A connection without an account cannot sync; it still gets a lock of its own.
    return f"account:{account_id}" if account_id is not None else f"orphan:{connection_id}"


def connection_queueing_lock(connection_id: int) -> str:
    return f"reconcile:{connection_id}"


def _reconcile_job(connection_id: int, account_id: int | None, trace: str | None) -> jobs.JobRow:
    return jobs.JobRow(
        account_lock(account_id, connection_id),
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
    job = _reconcile_job(connection_id, account_id, trace if trace is not None else current_trace())
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
    batch = [
        _reconcile_job(r.connection_id, r.account_id, r.trace or current_trace())
        for r in wanted.values()
    ]
    # A fixed order (by queueing lock), so concurrent batches insert in the same order.
    batch.sort(key=lambda j: j.queueing_lock or "")
    return await jobs.defer_many(conn, names.RECONCILE, batch)
