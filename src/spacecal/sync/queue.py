"""Deferring `reconcile(connection)` inside the caller's own transaction.

A trigger must be exactly as durable as the change that caused it (DESIGN,
"Nothing acknowledged is lost"): the webhook's 2xx and a booking's commit both
mean "a reconcile will run". So the job row is inserted on the caller's connection,
through procrastinate's own SQL function, and commits or rolls back with it.

Job rules (DESIGN, Jobs): `lock` = the provider account (one sync per mailbox at a
time), `queueing_lock` = the connection (a storm coalesces to one running + one
queued). A second defer while one is queued violates the queueing lock's unique
index: that is "already triggered", i.e. success; a savepoint keeps the caller's
transaction alive.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from spacecal.logs import current_trace

QUEUE = "sync"
RECONCILE_TASK = "spacecal.reconcile"

# A job's run time is a delay from PostgreSQL's now(), the clock procrastinate fetches
# by; never an instant from spacecal's clock, which tests move (DESIGN, Time). A NULL
# delay makes a NULL scheduled_at: runnable at once.
_DEFER = text(
    "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, :priority, :lock,"
    " :queueing_lock, CAST(:args AS jsonb),"
    " now() + make_interval(secs => CAST(:delay_seconds AS double precision)))"
    "]::procrastinate_job_to_defer_v1[])"
)
# Push an already queued job later (throttling: wait out Retry-After).
_POSTPONE = text(
    "UPDATE procrastinate_jobs"
    " SET scheduled_at = now() + make_interval(secs => CAST(:delay_seconds AS double precision))"
    " WHERE queueing_lock = :queueing_lock AND status = 'todo' AND (scheduled_at IS NULL"
    " OR scheduled_at < now() + make_interval(secs => CAST(:delay_seconds AS double precision)))"
)


# Many jobs in one statement (the dispatcher, the keep-alive pass): one array, one insert.
_DEFER_MANY = text(
    "SELECT procrastinate_defer_jobs_v1(ARRAY(SELECT ROW(:queue, :task, :priority, j.lock,"
    " j.queueing_lock, j.args, NULL)::procrastinate_job_to_defer_v1"
    " FROM unnest(CAST(:locks AS text[]), CAST(:queueing_locks AS text[]),"
    " CAST(:args AS jsonb[])) AS j(lock, queueing_lock, args)))"
)
_QUEUED = text(
    "SELECT queueing_lock FROM procrastinate_jobs"
    " WHERE status = 'todo' AND queueing_lock = ANY(CAST(:locks AS text[]))"
)


def _args(connection_id: int, trace: str | None) -> str:
    # The trace id rides along only when there is one (older jobs have none).
    args: dict[str, object] = {"connection_id": connection_id}
    if trace is not None:
        args["trace"] = trace
    return json.dumps(args)


def account_lock(account_id: int | None, connection_id: int) -> str:
    # A connection without an account cannot sync; it still gets a lock of its own.
    return f"account:{account_id}" if account_id is not None else f"orphan:{connection_id}"


def connection_queueing_lock(connection_id: int) -> str:
    return f"reconcile:{connection_id}"


@dataclass(frozen=True)
class JobRow:
    """One job to queue: its lock, its queueing lock and its arguments (JSON)."""

    lock: str
    queueing_lock: str
    args: str


async def defer_job(
    conn: AsyncConnection,
    task: str,
    job: JobRow,
    *,
    priority: int = 0,
    delay_seconds: float | None = None,
) -> bool:
    """Queue `job` in `conn`'s transaction, runnable `delay_seconds` from now (None: at
    once). True: a new job; False: one with its queueing lock was already queued (a
    savepoint keeps the transaction alive)."""
    params = {
        "queue": QUEUE,
        "task": task,
        "priority": priority,
        "lock": job.lock,
        "queueing_lock": job.queueing_lock,
        "args": job.args,
        "delay_seconds": delay_seconds,
    }
    try:
        async with conn.begin_nested():
            await conn.execute(_DEFER, params)
    except IntegrityError:
        return False
    return True


async def defer_jobs(
    conn: AsyncConnection, task: str, jobs: Sequence[JobRow], *, priority: int = 0
) -> int:
    """Queue `jobs` in `conn`'s transaction, in the given order and in one insert where
    possible: jobs whose queueing lock is already queued are left out first; should
    one be queued concurrently in between (the unique queueing lock), the batch falls
    back to one savepoint per job. Returns how many new jobs were queued."""
    if not jobs:
        return 0
    queued = set(await conn.scalars(_QUEUED, {"locks": [j.queueing_lock for j in jobs]}))
    todo = [j for j in jobs if j.queueing_lock not in queued]
    if not todo:
        return 0
    params = {
        "queue": QUEUE,
        "task": task,
        "priority": priority,
        "locks": [j.lock for j in todo],
        "queueing_locks": [j.queueing_lock for j in todo],
        "args": [j.args for j in todo],
    }
    try:
        async with conn.begin_nested():
            await conn.execute(_DEFER_MANY, params)
    except IntegrityError:
        made = 0
        for job in todo:
            if await defer_job(conn, task, job, priority=priority):
                made += 1
        return made
    return len(todo)


def _reconcile_job(connection_id: int, account_id: int | None, trace: str | None) -> JobRow:
    return JobRow(
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
    """Queue a reconcile of `connection_id` in `conn`'s transaction, runnable
    `delay_seconds` from now (None: at once).

    True: a new job; False: one was already queued (and, with a delay, it is pushed
    back to at least that time). `trace` defaults to the trace id of the
    request or job doing the deferring (spacecal.logs), so it follows the change."""
    job = _reconcile_job(connection_id, account_id, trace if trace is not None else current_trace())
    if await defer_job(conn, RECONCILE_TASK, job, priority=priority, delay_seconds=delay_seconds):
        return True
    if delay_seconds is not None:
        await conn.execute(
            _POSTPONE, {"delay_seconds": delay_seconds, "queueing_lock": job.queueing_lock}
        )
    return False


@dataclass(frozen=True)
class ReconcileRequest:
    connection_id: int
    account_id: int | None
    trace: str | None = None


async def defer_reconciles(conn: AsyncConnection, requests: Sequence[ReconcileRequest]) -> int:
    """Queue a reconcile for each request in `conn`'s transaction, in one insert where
    possible: connections with a job already queued are left out first; should one be
    queued concurrently in between (the unique queueing lock), the batch falls back to
    one savepoint per job. Returns how many new jobs were queued."""
    wanted = {r.connection_id: r for r in requests}
    jobs = [
        _reconcile_job(r.connection_id, r.account_id, r.trace or current_trace())
        for r in wanted.values()
    ]
    # A fixed order (by queueing lock), so concurrent batches insert in the same order.
    jobs.sort(key=lambda j: j.queueing_lock)
    return await defer_jobs(conn, RECONCILE_TASK, jobs)


#: A batch at least this large refreshes the job table's statistics (see below).
ANALYZE_AFTER_JOBS = 200


async def refresh_queue_statistics(engine: AsyncEngine, queued: int) -> None:
    """ANALYZE procrastinate_jobs after a large batch was queued (and committed).

    procrastinate's fetch plans on the table's statistics. Stale ones (a table that
    was near empty when last analysed, now holding thousands of queued jobs) make
    PostgreSQL read every queued job and sort them on each fetch instead of walking
    the queue index to the first free job: a fetch then costs O(queue), and a worker
    fetches one job at a time. Autovacuum catches up within a minute or so; the
    batch's first minute is when it matters."""
    if queued < ANALYZE_AFTER_JOBS:
        return
    async with engine.connect() as conn:
        await conn.execute(text("ANALYZE procrastinate_jobs"))
        await conn.commit()
