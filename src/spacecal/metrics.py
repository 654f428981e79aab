"""Process metrics (Prometheus). Labels are small closed sets: never an id or a secret.

Counters and histograms live in the process that does the work: the API process
counts notifications, a worker counts syncs, renewals, refusals, provider errors and
token refreshes (an API process with an in-process worker counts both). Each process
exposes its own registry: the API at `/metrics`, a separate `spacecal worker` with
`--metrics-port` (docs/operations.md). The queue gauges are read from the database at
scrape time, so any process shows the same, current value.

Code elsewhere calls the one-line helpers below, so the metric names and label sets
are defined here only.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

NOTIFICATIONS = Counter(
    "spacecal_webhook_notifications_total",
    "Provider notifications received, by provider and outcome.",
    ["provider", "outcome"],
)
SYNC_DURATION = Histogram(
    "spacecal_sync_duration_seconds",
    "Wall time of one reconcile of one calendar, by provider and outcome.",
    ["provider", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
SYNC_LAG = Histogram(
    "spacecal_sync_lag_seconds",
    "From the latest provider notification before a sync to the end of that sync "
    "(how long a change in a calendar waits to be in the booking store).",
    ["provider"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
)
RENEWALS = Counter(
    "spacecal_renewals_total",
    "Push channel/subscription keep-alive: renewed, recovered (subscribed anew), "
    "push_not_supported, failed; by provider.",
    ["provider", "outcome"],
)
REFUSALS = Counter(
    "spacecal_refusals_total",
    "Calendar changes the space refused (marked or put back), by provider.",
    ["provider"],
)
PROVIDER_ERRORS = Counter(
    "spacecal_provider_errors_total",
    "Failed provider API answers, by provider and HTTP status.",
    ["provider", "status"],
)
REQUESTS_PACED = Counter(
    "spacecal_requests_paced_total",
    "Provider requests that waited for a request budget (sync/pacing.py), by provider, "
    "budget (account, project) and how (waited in process, deferred the reconcile).",
    ["provider", "budget", "how"],
)
REQUEST_PACE_WAIT = Counter(
    "spacecal_request_pace_wait_seconds_total",
    "Seconds provider requests waited for a request budget, by provider.",
    ["provider"],
)
TOKEN_REFRESHES = Counter(
    "spacecal_token_refreshes_total",
    "Access-token refreshes, by provider and outcome (ok, revoked).",
    ["provider", "outcome"],
)
QUEUE_JOBS = Gauge(
    "spacecal_queue_jobs",
    "Jobs in the queue now, by status (todo = waiting, doing = running); read from the "
    "database at scrape time.",
    ["status"],
)
QUEUE_MARKS = Gauge(
    "spacecal_queue_marked_connections",
    "Connections notified but not yet turned into a reconcile job (webhook marks); read "
    "from the database at scrape time.",
)
QUEUE_OLDEST = Gauge(
    "spacecal_queue_oldest_mark_age_seconds",
    "Age of the oldest webhook mark not yet dispatched (0 when none).",
)
MAIL_PROCESSED = Counter(
    "spacecal_mail_messages_total",
    "Received invitation messages processed by this process, by outcome (booked, "
    "updated, cancelled, declined, ignored, refused-sender, malformed, ...).",
    ["outcome"],
)
MAIL_REFUSED = Counter(
    "spacecal_mail_refused_recipients_total",
    "SMTP recipients refused at RCPT by this receiver: unknown (550), outside the mail "
    "domain (relay, 550), or unavailable (451, database down).",
    ["reason"],
)
MAIL_KEPT = Gauge(
    "spacecal_mail_kept_messages",
    "Received messages still kept (SPACECAL_MAIL_KEEP_DAYS), by outcome (queued = not yet "
    "processed); read from the database at scrape time.",
    ["outcome"],
)
SCRAPE_ERRORS = Counter(
    "spacecal_metrics_database_errors_total",
    "Scrapes whose queue gauges could not be read from the database (timeout, error).",
)


# --- one-line helpers for the code that does the work -----------------------------


def notification(provider: str, outcome: str, count: int = 1) -> None:
    NOTIFICATIONS.labels(provider, outcome).inc(count)


def renewal(provider: str, outcome: str) -> None:
    RENEWALS.labels(provider, outcome).inc()


def refusals(provider: str, count: int) -> None:
    if count > 0:
        REFUSALS.labels(provider).inc(count)


def provider_error(provider: str, status: int) -> None:
    PROVIDER_ERRORS.labels(provider, str(status)).inc()


def request_paced(provider: str, scope: str, wait: float, *, deferred: bool = False) -> None:
    budget = "project" if scope.endswith(":project") else "account"
    REQUESTS_PACED.labels(provider, budget, "deferred" if deferred else "waited").inc()
    REQUEST_PACE_WAIT.labels(provider).inc(max(0.0, wait))


def token_refresh(provider: str, outcome: str) -> None:
    TOKEN_REFRESHES.labels(provider, outcome).inc()


def mail_outcome(outcome: str) -> None:
    MAIL_PROCESSED.labels(outcome).inc()


def mail_refused(reason: str) -> None:
    MAIL_REFUSED.labels(reason).inc()


@dataclass
class SyncTimer:
    """Filled in by the caller of `timed_sync`: the outcome word of the reconcile."""

    outcome: str = "failed"


_BEFORE_SYNC = text(
    "SELECT provider, last_notification_at, last_sync_at FROM connections WHERE id = :id"
)


@asynccontextmanager
async def timed_sync(
    engine: AsyncEngine, connection_id: int, now: datetime | None = None
) -> AsyncIterator[SyncTimer]:
    """Time one reconcile and, when it pulled a notified change, its lag.

    Lag is measured from the latest notification that arrived after the previous sync
    (`last_notification_at` > `last_sync_at`) to `now` at the end: a lower bound for
    the earliest of several notifications coalesced into one sync."""
    from spacecal import clock

    async with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
        row = (await conn.execute(_BEFORE_SYNC, {"id": connection_id})).first()
    timer = SyncTimer()
    started = time.monotonic()
    try:
        yield timer
    finally:
        if row is not None and timer.outcome != "skipped":
            SYNC_DURATION.labels(row.provider, timer.outcome).observe(time.monotonic() - started)
            notified, synced = row.last_notification_at, row.last_sync_at
            if (
                timer.outcome == "ok"
                and notified is not None
                and (synced is None or notified > synced)
            ):
                lag = ((now or clock.now()) - notified).total_seconds()
                SYNC_LAG.labels(row.provider).observe(max(0.0, lag))


# --- scrape time ----------------------------------------------------------------------

#: Reads the job counts by status ('todo', 'doing'): jobs.status.job_counts. Handed in
#: by the caller, because the job tables are jobs/' business and this module is a leaf.
JobCounts = Callable[[AsyncConnection], Awaitable[Mapping[str, int]]]

# The partial index connections_sync_requested covers exactly the marked rows.
_MARKS_SQL = text(
    "SELECT count(*), min(sync_requested_at) FROM connections WHERE sync_requested_at IS NOT NULL"
)
_MAIL_SQL = text(
    "SELECT CASE WHEN status = 'queued' THEN 'queued' ELSE coalesce(outcome, status) END,"
    " count(*) FROM mail_messages GROUP BY 1"
)


async def collect_queue(
    engine: AsyncEngine, *, job_counts: JobCounts, limit_seconds: float = 2.0
) -> bool:
    """Set the queue gauges from the database (two index scans, bounded by
    `limit_seconds`). False when the database did not answer: the gauges keep their last
    values and SCRAPE_ERRORS counts it, so a scrape never fails on the database."""
    from spacecal import clock

    try:
        async with asyncio.timeout(limit_seconds):
            async with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
                jobs = await job_counts(conn)
                marks, oldest = (await conn.execute(_MARKS_SQL)).one()
                kept = {str(o): int(n) for o, n in await conn.execute(_MAIL_SQL)}
    except Exception:
        SCRAPE_ERRORS.inc()
        return False
    for status in ("todo", "doing"):
        QUEUE_JOBS.labels(status).set(int(jobs.get(status, 0)))
    QUEUE_MARKS.set(int(marks or 0))
    age = (clock.now() - oldest).total_seconds() if oldest is not None else 0.0
    QUEUE_OLDEST.set(max(0.0, age))
    for outcome in set(kept) | {o for (o,) in _labels(MAIL_KEPT)}:
        MAIL_KEPT.labels(outcome).set(kept.get(outcome, 0))
    return True


def _labels(gauge: Gauge) -> list[tuple[str, ...]]:
    """The label values a gauge has been set for (so a vanished outcome reads 0)."""
    return [tuple(s.labels.values()) for m in gauge.collect() for s in m.samples]


async def exposition(engine: AsyncEngine | None, *, job_counts: JobCounts) -> tuple[bytes, str]:
    """The text a scrape answers with (queue gauges refreshed first), and its type."""
    if engine is not None:
        await collect_queue(engine, job_counts=job_counts)
    return generate_latest(), CONTENT_TYPE_LATEST


async def serve_metrics(
    engine: AsyncEngine, host: str, port: int, *, job_counts: JobCounts
) -> None:
    """`/metrics` (and `/healthz`) on their own port, for a worker process that serves
    no API; runs until cancelled."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def metrics(request: Request) -> Response:
        body, content_type = await exposition(engine, job_counts=job_counts)
        return Response(body, media_type=content_type)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    app = Starlette(routes=[Route("/metrics", metrics), Route("/healthz", healthz)])
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    # The worker owns SIGINT/SIGTERM (it cancels this task); uvicorn must not take them.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    await server.serve()
