"""Schedules, and the recovery of jobs a dead worker left running.

Periodic tasks use procrastinate's periodic decorator (DESIGN, Jobs); their
schedules come from the settings through `every`. Stalled jobs are marked failed
and re-deferred by their task's own `on_stalled` (jobs/registry.py): a
procrastinate retry would collide with the queued job's queueing lock.
"""

from __future__ import annotations

import procrastinate

from spacecal.jobs.registry import Runtime, every, registered

__all__ = ["every", "recover_stalled"]


async def recover_stalled(
    rt: Runtime, app: procrastinate.App, *, alive_worker: int | None = None
) -> int:
    """Jobs left 'doing' by a worker that died: fail them and let their task queue a
    fresh one (`on_stalled`). `alive_worker`, the worker running this recovery, is
    alive by definition: right after a database outage its own heartbeat looks
    stale too, and failing its jobs (this one included) would start a second sync
    of a calendar beside the first."""
    stalled = await app.job_manager.get_stalled_jobs(
        seconds_since_heartbeat=rt.settings.stalled_job_seconds
    )
    tasks = registered()
    recovered = 0
    for job in stalled:
        assert job.id is not None
        if alive_worker is not None and job.worker_id == alive_worker:
            continue
        await app.job_manager.finish_job_by_id_async(
            job.id, status=procrastinate.jobs.Status.FAILED, delete_job=False
        )
        spec = tasks.get(job.task_name)
        if spec is not None and spec.on_stalled is not None:
            async with rt.db.engine.begin() as conn:
                await spec.on_stalled(conn, dict(job.task_kwargs))
        recovered += 1
    return recovered
