"""Deferring jobs inside the caller's own transaction.

A trigger must be exactly as durable as the change that caused it (DESIGN,
"Nothing acknowledged is lost"): the webhook's 2xx and a booking's commit both mean
"a job will run". So the job row is inserted on the caller's connection, through
procrastinate's own SQL function (jobs/sql.py), and commits or rolls back with it.

A job's `queueing_lock` is unique among waiting jobs: a second defer while one is
queued violates it, which means "already triggered", i.e. success; a savepoint keeps
the caller's transaction alive. A job's run time is a delay from the database's
`now()` (DESIGN, Time), never an instant from spacecal's clock.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from spacecal.jobs import names, sql


@dataclass(frozen=True)
class JobRow:
    """One job to queue: its lock, its queueing lock and its arguments."""

    lock: str | None
    queueing_lock: str | None
    args: Mapping[str, object]


async def defer(
    conn: AsyncConnection,
    task: str,
    job: JobRow,
    *,
    priority: int = 0,
    delay_seconds: float | None = None,
) -> bool:
    """Queue `job` of `task` (a jobs/names.py name) in `conn`'s transaction, to run
    `delay_seconds` from now (None: at once). True: a new job; False: one with its
    queueing lock was already queued (a savepoint keeps the transaction alive)."""
    params = {
        "queue": names.QUEUE_OF[task],
        "task": task,
        "priority": priority,
        "lock": job.lock,
        "queueing_lock": job.queueing_lock,
        "args": json.dumps(job.args),
        "delay": delay_seconds,
    }
    try:
        async with conn.begin_nested():
            await conn.execute(sql.DEFER_ONE, params)
    except IntegrityError:
        return False
    return True


async def defer_many(
    conn: AsyncConnection, task: str, jobs: Sequence[JobRow], *, priority: int = 0
) -> int:
    """Queue `jobs` of `task` in `conn`'s transaction, in the given order and in one
    insert where possible: jobs whose queueing lock is already queued are left out
    first; should one be queued concurrently in between (the unique queueing lock),
    the batch falls back to one savepoint per job. Returns how many were queued."""
    if not jobs:
        return 0
    locks = [j.queueing_lock for j in jobs if j.queueing_lock is not None]
    queued = set(await conn.scalars(sql.QUEUED_LOCKS, {"locks": locks})) if locks else set()
    todo = [j for j in jobs if j.queueing_lock is None or j.queueing_lock not in queued]
    if not todo:
        return 0
    params = {
        "queue": names.QUEUE_OF[task],
        "task": task,
        "priority": priority,
        "locks": [j.lock for j in todo],
        "queueing_locks": [j.queueing_lock for j in todo],
        "args": [json.dumps(j.args) for j in todo],
    }
    try:
        async with conn.begin_nested():
            await conn.execute(sql.DEFER_MANY, params)
    except IntegrityError:
        made = 0
        for job in todo:
            if await defer(conn, task, job, priority=priority):
                made += 1
        return made
    return len(todo)


async def postpone(conn: AsyncConnection, queueing_lock: str, delay_seconds: float) -> None:
    """Push the waiting job holding `queueing_lock` to at least `delay_seconds` from
    now (it already waits: a second defer coalesced into it)."""
    await conn.execute(sql.POSTPONE, {"delay": delay_seconds, "queueing_lock": queueing_lock})


async def drain_outbox(conn: AsyncConnection, *, limit: int) -> int:
    """Turn up to `limit` outbox rows (written by database triggers, migration 0012)
    into jobs, oldest first, in `conn`'s transaction. Returns how many."""
    return int(await conn.scalar(sql.DRAIN_OUTBOX, {"n": limit}) or 0)


#: A batch at least this large refreshes the job table's statistics (see below).
ANALYZE_AFTER_JOBS = 200


async def refresh_statistics(engine: AsyncEngine, queued: int) -> None:
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
        await conn.execute(sql.ANALYZE_JOBS)
        await conn.commit()
