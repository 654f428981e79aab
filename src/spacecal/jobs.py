"""The procrastinate app: its tasks, its periodic schedules, and running a worker.

Tasks are thin: each hands its argument to a plain function in `spacecal.sync`,
with the process's `SyncRuntime` from the worker's context. Job rules (DESIGN,
Jobs): reconcile runs under `lock` = provider account and `queueing_lock` =
connection, and uses no procrastinate `retry` (backoff is a new deferral or the
connection's `retry_at`, see sync/reconcile/task.py). Jobs are deferred in the caller's
own transaction (sync/queue.py), so the task name here must match that module.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx2
import procrastinate
from procrastinate import JobContext
from sqlalchemy import and_, or_, select

from spacecal import clock, metrics
from spacecal.config import Settings
from spacecal.db.models import Connection, ProviderAccount
from spacecal.db.url import to_libpq
from spacecal.logs import bind_trace
from spacecal.outbound import tasks as outbound_tasks
from spacecal.outbound.actions import DELIVER_TASK
from spacecal.outbound.actions import QUEUE as OUTBOUND_QUEUE
from spacecal.outbound.delivery import defer_delivery
from spacecal.providers.base import CalendarProvider
from spacecal.providers.registry import build_provider
from spacecal.sync.intake.dispatch import dispatch_all, run_dispatcher
from spacecal.sync.queue import QUEUE, RECONCILE_TASK, defer_reconcile, refresh_queue_statistics
from spacecal.sync.reconcile.task import reconcile
from spacecal.sync.runtime import SyncRuntime
from spacecal.sync.upkeep.keepalive import KEEPALIVE_TASK, keepalive_connection, keepalive_pass
from spacecal.sync.upkeep.orphans import STOP_ORPHANS_TASK, stop_orphans
from spacecal.sync.upkeep.prune import prune
from spacecal.sync.upkeep.sweep import behind

log = logging.getLogger("spacecal.jobs")

SWEEP_TASK = "spacecal.sweep"
RECOVER_TASK = "spacecal.recover_stalled"
RENEWAL_TASK = "spacecal.renewal"  # the keep-alive pass (renewal, lifecycle, window, renames)
PRUNE_TASK = "spacecal.prune"


def _runtime(context: JobContext) -> SyncRuntime:
    runtime = (context.additional_context or {}).get("runtime")
    assert isinstance(runtime, SyncRuntime), "the worker was started without a runtime"
    return runtime


async def reconcile_task(context: JobContext, connection_id: int, trace: str | None = None) -> None:
    """`trace`: the trace id of the first notification behind this job (sync/intake/dispatch.py),
    absent for jobs from other triggers (they get a new one). Bound for the run, so the
    reconciles this one defers carry it on (sync/queue.py)."""
    rt = _runtime(context)
    with bind_trace(trace):
        async with metrics.timed_sync(rt.db.engine, connection_id) as timer:
            outcome = await reconcile(rt, connection_id)
            timer.outcome = outcome.status
        log.info(
            "reconcile %s: %s (pulled %d, wrote %d%s)",
            connection_id,
            outcome.status,
            outcome.pulled,
            outcome.writes,
            ", full" if outcome.full else "",
            extra={"connection_id": connection_id},
        )


async def keepalive_task(context: JobContext, connection_id: int) -> None:
    with bind_trace(None):
        outcome = await keepalive_connection(_runtime(context), connection_id)
        log.info("keep-alive %s: %s", connection_id, outcome)


async def stop_orphans_task(context: JobContext, account_id: int) -> None:
    stopped = await stop_orphans(_runtime(context), account_id)
    if stopped:
        log.info("stopped %d subscription(s) of deleted connections", stopped)


async def sweep(rt: SyncRuntime) -> int:
    """Queue a reconcile for every connection that is due: quiet for longer than the
    sweep span (a lost notification is recovered within it; calendars that cannot be
    watched use the shorter poll interval), with bookings its calendar copy is behind
    on, or whose failure backoff has passed. Returns how many were newly queued."""
    now = clock.now()
    quiet = or_(
        and_(
            Connection.push_supported,
            or_(
                Connection.last_sync_at.is_(None),
                Connection.last_sync_at < now - timedelta(seconds=rt.settings.sweep_quiet_seconds),
            ),
            or_(
                Connection.last_notification_at.is_(None),
                Connection.last_notification_at
                < now - timedelta(seconds=rt.settings.sweep_quiet_seconds),
            ),
        ),
        and_(
            Connection.push_supported.is_(False),
            or_(
                Connection.last_sync_at.is_(None),
                Connection.last_sync_at
                < now - timedelta(seconds=rt.settings.poll_interval_seconds),
            ),
        ),
        behind(now),
    )
    async with rt.db.engine.begin() as conn:
        rows = (
            await conn.execute(
                select(Connection.id, Connection.provider_account_id)
                .join(ProviderAccount, ProviderAccount.id == Connection.provider_account_id)
                .where(
                    ProviderAccount.status == "active",
                    Connection.calendar_id.is_not(None),
                    or_(
                        Connection.retry_at <= now,
                        and_(Connection.retry_at.is_(None), quiet),
                    ),
                )
                .order_by(Connection.id)
            )
        ).all()
        queued = 0
        for connection_id, account_id in rows:
            if await defer_reconcile(conn, connection_id, account_id, priority=-1):
                queued += 1
    await refresh_queue_statistics(rt.db.engine, queued)
    return queued


async def recover_stalled(
    rt: SyncRuntime, app: procrastinate.App, *, alive_worker: int | None = None
) -> int:
    """Jobs left 'doing' by a worker that died: fail them and queue a fresh reconcile
    (a procrastinate retry would collide with the queued job's queueing lock).
    `alive_worker`, the worker running this recovery, is alive by definition: right
    after a database outage its own heartbeat looks stale too, and failing its jobs
    (this one included) would start a second sync of a calendar beside the first."""
    stalled = await app.job_manager.get_stalled_jobs(
        seconds_since_heartbeat=rt.settings.stalled_job_seconds
    )
    recovered = 0
    for job in stalled:
        assert job.id is not None
        if alive_worker is not None and job.worker_id == alive_worker:
            continue
        await app.job_manager.finish_job_by_id_async(
            job.id, status=procrastinate.jobs.Status.FAILED, delete_job=False
        )
        connection_id = job.task_kwargs.get("connection_id")
        if job.task_name == RECONCILE_TASK and isinstance(connection_id, int):
            async with rt.db.engine.begin() as conn:
                account = await conn.scalar(
                    select(Connection.provider_account_id).where(Connection.id == connection_id)
                )
                await defer_reconcile(conn, connection_id, account)
        elif job.task_name == DELIVER_TASK:
            # Cut short, it may or may not have reached the receiver: send it again.
            async with rt.db.engine.begin() as conn:
                await defer_delivery(conn, dict(job.task_kwargs))
        recovered += 1
    return recovered


def every(seconds: int) -> str:
    """A cron schedule running every `seconds` (under a minute: procrastinate's
    six-field cron, seconds last; otherwise whole minutes, at most hourly)."""
    if seconds < 60:
        return f"* * * * * */{seconds}"
    minutes = seconds // 60
    return "0 * * * *" if minutes >= 60 else f"*/{minutes} * * * *"


def make_app(
    url: str, *, pool_size: int = 4, periodic: bool = True, settings: Settings | None = None
) -> procrastinate.App:
    """The procrastinate app on `url` (a libpq URL), with spacecal's tasks; `periodic`
    False leaves out the schedules (tests drive the sweep themselves). The sweep and
    stalled-job recovery run as often as `settings` say (defaults otherwise)."""
    settings = settings or Settings()
    connector = procrastinate.PsycopgConnector(
        conninfo=to_libpq(url), min_size=1, max_size=pool_size
    )
    app = procrastinate.App(connector=connector)
    app.task(name=RECONCILE_TASK, queue=QUEUE, pass_context=True)(reconcile_task)

    async def sweep_task(context: JobContext, timestamp: int) -> None:
        queued = await sweep(_runtime(context))
        if queued:
            log.info("sweep queued %d reconcile(s)", queued)

    async def recover_task(context: JobContext, timestamp: int) -> None:
        recovered = await recover_stalled(
            _runtime(context), app, alive_worker=context.job.worker_id
        )
        if recovered:
            log.warning("recovered %d stalled job(s)", recovered)

    async def renewal_task(context: JobContext, timestamp: int) -> None:
        queued = await keepalive_pass(_runtime(context))
        if queued:
            log.info("keep-alive pass queued %d connection(s)", queued)

    async def prune_task(context: JobContext, timestamp: int) -> None:
        rt = _runtime(context)
        pruned = await prune(rt.db, rt.settings)
        log.info("pruned %d job(s), %d sync run(s)", pruned.jobs, pruned.sync_runs)

    # Per-connection keep-alive work: lock = account, queueing lock = renew:{id}
    # (sync/upkeep/keepalive.py defers it with procrastinate's SQL; no retry).
    app.task(name=KEEPALIVE_TASK, queue=QUEUE, pass_context=True)(keepalive_task)
    app.task(name=STOP_ORPHANS_TASK, queue=QUEUE, pass_context=True)(stop_orphans_task)
    outbound_tasks.register(app)  # webhook deliveries, queue "outbound"
    sweep_job = app.task(name=SWEEP_TASK, queue=QUEUE, pass_context=True)(sweep_task)
    recover_job = app.task(name=RECOVER_TASK, queue=QUEUE, pass_context=True)(recover_task)
    renewal_job = app.task(name=RENEWAL_TASK, queue=QUEUE, pass_context=True)(renewal_task)
    prune_job = app.task(name=PRUNE_TASK, queue=QUEUE, pass_context=True)(prune_task)
    if periodic:
        app.periodic(cron=every(settings.sweep_every_seconds), periodic_id="sweep")(sweep_job)
        app.periodic(cron=every(settings.recover_every_seconds), periodic_id="recover")(recover_job)
        app.periodic(cron="* * * * *", periodic_id="renewal")(renewal_job)
        app.periodic(cron="17 * * * *", periodic_id="prune")(prune_job)
    return app


def production_providers(
    settings: Settings,
) -> tuple[Callable[[str], CalendarProvider], httpx2.AsyncClient]:
    """Adapters with one real HTTP client, built on first use (and cached)."""
    client = httpx2.AsyncClient(timeout=settings.provider_timeout_seconds)
    cache: dict[str, CalendarProvider] = {}

    def provider_for(name: str) -> CalendarProvider:
        if name not in cache:
            cache[name] = build_provider(name, settings, client)
        return cache[name]

    return provider_for, client


async def _fetch_again_when_done(
    call_next: Callable[[], Awaitable[Any]], context: JobContext, worker: Any
) -> Any:
    """Worker middleware. A job queued behind this one's lock (the same account) is
    not woken when this one ends (procrastinate notifies inserts only), so it would
    wait for the next poll. Once this job's status is stored (its task is done), this
    worker fetches again at once."""
    job_task = asyncio.current_task()
    wake = getattr(worker, "_new_job_event", None)  # procrastinate's own wake-up
    if job_task is not None and isinstance(wake, asyncio.Event):
        job_task.add_done_callback(lambda _: wake.set())
    return await call_next()


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
    app = make_app(rt.db.url, periodic=periodic, settings=rt.settings)
    # A dead worker's jobs are found through its missing heartbeat (recover_stalled).
    options.setdefault("update_heartbeat_interval", rt.settings.worker_heartbeat_seconds)
    options.setdefault("stalled_worker_timeout", rt.settings.stalled_job_seconds)
    batch = rt.settings.dispatch_batch_size
    dispatcher: asyncio.Task[None] | None = None
    if wait:
        dispatcher = asyncio.create_task(
            run_dispatcher(
                rt.db.engine, batch=batch, poll_seconds=rt.settings.dispatch_poll_seconds
            ),
            name="spacecal-dispatcher",
        )
    else:
        await dispatch_all(rt.db.engine, batch=batch)
    try:
        async with app.open_async():
            await app.run_worker_async(
                queues=[QUEUE, OUTBOUND_QUEUE],
                concurrency=concurrency or rt.settings.worker_concurrency,
                additional_context={"runtime": rt},
                install_signal_handlers=False,
                wait=wait,
                worker_middleware=[_fetch_again_when_done],
                **options,
            )
    finally:
        if dispatcher is not None:
            dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await dispatcher
