"""Pruning: finished jobs and old sync history do not pile up for months.

Both ages are settings (`prune_jobs_after_seconds`, `prune_sync_runs_after_seconds`).
Only finished jobs go (succeeded, failed, cancelled, aborted): a queued or running
job is a trigger that must not be lost. A job's age is measured on PostgreSQL's clock
(procrastinate stamps its events with `now()`); sync history's on spacecal's clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, text

from spacecal import clock
from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.db.models import SyncRun

# procrastinate_events cascades with its job. A job's age is its last event's time;
# a job with no events (deleted history) falls back to its scheduled time. The few jobs
# procrastinate's periodic bookkeeping still points at (no cascade there) are kept:
# procrastinate replaces those rows itself.
_DELETE_JOBS = text(
    "DELETE FROM procrastinate_jobs j"
    " WHERE j.status IN ('succeeded', 'failed', 'cancelled', 'aborted')"
    " AND NOT EXISTS (SELECT 1 FROM procrastinate_periodic_defers p WHERE p.job_id = j.id)"
    " AND COALESCE((SELECT max(e.at) FROM procrastinate_events e WHERE e.job_id = j.id),"
    "              j.scheduled_at, '-infinity'::timestamptz)"
    " < now() - make_interval(secs => :age)"
)


@dataclass
class Pruned:
    jobs: int
    sync_runs: int


async def prune(db: Database, settings: Settings) -> Pruned:
    now = clock.now()
    runs_before = now - timedelta(seconds=settings.prune_sync_runs_after_seconds)
    async with db.engine.begin() as conn:
        # Job ages are procrastinate's times: compared with PostgreSQL's clock, never
        # with spacecal's (DESIGN, Time).
        jobs = await conn.execute(_DELETE_JOBS, {"age": settings.prune_jobs_after_seconds})
        runs = await conn.execute(delete(SyncRun).where(SyncRun.started_at < runs_before))
    return Pruned(jobs=jobs.rowcount or 0, sync_runs=runs.rowcount or 0)
