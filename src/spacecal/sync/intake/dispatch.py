"""The dispatcher: turns notification marks into reconcile jobs, in batches.

Webhook intake commits only a mark on the connection (`sync_requested_at`,
`notifications_pending`, `sync_requested_trace`; sync/intake/marks.py), because a job
insert per notification fires procrastinate's NOTIFY trigger, and PostgreSQL
serialises the commits of notifying transactions: intake could not go faster than
one such commit at a time. Each worker process runs this loop beside its
procrastinate worker; one pass, in one transaction:

1. claims up to `dispatch_batch_size` marked connections, oldest mark first, with
   `FOR UPDATE SKIP LOCKED` (several workers never claim the same mark, and a claim
   never waits for an intake UPDATE of the same row: that row is taken next pass),
   and clears their marks;
2. queues one reconcile per connection (jobs/reconcile.py `defer_reconciles`: lock =
   account, queueing lock = connection, so a connection has at most one queued
   reconcile however many notifications arrived);
3. adds the notification counts to `activity_hourly`;
4. turns up to `dispatch_batch_size` rows of the job outbox into jobs (jobs.drain_outbox):
   database triggers write those rows (outbound webhook deliveries, migration 0012)
   instead of calling procrastinate's functions themselves.

Before step 1, it expands up to `dispatch_batch_size` rows of `booking_changes` (one
per booking change, written in the booking's transaction by spacecal.bookings) into
a blocks-only reconcile of every other calendar of the booking's resource (their
availability blocks, sync/reconcile/blocks.py; jobs/reconcile.py
`defer_block_writes`), so the booking's own transaction never locks those rows. A
blocks-only reconcile writes what the calendar owes in blocks without pulling (push
and polls stay the truth for the member's own edits): a full reconcile per calendar
cost a pull, the decision and a commit for one block (docs/performance.md). They are
level-triggered too: a booking's changes are taken once it settled (no change for
`block_settle_seconds`, or its first change `block_settle_max_seconds` old), and
its own queueing lock leaves at most one queued blocks-only job per calendar, which
reads the tables when it runs: a burst of moves costs each calendar one write.

So a mark is cleared exactly when its job and its counts commit; a worker that dies
mid-pass leaves the marks for the next pass. Marks are level-triggered state: if no
worker runs, they wait (and the sweep does not need to know about them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from spacecal import activity, clock, jobs
from spacecal.db.engine import autocommit
from spacecal.jobs.reconcile import ReconcileRequest, defer_block_writes, defer_reconciles

log = logging.getLogger("spacecal.dispatch")

_CLAIM = text(
    "WITH claimed AS ("
    " SELECT c.id, c.provider_account_id, c.provider, c.notifications_pending,"
    " c.sync_requested_trace, r.business_id"
    " FROM connections c JOIN resources r ON r.id = c.resource_id"
    " WHERE c.sync_requested_at IS NOT NULL"
    " ORDER BY c.sync_requested_at, c.id LIMIT :n"
    " FOR UPDATE OF c SKIP LOCKED),"
    " cleared AS ("
    " UPDATE connections c SET sync_requested_at = NULL, notifications_pending = 0,"
    " sync_requested_trace = NULL FROM claimed WHERE c.id = claimed.id)"
    " SELECT * FROM claimed"
)


# Booking changes taken (several workers never take the same row).
# Only bookings that settled: no change for `block_settle_seconds`, or a first
# unwritten change `block_settle_max_seconds` old (times from spacecal's clock).
_TAKE_CHANGES = text(
    "DELETE FROM booking_changes WHERE id IN"
    " (SELECT id FROM booking_changes WHERE booking_id IN"
    "  (SELECT booking_id FROM booking_changes GROUP BY booking_id"
    "   HAVING max(created_at) <= :quiet_since OR min(created_at) <= :waited_since)"
    " ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED)"
    " RETURNING booking_id"
)
# The calendars owing blocks for those bookings: the resource's calendars of everyone
# else (the member's own are queued by the write path itself), where the business
# shows availability or a block of the booking is already there (to be removed).
_OWING = text(
    "SELECT DISTINCT c.id, c.provider_account_id FROM bookings b"
    " JOIN connections c ON c.resource_id = b.resource_id"
    " AND c.coworker_id IS DISTINCT FROM b.coworker_id"
    " JOIN resources r ON r.id = b.resource_id JOIN businesses z ON z.id = r.business_id"
    " WHERE b.id = ANY(CAST(:ids AS bigint[])) AND c.calendar_id IS NOT NULL"
    " AND (z.availability_days_ahead > 0 OR EXISTS (SELECT 1 FROM event_links l"
    " WHERE l.connection_id = c.id AND l.booking_id = b.id))"
)
# An idle poll's whole cost: one autocommit probe of the partial index on marks and of
# the (usually empty) outbox, where the claim would be a transaction (BEGIN, claim,
# COMMIT: three round trips). A worker polls every `dispatch_poll_seconds` (0.05 s by
# default), marks or not.
_ANY_WORK = text(
    "SELECT EXISTS (SELECT 1 FROM connections WHERE sync_requested_at IS NOT NULL),"
    " EXISTS (SELECT 1 FROM job_outbox),"  # jobs/' outbox (migration 0012)
    " EXISTS (SELECT 1 FROM booking_changes)"  # migration 0020
)


@dataclass(frozen=True)
class Dispatched:
    connections: int  # marks claimed and cleared
    jobs: int  # reconciles newly queued (the rest were already queued)
    notifications: int  # notifications those marks stood for
    outbox: int = 0  # outbox rows turned into jobs
    changes: int = 0  # booking changes expanded into marks

    def full(self, batch: int) -> bool:
        """A whole batch of any: more may be waiting."""
        return self.connections >= batch or self.outbox >= batch or self.changes >= batch


async def expand_changes(
    conn: AsyncConnection, *, limit: int, settle: float = 0.0, settle_max: float = 0.0
) -> int:
    """Turn up to `limit` booking changes into blocks-only reconciles of the calendars
    owing blocks; returns how many changes were taken. A booking still changing
    (within `settle` seconds of its last change, `settle_max` of its first) waits: a
    blocks-only reconcile is quick, so a burst of moves would otherwise cost each
    calendar a write per move instead of one running + one queued."""
    now = clock.now()
    taken = list(
        await conn.scalars(
            _TAKE_CHANGES,
            {
                "n": limit,
                "quiet_since": now - timedelta(seconds=settle),
                "waited_since": now - timedelta(seconds=max(settle_max, settle)),
            },
        )
    )
    if not taken:
        return 0
    owing = (await conn.execute(_OWING, {"ids": sorted(set(taken))})).all()
    await defer_block_writes(conn, [(int(r.id), r.provider_account_id) for r in owing])
    return len(taken)


async def dispatch_once(
    engine: AsyncEngine, *, batch: int, settle: float = 0.0, settle_max: float = 0.0
) -> Dispatched:
    """One pass: at most `batch` marks become jobs and counts, and at most `batch`
    outbox rows become jobs, in one transaction (none when a probe finds neither)."""
    async with autocommit(engine).connect() as probe:
        marked, outboxed, changed = (await probe.execute(_ANY_WORK)).one()
    if not (marked or outboxed or changed):
        return Dispatched(0, 0, 0)
    async with engine.begin() as conn:
        outbox = await jobs.drain_outbox(conn, limit=batch) if outboxed else 0
        changes = (
            await expand_changes(conn, limit=batch, settle=settle, settle_max=settle_max)
            if changed
            else 0
        )
        rows = (await conn.execute(_CLAIM, {"n": batch})).all() if marked else []
        if not rows:
            return Dispatched(0, 0, 0, outbox, changes)
        queued = await defer_reconciles(
            conn,
            [ReconcileRequest(r.id, r.provider_account_id, r.sync_requested_trace) for r in rows],
        )
        await activity.record_activity(
            conn,
            [
                activity.Activity(
                    r.business_id, r.provider, activity.NOTIFICATION, r.notifications_pending
                )
                for r in rows
            ],
            at=clock.now(),
        )
    notified = sum(r.notifications_pending for r in rows)
    return Dispatched(len(rows), queued, notified, outbox, changes)


async def dispatch_all(engine: AsyncEngine, *, batch: int) -> int:
    """Passes until no mark or outbox row is left (tests, and a worker run with
    wait=False); returns how many marks were dispatched."""
    total = 0
    while True:
        done = await dispatch_once(engine, batch=batch)
        total += done.connections
        if not done.full(batch):
            return total


_WAKE: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Event] = (
    weakref.WeakKeyDictionary()
)


def wake() -> None:
    """A mark was just committed in this process: a dispatcher running here looks at
    once instead of at its next poll (`spacecal serve` with its worker, the demo).
    Marks committed by other processes are found by the poll."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    event = _WAKE.get(loop)
    if event is not None:
        event.set()


