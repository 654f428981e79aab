"""How a reconcile ended, written down: the sync's own condition on the connection
(health, last error, failures, `retry_at`) and a `sync_runs` row with the activity.

Apart from the job (`task.py`) because the failure policy's waits (spacecal.failures)
and the history are bookkeeping around a reconcile, not a step of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from spacecal import activity, clock
from spacecal.db.conditions import Health
from spacecal.db.engine import autocommit
from spacecal.db.models import Connection, SyncRun
from spacecal.failures import Loop, backoff
from spacecal.jobs.reconcile import defer_reconcile
from spacecal.providers.base import Throttled
from spacecal.providers.registry import capabilities
from spacecal.sync.reconcile.target import SyncTarget
from spacecal.sync.runtime import SyncRuntime


class ReconcileStatus(StrEnum):
    """How one reconcile ended (also `sync_runs.outcome`)."""

    OK = "ok"
    SKIPPED = "skipped"
    THROTTLED = "throttled"
    PACED = "paced"
    FAILED = "failed"
    NEEDS_RECONNECT = "needs_reconnect"


@dataclass
class ReconcileOutcome:
    status: ReconcileStatus
    pulled: int = 0
    writes: int = 0
    full: bool = False
    error: str | None = None


async def record_health(
    rt: SyncRuntime,
    target: SyncTarget,
    health: Health,
    exc: BaseException | None = None,
    error: str | None = None,
    *,
    retry: bool = True,
) -> None:
    """Write the sync's own condition. A failure counts and waits by the policy:
    throttling (account-wide) defers the next reconcile by that wait under the
    account lock (DESIGN, Jobs); any other failure sets `retry_at` for the sweep.
    The renewal's condition is its own (keepalive.py): nothing here touches it."""
    now = clock.now()
    values: dict[str, object] = {"health": health}
    wait = None
    if exc is None:
        values.update(last_error=None, consecutive_failures=0, retry_at=None)
    else:
        failures = target.consecutive_failures + 1
        wait = backoff(rt.settings, Loop.SYNC).wait_after(exc, failures) if retry else None
        values.update(
            last_error=(error or str(exc))[:2000],
            last_error_at=now,
            consecutive_failures=Connection.consecutive_failures + 1,
            retry_at=now + wait if wait is not None else None,
        )
    async with rt.db.engine.begin() as conn:
        await conn.execute(
            update(Connection).where(Connection.id == target.connection_id).values(**values)
        )
        # A polled provider's jobs share a lock per server bucket (jobs/reconcile.py):
        # a job parked there would hold up other accounts, so `retry_at` waits instead.
        if isinstance(exc, Throttled) and wait is not None and capabilities(target.provider).push:
            await defer_reconcile(
                conn, target.connection_id, target.account_id, delay_seconds=wait.total_seconds()
            )


async def record_paced(rt: SyncRuntime, target: SyncTarget, wait_seconds: float) -> None:
    """Not a failure: spacecal's own request budget for the account (or the project)
    is spent (sync/pacing.py). The next reconcile is queued for when it allows, under
    the account lock like throttling: the account's other calendars would wait for
    the same budget anyway (DESIGN, Jobs). The condition stays as it was."""
    async with rt.db.engine.begin() as conn:
        await defer_reconcile(
            conn, target.connection_id, target.account_id, delay_seconds=max(0.0, wait_seconds)
        )


async def record_paused(rt: SyncRuntime, target: SyncTarget, until: datetime) -> None:
    """Not a failure: the writes wait for the pause's end, when `retry_at` lets the
    sweep queue this connection again (no job parked under the account lock)."""
    async with rt.db.engine.begin() as conn:
        await conn.execute(
            update(Connection)
            .where(Connection.id == target.connection_id)
            .values(health=Health.HEALTHY, last_error=None, retry_at=until)
        )


async def record_history(
    engine: AsyncEngine, target: SyncTarget, started: datetime, outcome: ReconcileOutcome
) -> None:
    # Autocommit: two round trips, not four, and the hour's shared count row is locked
    # only for its own statement (every reconcile of the business bumps that row). A
    # crash between the two loses one count, never a sync.
    async with autocommit(engine).connect() as conn:
        await conn.execute(
            insert(SyncRun).values(
                connection_id=target.connection_id,
                started_at=started,
                finished_at=clock.now(),
                outcome=outcome.status,
                full_sync=outcome.full,
                changes_pulled=outcome.pulled,
                writes=outcome.writes,
                error=outcome.error,
            )
        )
        if outcome.status != ReconcileStatus.SKIPPED:
            await activity.record_activity(
                conn,
                [activity.Activity(target.business_id, target.provider, activity.SYNC)],
                at=started,
            )
