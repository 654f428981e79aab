"""The keep-alive job of one connection, and the periodic pass that queues it.

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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal import clock, jobs, metrics
from spacecal.db.columns import clear_cursor
from spacecal.db.conditions import AccountStatus, GenerationStatus
from spacecal.db.models import (
    Business,
    Connection,
    ProviderAccount,
    Resource,
    SubscriptionGeneration,
)
from spacecal.failures import Loop, backoff, error_text
from spacecal.jobs import names
from spacecal.jobs.reconcile import defer_reconcile
from spacecal.logs import bind_trace
from spacecal.providers.base import CalendarProvider, ProviderError
from spacecal.providers.registry import capabilities, providers_where
from spacecal.sync.reconcile.target import calendar_verified
from spacecal.sync.runtime import SyncRuntime
from spacecal.sync.tokens import AccountRow, AccountTokens, AccountUnavailable
from spacecal.sync.upkeep.generations import generations_from_json, generations_json
from spacecal.sync.upkeep.keepalive_queue import defer_keepalive as defer_keepalive
from spacecal.sync.upkeep.keepalive_queue import defer_keepalives, spread_by_account
from spacecal.sync.upkeep.keepalive_queue import keepalive_queueing_lock as keepalive_queueing_lock
from spacecal.sync.upkeep.orphan_channels import defer_stop_orphans, orphan_accounts
from spacecal.sync.upkeep.renewal import Renewal, RenewalSubject, margin
from spacecal.sync.upkeep.window import current_window, window_due

log = logging.getLogger("spacecal.keepalive")

# The wording of a renewal's error as shown (LastError, the console); no code reads it.
RENEWAL_ERROR_PREFIX = "Keeping the calendar's push alive failed: "


def jitter_offset(connection_id: int, window_seconds: float) -> timedelta:
    """A stable offset in [0, window) per connection (Knuth's multiplicative hash)."""
    if window_seconds <= 0:
        return timedelta(0)
    fraction = ((connection_id * 2654435761) % 2**32) / 2**32
    return timedelta(seconds=fraction * window_seconds)


# --- the periodic pass --------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    id: int
    account_id: int
    provider: str
    push_supported: bool
    renew_requested: bool
    resync_requested: bool
    rename_pending: bool
    window_start: datetime | None
    window_end: datetime | None
    time_zone: str
    days_ahead: int
    live_expiry: datetime | None
    has_stopping: bool


def _is_due(rt: SyncRuntime, c: _Candidate, now: datetime) -> bool:
    if c.renew_requested or c.resync_requested or c.rename_pending or c.has_stopping:
        return True
    margin_days = rt.settings.sync_window_margin_days
    if window_due(
        c.provider, c.window_start, c.window_end, c.time_zone, c.days_ahead, margin_days, now
    ):
        return True
    if not c.push_supported:
        return False
    if c.live_expiry is None:
        return True
    offset = jitter_offset(c.id, rt.settings.renewal_jitter_seconds)
    return c.live_expiry - offset <= now + margin(rt.settings, c.provider)


@jobs.periodic_task(names.KEEPALIVE_PASS, periodic_id="renewal", schedule=lambda _: "* * * * *")
async def keepalive_pass_task(rt: SyncRuntime) -> None:
    queued = await keepalive_pass(rt)
    if queued:
        log.info("keep-alive pass queued %d connection(s)", queued)


async def keepalive_pass(rt: SyncRuntime) -> int:
    """Queue the keep-alive job of every connection that owes something; returns how
    many were newly queued. Also settles channels whose connection is gone."""
    now = clock.now()
    s = rt.settings
    widest = timedelta(
        seconds=max(s.google_renewal_margin_seconds, s.microsoft_renewal_margin_seconds)
        + s.renewal_jitter_seconds
    )
    live_expiry = (
        select(func.max(SubscriptionGeneration.expires_at))
        .where(
            SubscriptionGeneration.connection_id == Connection.id,
            SubscriptionGeneration.status == GenerationStatus.LIVE,
        )
        .scalar_subquery()
    )
    has_stopping = exists().where(
        SubscriptionGeneration.connection_id == Connection.id,
        SubscriptionGeneration.status == GenerationStatus.STOPPING,
    )
    query = (
        select(
            Connection.id,
            Connection.provider_account_id,
            Connection.provider,
            Connection.push_supported,
            Connection.renew_requested,
            Connection.resync_requested,
            Connection.rename_pending,
            Connection.sync_window_start,
            Connection.sync_window_end,
            Business.time_zone,
            Business.max_booking_days_ahead,
            live_expiry.label("live_expiry"),
            has_stopping.label("has_stopping"),
        )
        .join(ProviderAccount, ProviderAccount.id == Connection.provider_account_id)
        .join(Resource, Resource.id == Connection.resource_id)
        .join(Business, Business.id == Resource.business_id)
        .where(
            ProviderAccount.status == AccountStatus.ACTIVE,
            Connection.calendar_id.is_not(None),
            calendar_verified(),  # an unverified calendar is left alone (reconcile/verify.py)
            or_(Connection.renewal_retry_at.is_(None), Connection.renewal_retry_at <= now),
            or_(
                Connection.renew_requested,
                Connection.resync_requested,
                Connection.rename_pending,
                has_stopping,
                and_(
                    Connection.provider.in_(providers_where(lambda c: c.windowed)),
                    or_(
                        Connection.sync_window_start.is_(None),
                        Connection.sync_window_end.is_(None),
                        # A superset of window_due (local days, DST): exact in Python.
                        Connection.sync_window_end
                        <= now
                        + func.make_interval(
                            0,
                            0,
                            0,
                            Business.max_booking_days_ahead + s.sync_window_margin_days // 2 + 3,
                        ),
                    ),
                ),
                and_(
                    Connection.push_supported,
                    or_(live_expiry.is_(None), live_expiry <= now + widest),
                ),
            ),
        )
        .order_by(live_expiry.asc().nulls_first(), Connection.id)
    )
    async with rt.db.engine.begin() as conn:
        rows = (await conn.execute(query)).all()
        due = [c for c in (_Candidate(*tuple(r)) for r in rows) if _is_due(rt, c, now)]
        batch: list[tuple[int, int | None]] = [
            (c.id, c.account_id) for c in due[: s.renewal_batch_size]
        ]
        queued = await defer_keepalives(conn, spread_by_account(batch))
        await _settle_orphans(conn, now, s.leftover_max_attempts)
    await jobs.refresh_statistics(rt.db.engine, queued)
    return queued


async def _settle_orphans(conn: AsyncConnection, now: datetime, max_attempts: int) -> None:
    """`stopping` generations that no job can stop any more: lapsed ones (expired: the
    provider sends nothing more) are stopped without a call. Unexpired ones of a
    deleted connection, and notes owed to kept calendars, are settled by
    `stop_orphans` (the account still exists) once their backoff has passed."""
    await conn.execute(
        update(SubscriptionGeneration)
        .where(
            SubscriptionGeneration.status == GenerationStatus.STOPPING,
            SubscriptionGeneration.expires_at <= now,
        )
        .values(status=GenerationStatus.STOPPED)
    )
    for account_id in await orphan_accounts(conn, now, max_attempts):
        await defer_stop_orphans(conn, account_id)


# --- the job ---------------------------------------------------------------------

# Built once: constructing and keying this statement per job cost more CPU than
# running it.
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