async def run_dispatcher(
    engine: AsyncEngine,
    *,
    batch: int,
    poll_seconds: float,
    settle: float = 0.0,
    settle_max: float = 0.0,
) -> None:
    """Dispatch until cancelled: a full batch goes again at once; otherwise wait
    `poll_seconds` (an indexed look at an empty partial index costs almost nothing),
    or less when intake in this process says a mark was committed (`wake`).
    `settle` / `settle_max`: how long booking changes wait to settle (`expand_changes`).
    Any failure of a pass is logged and retried after a growing pause: the loop
    must outlive it, or marks and outbox rows would wait for the sweep."""
    event = _WAKE.setdefault(asyncio.get_running_loop(), asyncio.Event())
    failures = 0
    while True:
        event.clear()
        try:
            done = await dispatch_once(engine, batch=batch, settle=settle, settle_max=settle_max)
            failures = 0
        except Exception:  # the loop must outlive any one pass (CancelledError is not one)
            failures += 1
            log.exception("dispatching notification marks failed (attempt %d)", failures)
            await asyncio.sleep(min(30.0, poll_seconds * 2**failures))
            continue
        if done.connections:
            log.debug(
                "dispatched %d mark(s) (%d notifications), %d new job(s)",
                done.connections,
                done.notifications,
                done.jobs,
            )
        if not done.full(batch):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), poll_seconds)
