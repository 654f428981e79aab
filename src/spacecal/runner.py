"""Running spacecal's processes: the API (with or without an in-process worker) and a
worker alone. Each builds one services object (spacecal.app.build_services: database,
HTTP client, providers) that the API and the in-process worker share, and stops cleanly
on SIGINT/SIGTERM: the worker finishes or abandons its job (it is found by the
stalled-job recovery), HTTP connections close, the database pool is disposed.

A worker is jobs/'s worker plus what runs beside it: the notification dispatcher
(which also drains the job outbox). Tasks register with jobs/ where they are
defined (`@jobs.task`), so they exist only once their module is imported: this
entry point imports every such module (TASK_MODULES) rather than jobs/ importing
them by name, because jobs/ sits below sync/ and outbound/ and may not import
them, and an explicit import is what the layout test and mypy can see. jobs/
refuses to build an app with a stored task name unregistered, so a module missing
here fails at start, not when its first job runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from datetime import timedelta
from typing import Any

import uvicorn

from spacecal import clock
from spacecal.app import build_services, create_app
from spacecal.config import Settings
from spacecal.db.engine import open_database
from spacecal.jobs import worker as job_worker
from spacecal.jobs.status import job_counts
from spacecal.mail import horizon as mail_horizon
from spacecal.mail import jobs as mail_jobs
from spacecal.mail import sender as mail_sender
from spacecal.mail.receiver import run_receiver
from spacecal.metrics import serve_metrics
from spacecal.outbound import tasks as outbound_tasks
from spacecal.sync.accounts import waiting
from spacecal.sync.intake.dispatch import dispatch_all, run_dispatcher
from spacecal.sync.reconcile import task as reconcile_tasks
from spacecal.sync.reconcile import verify as calendar_marks
from spacecal.sync.runtime import SyncRuntime
from spacecal.sync.upkeep import keepalive, keepalive_pass, orphan_channels, prune, sweep
from spacecal.web.guard import guarded_protocol

#: Every module that registers job tasks (imported above for their registrations).
TASK_MODULES = (
    reconcile_tasks,
    calendar_marks,
    keepalive,
    keepalive_pass,
    orphan_channels,
    sweep,
    prune,
    waiting,
    outbound_tasks,
    mail_jobs,
    mail_sender,
    mail_horizon,
)

log = logging.getLogger("spacecal.runner")


async def run_worker(
    rt: SyncRuntime,
    *,
    concurrency: int | None = None,
    wait: bool = True,
    periodic: bool = True,
    **options: Any,
) -> None:
    """Run a worker until cancelled (or, with wait=False, until the queue is empty),
    with the notification dispatcher (sync/intake/dispatch.py) beside it: as a loop while
    waiting; once, before the jobs, with wait=False."""
    batch = rt.settings.dispatch_batch_size
    dispatcher: asyncio.Task[None] | None = None
    if wait:
        dispatcher = asyncio.create_task(
            run_dispatcher(
                rt.db.engine,
                batch=batch,
                poll_seconds=rt.settings.dispatch_poll_seconds,
                settle=rt.settings.block_settle_seconds,
                settle_max=rt.settings.block_settle_max_seconds,
            ),
            name="spacecal-dispatcher",
        )
    else:
        await dispatch_all(rt.db.engine, batch=batch)
    try:
        await job_worker.run_worker(
            rt, concurrency=concurrency, wait=wait, periodic=periodic, **options
        )
    finally:
        if dispatcher is not None:
            dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await dispatcher


async def keep_working(rt: SyncRuntime, *, concurrency: int | None = None) -> None:
    """Run the job worker until cancelled, starting it again whenever it stops on its
    own: procrastinate stops a worker when a side task fails (its LISTEN connection
    or heartbeat write dies with the database), and a worker process that no longer
    runs jobs must not outlive a database restart silently."""
    delay = 1.0
    while True:
        began = time.monotonic()
        try:
            await run_worker(
                rt,
                concurrency=concurrency,
                fetch_job_polling_interval=rt.settings.worker_poll_seconds,
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the job worker failed")
        if time.monotonic() - began > 60:
            delay = 1.0
        log.warning("the job worker stopped; starting it again in %.0f s", delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 30.0)


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


def shift_clock(settings: Settings) -> None:
    """Apply SPACECAL_CLOCK_OFFSET_SECONDS to this process's clock (spacecal.clock)."""
    if settings.clock_offset_seconds:
        clock.clock.advance(timedelta(seconds=settings.clock_offset_seconds))


async def serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    worker: bool,
    log_level: str = "info",
    smtp: bool = False,
) -> None:
    """`smtp`: receive mail in this process too (`serve --smtp`: single-process installs
    and the demo; only one process may bind SPACECAL_SMTP_LISTEN)."""
    shift_clock(settings)
    db = await open_database(settings)
    # One services object for the web parts and the in-process worker (spacecal.app).
    services = build_services(settings, db)
    worker_task: asyncio.Task[None] | None = None
    smtp_task: asyncio.Task[None] | None = None
    try:
        app = create_app(services=services)
        if worker:
            worker_task = asyncio.create_task(keep_working(services), name="spacecal-worker")
        if smtp:
            smtp_task = asyncio.create_task(run_receiver(db.engine, settings), name="spacecal-smtp")
        # log_config=None: uvicorn's own lines go through spacecal's handler (spacecal.logs).
        # http: httptools with a deadline and a size for each request's headers and a
        # deadline for its body (web/guard.py); bodies are limited in the app (web/limits.py).
        config = uvicorn.Config(
            app,
            http=guarded_protocol(settings),
            host=host,
            port=port,
            log_level=log_level,
            access_log=False,
            lifespan="on",
            log_config=None,
            # X-Forwarded-For only from SPACECAL_TRUSTED_PROXIES (uvicorn's own default
            # trusts 127.0.0.1, so a local client could pick its limiter address).
            proxy_headers=bool(settings.trusted_proxies.strip()),
            forwarded_allow_ips=settings.trusted_proxies.strip() or None,
        )
        await uvicorn.Server(config).serve()
    finally:
        await _cancel(smtp_task)
        await _cancel(worker_task)
        await services.http.aclose()
        await db.dispose()


async def work(
    settings: Settings, *, concurrency: int | None = None, metrics_port: int | None = None
) -> None:
    """A worker process: runs jobs until SIGINT/SIGTERM; with `metrics_port`, serves its
    Prometheus /metrics there too (its counters are its own: spacecal.metrics)."""
    shift_clock(settings)
    db = await open_database(settings)
    services = build_services(settings, db)
    rt: SyncRuntime = services
    # A job queued behind its account's running job is only picked up by polling
    # (procrastinate wakes workers on inserts only): poll often (config.py).
    task = asyncio.create_task(keep_working(rt, concurrency=concurrency), name="spacecal-worker")
    metrics_task: asyncio.Task[None] | None = None
    if metrics_port is not None:
        metrics_task = asyncio.create_task(
            serve_metrics(
                db.engine, settings.worker_metrics_host, metrics_port, job_counts=job_counts
            ),
            name="spacecal-worker-metrics",
        )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        await _cancel(metrics_task)
        await services.http.aclose()
        await db.dispose()


async def receive_mail(settings: Settings) -> None:
    """`spacecal mail`: the SMTP receiver alone, until SIGINT/SIGTERM. It stores each
    message and queues its job; workers process them."""
    shift_clock(settings)
    db = await open_database(settings)
    task = asyncio.create_task(run_receiver(db.engine, settings), name="spacecal-smtp")
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        await db.dispose()
