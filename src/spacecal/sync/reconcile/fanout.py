"""Blocks-only reconciles written together: one booking change queues one per
calendar of the resource (sync/intake/dispatch.py), hundreds of tiny jobs. The first
to run claims the others still queued (jobs/batch.py: each under its own account's
job lock, exactly as procrastinate's fetch would, so no calendar's blocks are written
beside a pull of it) and writes `block_fanout_concurrency` calendars at once: the job
overhead and the waits on the providers and the database are shared instead of paid
one calendar after another (docs/performance.md, "Availability fan-out"). Their
first reads are one for the batch too (`prefetch`): the starts of all of them in one
statement, and the blocks of those in good standing in two.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from spacecal import clock
from spacecal.jobs import names
from spacecal.jobs.batch import Claimed, claim, current_job, finish
from spacecal.jobs.reconcile import BLOCKS_QUEUEING_PREFIX
from spacecal.sync.reconcile.blocks import Loaded, load_blocks
from spacecal.sync.reconcile.start import Start, read_starts, skips_pull
from spacecal.sync.runtime import SyncRuntime

log = logging.getLogger("spacecal.sync")

#: A blocks-only pass's first reads, done for its whole batch: its start (None: the
#: connection is gone) and its blocks (None: it reads them itself).
Prefetched = tuple[Start | None, Loaded | None]


async def prefetch(rt: SyncRuntime, connection_ids: list[int]) -> dict[int, Prefetched]:
    """The starts of `connection_ids` and the blocks of those a blocks-only pass will
    write without a pull: three statements for the batch instead of three each."""
    now = clock.now()
    starts = await read_starts(
        rt.db.reads, connection_ids, now, rt.settings.block_put_backs_per_hour
    )
    ready = [
        s.target
        for s in starts.values()
        if skips_pull(s) and not s.pending_blocks and s.target.coworker_id is not None
    ]
    loaded: dict[int, Loaded] = {}
    if ready:
        async with rt.db.reads.connect() as conn:
            loaded = await load_blocks(conn, ready, now)
    return {cid: (starts.get(cid), loaded.get(cid)) for cid in connection_ids}


async def write_blocks_together(
    rt: SyncRuntime,
    connection_id: int,
    write: Callable[[int, Prefetched | None], Awaitable[None]],
) -> None:
    """`write(connection_id, its prefetch)` (a blocks-only reconcile), and the same for up to
    `block_fanout_batch` - 1 claimed jobs, `block_fanout_concurrency` at once. A claimed
    job ends failed only when its write raised (a reconcile records its own failures
    and returns); a worker dying midway leaves the claimed jobs to the stalled-job
    recovery, which queues a full reconcile for each."""
    settings = rt.settings
    me = current_job()
    claimed: list[Claimed] = []
    if me is not None and me.worker_id is not None and settings.block_fanout_batch > 1:
        try:
            async with rt.db.engine.begin() as conn:
                claimed = await claim(
                    conn,
                    names.RECONCILE,
                    BLOCKS_QUEUEING_PREFIX,
                    limit=settings.block_fanout_batch - 1,
                    worker_id=me.worker_id,
                )
        except Exception:
            # Nothing claimed (the transaction rolled back): this job's own calendar
            # is still written; the others run as the worker fetches them.
            log.exception("claiming queued blocks-only reconciles failed")
            claimed = []
    ids = [connection_id] + [
        c.args["connection_id"] for c in claimed if _is_id(c.args.get("connection_id"))
    ]
    try:
        prefetched = await prefetch(rt, ids)
    except Exception:
        # Each pass then reads for itself (and meets the failure on its own).
        log.exception("reading a batch of blocks-only reconciles failed")
        prefetched = {}
    gate = asyncio.Semaphore(settings.block_fanout_concurrency)

    async def one(cid: object, job_id: int | None) -> None:
        ok = False
        try:
            if not _is_id(cid):
                raise ValueError("a blocks-only job without a connection id")
            assert isinstance(cid, int)
            async with gate:
                await write(cid, prefetched.get(cid))
            ok = True
        finally:
            # Each claimed job ends as soon as its own write does, even when this job
            # is cancelled: while `doing` it holds its account's lock, and a live
            # worker's jobs are never recovered as stalled.
            if job_id is not None:
                await asyncio.shield(_finish(rt, job_id, ok))

    done = await asyncio.gather(
        one(connection_id, None),
        *(one(c.args.get("connection_id"), c.id) for c in claimed),
        return_exceptions=True,
    )
    for c, result in zip(claimed, done[1:], strict=True):
        if isinstance(result, BaseException):
            log.error("a claimed blocks-only reconcile failed (job %s)", c.id, exc_info=result)
    if isinstance(done[0], BaseException):
        raise done[0]


async def _finish(rt: SyncRuntime, job_id: int, ok: bool) -> None:
    """End one claimed job; a second try after a failed one (a blip must not leave it
    `doing`, holding its account's lock until the worker restarts)."""
    for attempt in (1, 2):
        try:
            async with rt.db.reads.connect() as conn:  # one statement: autocommit
                await finish(conn, [(job_id, ok)])
            return
        except Exception:
            if attempt == 2:
                log.exception("could not finish claimed job %s", job_id)


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
