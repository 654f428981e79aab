"""Reading procrastinate's tables: queue gauges, the doctor's checks, pruning.

The statements are in jobs/sql.py; these are the calls the rest of spacecal makes
instead of naming procrastinate's tables itself.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal.jobs import sql

#: Every table of the job machinery (procrastinate's and the outbox), for resets.
TABLES = (*sql.TABLES, sql.OUTBOX)


async def job_counts(conn: AsyncConnection) -> dict[str, int]:
    """Jobs waiting ('todo') and running ('doing'), by status."""
    return {s: int(n) for s, n in (await conn.execute(sql.JOB_COUNTS)).all()}


async def workers_alive(conn: AsyncConnection, *, within_seconds: float) -> int:
    """Workers whose heartbeat is at most `within_seconds` old (database clock)."""
    return int(await conn.scalar(sql.WORKERS_ALIVE, {"s": within_seconds}) or 0)


async def runnable(conn: AsyncConnection) -> tuple[int, datetime | None]:
    """Jobs that could run now, and when the oldest of them was deferred."""
    count, oldest = (await conn.execute(sql.RUNNABLE)).one()
    return int(count or 0), oldest


async def running(conn: AsyncConnection) -> int:
    return int(await conn.scalar(sql.RUNNING) or 0)


async def prune_finished(conn: AsyncConnection, *, older_than_seconds: float) -> int:
    """Delete finished jobs (succeeded, failed, cancelled, aborted) last touched more
    than `older_than_seconds` ago on PostgreSQL's clock (the one procrastinate stamps
    them with; DESIGN, Time); a queued or running job is a trigger and is never pruned."""
    result = await conn.execute(sql.PRUNE_FINISHED, {"age_seconds": older_than_seconds})
    return int(result.rowcount or 0)
