"""The keep-alive job of one connection (the periodic pass that queues it is
keepalive_pass.py).

What must happen is derived from the tables (DESIGN, principle 3): a live generation
expiring within the margin (or none live at all), a Graph lifecycle request
(`renew_requested`, `resync_requested`), a delta window whose margin past the horizon
is half spent (sync/upkeep/window.py), a
calendar name to change (`rename_pending`), channels left `stopping`. The pass runs
every minute, reads those, and defers `spacecal.keepalive(connection_id)` for each
connection that owes something; the job re-reads and does it. Running either twice
does nothing more.

Scheduling and locking (DESIGN, Jobs): the job has `lock` = the provider account, like
reconcile, so a renewal never runs beside a pull of the same mailbox (clearing a
cursor cannot race a reconcile storing one), and `queueing_lock` =
`renew:{connection_id}` (a second trigger while one is queued is "already
triggered"). It is never deferred with a `scheduled_at` and never uses procrastinate's
`retry`: a failure is recorded in the renewal's own condition on the connection
(`renewal_error`, `renewal_failures`, `renewal_retry_at`; db/conditions.py derives
the health shown from it and the sync's), waiting by the one failure policy
(spacecal.failures), and the pass skips the connection until that wait has passed,
so no parked job blocks the account's other calendars. Jitter is a fixed offset per
connection inside `renewal_jitter_seconds`, applied by the pass, so thousands of
connections made at once renew spread over that window.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update

from spacecal import clock, jobs, metrics
from spacecal.db.columns import clear_cursor
from spacecal.db.conditions import AccountStatus
from spacecal.db.models import (
    Business,
    Connection,
    ProviderAccount,
    Resource,
)
from spacecal.failures import Loop, backoff, error_text
from spacecal.jobs import names
from spacecal.jobs.reconcile import defer_reconcile
from spacecal.logs import bind_trace
from spacecal.providers.base import CalendarProvider, ProviderError
from spacecal.providers.registry import capabilities
from spacecal.sync.reconcile.target import calendar_verified
from spacecal.sync.runtime import SyncRuntime
from spacecal.sync.tokens import AccountRow, AccountTokens, AccountUnavailable
from spacecal.sync.upkeep.generations import generations_from_json, generations_json
from spacecal.sync.upkeep.keepalive_queue import defer_keepalive as defer_keepalive
from spacecal.sync.upkeep.keepalive_queue import keepalive_queueing_lock as keepalive_queueing_lock
from spacecal.sync.upkeep.renewal import Renewal, RenewalSubject
from spacecal.sync.upkeep.window import current_window, window_due

log = logging.getLogger("spacecal.keepalive")

# The wording of a renewal's error as shown (LastError, the console); no code reads it.
RENEWAL_ERROR_PREFIX = "Keeping the calendar's push alive failed: "


_JOB_READ = (
    select(
        Connection.provider,
        Connection.provider_account_id,
        Connection.calendar_id,
        calendar_verified().label("calendar_verified"),
        Connection.name,
        Connection.push_supported,
        Connection.renew_requested,
        Connection.resync_requested,
        Connection.rename_pending,
        Connection.sync_window_start,
        Connection.sync_window_end,
        Connection.renewal_failures,
        Connection.renewal_retry_at,
        Connection.renewal_error,
        ProviderAccount.status.label("account_status"),
        # The account's tokens in the same read (AccountTokens.preload).
        ProviderAccount.refresh_token_enc,
        ProviderAccount.access_token_enc,
        ProviderAccount.access_token_expires_at,
        # ... and its generations (Renewal's `generations`).
        generations_json(Connection.id).label("generations"),
        Business.time_zone,
        Business.max_booking_days_ahead,
    )
    .join(ProviderAccount, ProviderAccount.id == Connection.provider_account_id)
    .join(Resource, Resource.id == Connection.resource_id)
    .join(Business, Business.id == Resource.business_id)
    .where(Connection.id == bindparam("connection_id"))
)


@jobs.task(names.KEEPALIVE)
async def keepalive_task(rt: SyncRuntime, connection_id: int) -> None:
    with bind_trace(None):
        outcome = await keepalive_connection(rt, connection_id)
        log.info("keep-alive %s: %s", connection_id, outcome)


async def keepalive_connection(rt: SyncRuntime, connection_id: int) -> str:
    """Everything one connection owes, under the account lock. Returns an outcome word."""
    now = clock.now()
    async with rt.db.reads.connect() as conn:
        row = (await conn.execute(_JOB_READ, {"connection_id": connection_id})).first()
    if (
        row is None
        or row.calendar_id is None
        or not row.calendar_verified
        or row.account_status != AccountStatus.ACTIVE
    ):
        # Gone, not provisioned, a calendar not verified as spacecal's, or needs
        # reconnect: no provider call.
        return "skipped"
    account_id = int(row.provider_account_id)
    provider = rt.provider_for(row.provider)
    tokens = rt.tokens(row.provider, account_id)
    tokens.preload(
        AccountRow(
            row.account_status,
            row.refresh_token_enc,
            row.access_token_enc,
            row.access_token_expires_at,
        )
    )
    subject = RenewalSubject(
        connection_id, row.provider, account_id, row.calendar_id, row.renew_requested
    )
    renewal = Renewal(
        rt.db,
        rt.settings,
        provider,
        tokens,
        subject,
        generations=generations_from_json(row.generations),
    )
    resync = row.resync_requested or window_due(
        row.provider,
        row.sync_window_start,
        row.sync_window_end,
        row.time_zone,
        row.max_booking_days_ahead,
        rt.settings.sync_window_margin_days,
        now,
    )
    outcome = "ok"
    try:
        if row.push_supported:
            resync = await renewal.run() or resync
        else:
            await renewal.stop_stopping()
        if row.rename_pending:
            await _rename(rt, connection_id, tokens, provider, row.calendar_id, row.name)
    except AccountUnavailable:
        return "needs_reconnect"  # tokens.py marked the account; nothing retries
    except ProviderError as exc:
        metrics.renewal(row.provider, "failed")
        await _failed(rt, connection_id, row.renewal_failures, exc)
        outcome = "failed"
    if resync:
        await _full_resync(rt, connection_id, account_id, row, now)
    if outcome == "ok":
        await _succeeded(rt, connection_id, row)
    return outcome


async def _rename(
    rt: SyncRuntime,
    connection_id: int,
    tokens: AccountTokens,
    provider: CalendarProvider,
    calendar_id: str,
    name: str,
) -> None:
    """The record's Name changed (a resource or business was renamed): the calendar
    follows. The flag is cleared only if the name is still the one written."""
    await tokens.call(lambda access: provider.rename_calendar(access, calendar_id, name))
    async with rt.db.engine.begin() as conn:
        await conn.execute(
            update(Connection)
            .where(Connection.id == connection_id, Connection.name == name)
            .values(rename_pending=False)
        )


async def _full_resync(
    rt: SyncRuntime, connection_id: int, account_id: int, row: Any, now: datetime
) -> None:
    """Clear the cursor (and, for Graph, record the new window) and queue a reconcile,
    in one transaction: its full pull replaces the token (DESIGN, Full resync)."""
    values: dict[str, object] = {**clear_cursor(row.provider), "resync_requested": False}
    if capabilities(row.provider).windowed:
        window = current_window(
            row.time_zone, row.max_booking_days_ahead, rt.settings.sync_window_margin_days, now
        )
        values.update(sync_window_start=window.start, sync_window_end=window.end)
    async with rt.db.engine.begin() as conn:
        await conn.execute(
            update(Connection).where(Connection.id == connection_id).values(**values)
        )
        await defer_reconcile(conn, connection_id, account_id)


async def _failed(rt: SyncRuntime, connection_id: int, failures: int, exc: ProviderError) -> None:
    """Record the renewal's failure (the `failures`-th before this one) in its own
    condition; the pass comes back after the policy's wait."""
    now = clock.now()
    wait = backoff(rt.settings, Loop.RENEWAL).wait_after(exc, failures + 1)
    message = error_text(exc, RENEWAL_ERROR_PREFIX)
    log.warning("keep-alive of connection %s failed: %s", connection_id, message)
    async with rt.db.engine.begin() as conn:
        await conn.execute(
            update(Connection)
            .where(Connection.id == connection_id)
            .values(
                renewal_error=message,
                renewal_error_at=now,
                renewal_failures=Connection.renewal_failures + 1,
                renewal_retry_at=now + wait,
            )
        )


async def _succeeded(rt: SyncRuntime, connection_id: int, row: Any) -> None:
    """Clear the renewal's failure condition. Skipped when there is none (the common
    case): the job runs under the account lock and only it writes these columns, so
    the row read at its start is still what the table holds."""
    if row.renewal_error is None and row.renewal_failures == 0 and row.renewal_retry_at is None:
        return
    async with rt.db.engine.begin() as conn:
        await conn.execute(
            update(Connection)
            .where(Connection.id == connection_id)
            .values(
                renewal_failures=0,
                renewal_retry_at=None,
                renewal_error=None,
                renewal_error_at=None,
            )
        )
