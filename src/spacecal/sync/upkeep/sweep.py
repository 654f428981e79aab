"""The sweep: the periodic task that queues a reconcile for every connection due.

Due means quiet for longer than the sweep span (a lost notification is recovered
within it; calendars that cannot be watched use the shorter poll interval), a
polled provider's poll time passed (CalDAV: sync/polling.py; the sweep runs every
`sweep_every_seconds`, so that is the schedule's resolution), behind
on bookings, past its failure backoff, or holding a deferred series instance that
the booking horizon now reaches (sync/reconcile/deferred.py: decided on its day, for
every provider, without waiting for the calendar to change).

What the sweep reads besides quiet connections: calendars behind on bookings.

A booking change queues reconciles in its own transaction (spacecal/bookings.py); if that
trigger were lost, the calendar copy stays behind. The sweep finds such connections
from the tables, with the same bounds write-back uses (sync/reconcile/writeback.py), so a
connection is never selected for a debt its reconcile would not pay (no reconcile
every minute for nothing):

- a write owed to a member's event (`event_links.pending_write`);
- a linked booking changed since it was written (version) or cancelled;
- a live future booking of the member for this resource with no event here;
- availability blocks (sync/reconcile/blocks.py): another live booking of the resource
  within the business's `AvailabilityDaysAhead` with no block here (this is also how
  the horizon rolls: the day it gains brings bookings without blocks), a block while
  the business has switched the feature off, a block whose title the name setting
  changed. A block put-back waiting for its hourly allowance is not a debt until then.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import and_, or_, select

from spacecal import clock, jobs
from spacecal.db.models import Connection, ProviderAccount
from spacecal.jobs import names
from spacecal.jobs.reconcile import defer_reconcile
from spacecal.sync.polling import poll_due, poll_providers
from spacecal.sync.reconcile.deferred import due_connections
from spacecal.sync.reconcile.owed import behind
from spacecal.sync.runtime import SyncRuntime

log = logging.getLogger("spacecal.sweep")


async def sweep(rt: SyncRuntime) -> int:
    """Queue a reconcile for every connection that is due (see above). Returns how
    many were newly queued."""
    now = clock.now()
    polled = Connection.provider.in_(poll_providers())
    quiet = or_(
        and_(
            ~polled,
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
            ~polled,
            Connection.push_supported.is_(False),
            or_(
                Connection.last_sync_at.is_(None),
                Connection.last_sync_at
                < now - timedelta(seconds=rt.settings.poll_interval_seconds),
            ),
        ),
        # A polled provider's schedule (sync/polling.py): due now, never later.
        poll_due(now),
        behind(now, rt.settings.block_put_backs_per_hour),
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
        wanted: dict[int, int | None] = {r.id: r.provider_account_id for r in rows}
        # Deferred series instances the horizon now reaches (sync/reconcile/deferred.py).
        wanted.update(await due_connections(conn, now))
        queued = 0
        for connection_id, account_id in sorted(wanted.items()):
            if await defer_reconcile(conn, connection_id, account_id, priority=-1):
                queued += 1
    await jobs.refresh_statistics(rt.db.engine, queued)
    return queued


@jobs.periodic_task(
    names.SWEEP, periodic_id="sweep", schedule=lambda s: jobs.every(s.sweep_every_seconds)
)
async def sweep_task(rt: SyncRuntime) -> None:
    queued = await sweep(rt)
    if queued:
        log.info("sweep queued %d reconcile(s)", queued)
