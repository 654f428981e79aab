"""The keep-alive pass: every minute, find the connections that owe a keep-alive step
(a live generation expiring within the margin, or none live; a lifecycle request; a
delta window half spent; a rename; channels left stopping) and queue their
`spacecal.keepalive` jobs (keepalive.py does the step). Also settles channels whose
connection is gone. Jitter is a fixed offset per connection inside
`renewal_jitter_seconds`, so thousands of connections made at once renew spread over
that window."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal import clock, jobs
from spacecal.db.conditions import AccountStatus, GenerationStatus
from spacecal.db.models import (
    Business,
    Connection,
    ProviderAccount,
    Resource,
    SubscriptionGeneration,
)
from spacecal.jobs import names
from spacecal.providers.registry import providers_where
from spacecal.sync.reconcile.target import calendar_verified
from spacecal.sync.runtime import SyncRuntime
from spacecal.sync.upkeep.keepalive_queue import defer_keepalive as defer_keepalive
from spacecal.sync.upkeep.keepalive_queue import defer_keepalives, spread_by_account
from spacecal.sync.upkeep.keepalive_queue import keepalive_queueing_lock as keepalive_queueing_lock
from spacecal.sync.upkeep.orphan_channels import defer_stop_orphans, orphan_accounts
from spacecal.sync.upkeep.renewal import margin
from spacecal.sync.upkeep.window import window_due

log = logging.getLogger("spacecal.keepalive")


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
