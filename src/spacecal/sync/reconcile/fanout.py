"""Blocks-only reconciles written together: one booking change queues one per
calendar of the resource (sync/intake/dispatch.py), hundreds of tiny jobs. The first
to run claims the others still queued (jobs/batch.py: each under its own account's
job lock, exactly as procrastinate's fetch would, so no calendar's blocks are written
beside a pull of it) and writes `block_fanout_concurrency` calendars at once: the job
overhead and the waits on the providers and the database are shared instead of paid
one calendar after another (docs/performance.md, "Availability fan-out").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from spacecal.jobs import names
from spacecal.jobs.batch import Claimed, claim, current_job, finish
from spacecal.jobs.reconcile import BLOCKS_QUEUEING_PREFIX
from spacecal.sync.runtime import SyncRuntime

log = logging.getLogger("spacecal.sync")


async def write_blocks_together(
    rt: SyncRuntime, connection_id: int, write: Callable[[int], Awaitable[None]]
) -> None:
    """`write(connection_id)` (a blocks-only reconcile), and the same for up to
    `block_fanout_batch` - 1 claimed jobs, `block_fanout_concurrency` at once. A claimed
    job ends failed only when its write raised (a reconcile records its own failures
    and returns); a worker dying midway leaves the claimed jobs to the stalled-job
    recovery, which queues a full reconcile for each."""
    settings = rt.settings
    me = current_job()
    claimed: list[Claimed] = []
    if me is not None and me.worker_id is not None and settings.block_fanout_batch > 1:
        async with rt.db.engine.begin() as conn:
            claimed = await claim(
                conn,
                names.RECONCILE,
                BLOCKS_QUEUEING_PREFIX,
                limit=settings.block_fanout_batch - 1,
                worker_id=me.worker_id,
            )
    gate = asyncio.Semaphore(settings.block_fanout_concurrency)

    async def one(cid: object) -> None:
        if not isinstance(cid, int) or isinstance(cid, bool):
            raise ValueError("a blocks-only job without a connection id")
        async with gate:
            await write(cid)

    ids = [connection_id, *(c.args.get("connection_id") for c in claimed)]
    done = await asyncio.gather(*(one(cid) for cid in ids), return_exceptions=True)
    for cid, result in zip(ids[1:], done[1:], strict=True):
        if isinstance(result, BaseException):
            log.error("a claimed blocks-only reconcile failed (%s)", cid, exc_info=result)
    if claimed:
        async with rt.db.engine.begin() as conn:
            await finish(
                conn,
                [
                    (c.id, not isinstance(d, BaseException))
                    for c, d in zip(claimed, done[1:], strict=True)
                ],
            )
    if isinstance(done[0], BaseException):
        raise done[0]
