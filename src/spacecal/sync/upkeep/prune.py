"""Pruning: finished jobs and old sync history do not pile up for months.

Both ages are settings (`prune_jobs_after_seconds`, `prune_sync_runs_after_seconds`).
Only finished jobs go (succeeded, failed, cancelled, aborted): a queued or running
job is a trigger that must not be lost. A job's age is measured with PostgreSQL's
`now()`, the clock procrastinate stamps its events and schedules with (DESIGN, Time):
spacecal's injectable clock does not move those. Sync history is spacecal's own
table, stamped by spacecal's clock, and is aged by it. A request budget's row
(`request_pace`) whose time has passed holds nothing a fresh row would not: those of
an hour ago go (accounts come and go).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete

from spacecal import clock, jobs
from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.db.models import RequestPace, SyncRun
from spacecal.jobs import names, status
from spacecal.sync.runtime import SyncRuntime

log = logging.getLogger("spacecal.prune")


@dataclass
class Pruned:
    jobs: int
    sync_runs: int


async def prune(db: Database, settings: Settings) -> Pruned:
    now = clock.now()
    runs_before = now - timedelta(seconds=settings.prune_sync_runs_after_seconds)
    async with db.engine.begin() as conn:
        pruned_jobs = await status.prune_finished(
            conn, older_than_seconds=settings.prune_jobs_after_seconds
        )
        runs = await conn.execute(delete(SyncRun).where(SyncRun.started_at < runs_before))
        await conn.execute(
            delete(RequestPace).where(RequestPace.pace_at < now - timedelta(hours=1))
        )
    return Pruned(jobs=pruned_jobs, sync_runs=runs.rowcount or 0)


@jobs.periodic_task(names.PRUNE, periodic_id="prune", schedule=lambda _: "17 * * * *")
async def prune_task(rt: SyncRuntime) -> None:
    pruned = await prune(rt.db, rt.settings)
    log.info("pruned %d job(s), %d sync run(s)", pruned.jobs, pruned.sync_runs)
