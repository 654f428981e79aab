"""Running a procrastinate worker on the registered tasks.

What runs beside the worker (the notification dispatcher, which also drains the
job outbox) belongs to the layer that knows it: spacecal.runner starts it and
imports the modules that register tasks (see its TASK_MODULES).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from procrastinate import JobContext

from spacecal.jobs import names
from spacecal.jobs.app import make_app
from spacecal.jobs.internals import new_job_event
from spacecal.jobs.registry import Runtime


async def _fetch_again_when_done(
    call_next: Callable[[], Awaitable[Any]], context: JobContext, worker: Any
) -> Any:
    """Worker middleware. A job queued behind this one's lock (the same account) is
    not woken when this one ends (procrastinate notifies inserts only), so it would
    wait for the next poll. Once this job's status is stored (its task is done), this
    worker fetches again at once."""
    job_task = asyncio.current_task()
    wake = new_job_event(worker)
    if job_task is not None and wake is not None:
        job_task.add_done_callback(lambda _: wake.set())
    return await call_next()


async def run_worker(
    rt: Runtime,
    *,
    concurrency: int | None = None,
    wait: bool = True,
    periodic: bool = True,
    **options: Any,
) -> None:
    """Run a worker on every queue until cancelled (or, with wait=False, until the
    queue is empty). `rt` is handed to every task as its runtime."""
    app = make_app(rt.db.url, periodic=periodic, settings=rt.settings)
    # A dead worker's jobs are found through its missing heartbeat (recover_stalled).
    options.setdefault("update_heartbeat_interval", rt.settings.worker_heartbeat_seconds)
    options.setdefault("stalled_worker_timeout", rt.settings.stalled_job_seconds)
    async with app.open_async():
        await app.run_worker_async(
            queues=list(names.QUEUES),
            concurrency=concurrency or rt.settings.worker_concurrency,
            additional_context={"runtime": rt},
            install_signal_handlers=False,
            wait=wait,
            worker_middleware=[_fetch_again_when_done],
            **options,
        )
