"""Taking more queued jobs of the same kind into a running job, under their own locks.

A blocks-only reconcile (sync/reconcile/fanout.py) costs little beyond the job around
it, and one booking change queues one per calendar of the resource: hundreds of tiny
jobs, each fetched, started and finished on its own. The job that runs first claims
the others still queued (`claim`), exactly as procrastinate's own fetch would hand
them to a worker: status `doing` with this worker's id, only where no job with the
same lock runs or waits ahead (`procrastinate_fetch_job_v2`'s rule), so each account's
lock still means one sync per mailbox at a time: while a claimed job is `doing`, no
other job of its account starts. `finish` ends them as procrastinate does, each as
soon as its own write is over (sync/reconcile/fanout.py), even when the claiming job
is cancelled: a live worker's jobs are never recovered as stalled, so a claimed job
left `doing` would hold its account until the worker restarts. A worker
that dies with claimed jobs leaves them `doing` under its id: the stalled-job
recovery (jobs/periodic.py) finds them by the missing heartbeat, like its own job.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal.jobs import sql


@dataclass(frozen=True)
class RunningJob:
    id: int
    worker_id: int | None


@dataclass(frozen=True)
class Claimed:
    id: int
    args: dict[str, Any]


_running: contextvars.ContextVar[RunningJob | None] = contextvars.ContextVar(
    "spacecal_running_job", default=None
)


@contextmanager
def running(job: RunningJob) -> Iterator[None]:
    """Make `job` the one `current_job()` names while its task runs (jobs/app.py)."""
    token = _running.set(job)
    try:
        yield
    finally:
        _running.reset(token)


def current_job() -> RunningJob | None:
    """The job whose task is running here, or None (a direct call, a test)."""
    return _running.get()


async def claim(
    conn: AsyncConnection, task: str, queueing_prefix: str, *, limit: int, worker_id: int
) -> list[Claimed]:
    """Up to `limit` runnable queued jobs of `task` whose queueing lock starts with
    `queueing_prefix`, now `doing` for `worker_id` (commit `conn` before working)."""
    if limit <= 0:
        return []
    rows = await conn.execute(
        sql.CLAIM_QUEUED,
        {
            "task": task,
            "prefix": queueing_prefix.replace("\\", "\\\\").replace("%", "\\%") + "%",
            "n": limit,
            "worker": worker_id,
        },
    )
    return [Claimed(int(r.id), dict(r.args)) for r in rows]


async def finish(conn: AsyncConnection, outcomes: Sequence[tuple[int, bool]]) -> None:
    """End claimed jobs: (job id, succeeded) each."""
    if outcomes:
        await conn.execute(
            sql.FINISH_CLAIMED,
            {
                "ids": [job_id for job_id, _ in outcomes],
                "statuses": ["succeeded" if ok else "failed" for _, ok in outcomes],
            },
        )
