"""`reconcile(connection)`: one step of making a calendar and the booking store agree.

1. Pull every change since the stored cursor (all pages); on a reset (410,
   syncStateNotFound) pull everything instead, and treat linked events the full pull
   did not return as deleted.
2. Skip our own echoes (an event whose etag is the one we last wrote).
3. Decide the changes with the booking rules (spacecal.domain), with the deferred
   series instances the horizon now reaches (deferred.py), commit bookings, links,
   deferred instances and the new cursor (and, after a full pull of a windowed
   provider, the window it covered) in one transaction, and queue the member's other
   calendars for the bookings that changed.
4. Push what this calendar is behind on (writeback.py), and the availability blocks
   it should hold (blocks.py; blocks are taken out of the pull before step 3).

A blocks-only reconcile (the dispatcher's, for a booking change of the resource by
someone else) does step 4's blocks alone, without a pull, when the calendar is in good
standing (start.py `skips_pull`); otherwise it is a full reconcile.

Safe to run twice: the cursor moves only with the commit, decisions are idempotent,
writes are keyed. Failures are recorded in the sync's own condition on the connection
(`health`, `last_error`, `consecutive_failures`, `retry_at`; db/conditions.py), waits
from the one failure policy (spacecal.failures): throttling is waited out under the
account lock (a job deferred by that delay, Retry-After exactly); any other failure of
this one calendar backs off through `retry_at`, and the sweep triggers it again, so
no scheduled job is parked in front of the account's other calendars (DESIGN, Jobs).
Spacecal's own request budget (sync/pacing.py) ends a reconcile the same way as
throttling, without counting as a failure (`paced` in the history).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from spacecal import clock, jobs, metrics
from spacecal.db.conditions import AccountStatus, Health
from spacecal.db.models import Connection
from spacecal.domain import EventText, decide_changes
from spacecal.failures import error_text
from spacecal.jobs import names
from spacecal.jobs.reconcile import blocks_queued, defer_reconcile
from spacecal.logs import bind_trace
from spacecal.providers.base import (
    AccountReadOnly,
    ProviderError,
    PullResult,
    SyncWindow,
    Throttled,
)
from spacecal.providers.pacing import Paced
from spacecal.providers.paths import UnsafeId
from spacecal.providers.registry import capabilities
from spacecal.sync import limits
from spacecal.sync.polling import is_polled, record_poll
from spacecal.sync.reconcile.blocks import Loaded, push_blocks
from spacecal.sync.reconcile.commit import commit_plan, store_cursor
from spacecal.sync.reconcile.deferred import due_now, load_deferred, settle_deferred
from spacecal.sync.reconcile.echoes import store_if_only_echoes
from spacecal.sync.reconcile.fanout import Prefetched, write_blocks_together
from spacecal.sync.reconcile.links import Shown
from spacecal.sync.reconcile.outcome import (
    ReconcileOutcome,
    ReconcileStatus,
    record_health,
    record_history,
    record_paced,
    record_paused,
)
from spacecal.sync.reconcile.pull import changes_to_decide, pull_with_window
from spacecal.sync.reconcile.scrub import push_scrubs
from spacecal.sync.reconcile.start import read_start, skips_pull
from spacecal.sync.reconcile.target import SyncTarget, load_links, sync_state
from spacecal.sync.reconcile.touched import record_touches, separate, split_links
from spacecal.sync.reconcile.verify import CalendarUnverified, verify
from spacecal.sync.reconcile.writeback import finish_pending_creates, push_bookings, push_pending
from spacecal.sync.runtime import SyncRuntime
from spacecal.sync.tokens import AccountUnavailable

log = logging.getLogger("spacecal.sync")


async def reconcile(
    rt: SyncRuntime,
    connection_id: int,
    *,
    blocks_only: bool = False,
    prefetched: Prefetched | None = None,
) -> ReconcileOutcome:
    """One reconcile of the connection. `blocks_only` (queued by the dispatcher for a
    booking change of the resource, jobs/reconcile.py `defer_block_writes`): write the
    availability blocks the calendar owes and nothing else, without a pull. Push and
    polls stay the truth for the member's edits (their marks queue full reconciles);
    the pull that follows recognises the blocks by their links and etags (echoes), and
    a create whose answer was lost stays a pending link, finished before any pull.
    `prefetched`: its start and blocks, read with a claimed batch's (fanout.py)."""
    engine = rt.db.engine
    started = clock.now()
    put_backs = rt.settings.block_put_backs_per_hour
    # The target, the account's pause and tokens, and whether it owes nothing: one
    # statement (start.py), or one for a whole claimed batch.
    start, loaded = prefetched if prefetched is not None and blocks_only else (None, None)
    if start is None or not skips_pull(start):
        # Not prefetched, gone, or taking the full path: read afresh (a batch's read
        # may be seconds old by the time a full pass would use its calendar and cursor).
        loaded = None
        start = await read_start(
            rt.db.reads, connection_id, started, put_backs, ask_owed=not blocks_only
        )
    if start is None:
        return ReconcileOutcome(ReconcileStatus.SKIPPED)
    target = start.target
    if target.calendar_id is None or target.account_id is None:
        return ReconcileOutcome(ReconcileStatus.SKIPPED)
    if target.account_status != AccountStatus.ACTIVE:
        await record_health(rt, target, Health.NEEDS_RECONNECT)
        return ReconcileOutcome(ReconcileStatus.NEEDS_RECONNECT)
    provider = rt.provider_for(target.provider)
    tokens = rt.tokens(target.provider, target.account_id)
    if start.account is not None:
        tokens.preload(start.account)
    outcome = ReconcileOutcome(ReconcileStatus.OK)

    async def write_blocks(*, only_pending: bool = False, read: Loaded | None = None) -> int:
        """The availability blocks the calendar owes (`only_pending`: only the creates
        an earlier pass began, finished before any pull; `read`: what the batch read)."""
        return await push_blocks(
            engine,
            target,
            provider,
            tokens,
            now=clock.now(),
            put_backs_per_hour=put_backs,
            only_pending=only_pending,
            creates_at_once=rt.settings.block_create_concurrency,
            loaded=read,
        )

    # The provider keeps the account read-only (sync/limits.py): pull and decide, but
    # leave every write to the sweep after the pause.
    paused = start.paused_until
    blocks_only = blocks_only and skips_pull(start)
    # A poll of a calendar that owes nothing may end after its pull (owed.py).
    quiet = not blocks_only and paused is None and target.calendar_verified and start.owes_nothing
    try:
        if blocks_only:
            # Creates an earlier pass left (a lost answer) are finished first, as before
            # a pull: the pass below may then remove them knowing they reached the
            # provider (one query that usually finds none).
            if start.pending_blocks:
                outcome.writes += await write_blocks(only_pending=True)
                loaded = None  # read again after those
            outcome.writes += await write_blocks(read=loaded)
            # No `sync_runs` row for a blocks-only pass that went well (a booking
            # change elsewhere would write one per calendar of the resource); a failure
            # is recorded below like any reconcile's.
            return outcome
        if not target.calendar_verified:
            await verify(
                rt,
                provider,
                tokens,
                connection_id=target.connection_id,
                account_id=target.account_id,
                calendar_id=target.calendar_id,
                marker_pending=target.marker_pending,
            )
        if paused is None and not quiet:
            outcome.writes += await finish_pending_creates(engine, target, provider, tokens)
            if start.pending_blocks:
                outcome.writes += await write_blocks(only_pending=True)
        margin = rt.settings.sync_window_margin_days
        pull, window = await pull_with_window(provider, tokens, target, started, margin)
        outcome.pulled, outcome.full = len(pull.events), pull.full
        polled = is_polled(target.provider)
        if quiet and polled and not pull.full and not pull.events and pull.cursor == target.cursor:
            # No `sync_runs` row for it: the console shows the poll times.
            await record_poll(
                rt.db.reads,
                rt.settings,
                target.connection_id,
                changed=False,
                now=clock.now(),
                synced=True,
            )
            return outcome
        if quiet and await store_if_only_echoes(rt.db.reads, target, pull, clock.now()):
            # Only our own writes came back (echoes.py): a sync like any other in the
            # history and the activity counts.
            await record_history(engine, target, started, outcome)
            if polled:
                await record_poll(
                    rt.db.reads,
                    rt.settings,
                    target.connection_id,
                    changed=bool(pull.events),
                    now=clock.now(),
                )
            return outcome
        if not await _decide_and_commit(engine, target, pull, window):
            # The row names another calendar or account now: what was pulled is not
            # its; the reconcile queued for it starts over.
            outcome.status = ReconcileStatus.SKIPPED
            await record_history(engine, target, started, outcome)
            return outcome
        if paused is None:
            outcome.writes += await push_pending(engine, target, provider, tokens)
            outcome.writes += await push_scrubs(engine, target, provider, tokens)
            outcome.writes += await push_bookings(engine, target, provider, tokens, now=clock.now())
            # A blocks-only reconcile queued behind this one writes the blocks anyway:
            # writing them here too would be a third write of one booking's burst of
            # moves (one running + one queued per calendar, as before that job kind).
            async with engine.connect() as conn:
                blocks_next = await blocks_queued(conn, target.connection_id)
            if not blocks_next:
                outcome.writes += await write_blocks()
            await record_health(rt, target, Health.HEALTHY)
        else:
            await record_paused(rt, target, paused)
            outcome.error = f"writes paused by the provider until {paused.isoformat()}"
    except AccountReadOnly:
        # AccountTokens stored the pause for every process.
        until = await limits.paused_until(engine, target.account_id, clock.now())
        await record_paused(rt, target, until or clock.now())
        outcome.error = "the provider made the account read-only (usage limits)"
    except Paced as exc:
        wait = exc.retry_after or 0.0
        outcome.status, outcome.error = ReconcileStatus.PACED, str(exc)
        await record_paced(rt, target, wait)
    except Throttled as exc:
        error = f"throttled by the provider ({exc.status})"
        outcome = ReconcileOutcome(ReconcileStatus.THROTTLED, error=error)
        await record_health(rt, target, Health.THROTTLED, exc, error)
    except AccountUnavailable as exc:
        outcome = ReconcileOutcome(ReconcileStatus.NEEDS_RECONNECT, error=str(exc))
        await record_health(rt, target, Health.NEEDS_RECONNECT, exc, str(exc), retry=False)
    except CalendarUnverified as exc:
        # Not synced until verified; asked again after the usual backoff.
        outcome = ReconcileOutcome(ReconcileStatus.FAILED, error=str(exc))
        await record_health(rt, target, Health.UNVERIFIED, exc, str(exc))
    except UnsafeId as exc:
        # A stored id that cannot be one URL segment: permanent until corrected.
        error = f"{exc}; a full administrator must correct it"
        outcome = ReconcileOutcome(ReconcileStatus.FAILED, error=error)
        await record_health(rt, target, Health.ERROR, exc, error, retry=False)
    except ProviderError as exc:
        error = error_text(exc)
        outcome = ReconcileOutcome(ReconcileStatus.FAILED, error=error)
        await record_health(rt, target, Health.FAILING, exc, error)
    except Exception as exc:
        log.exception("reconcile failed", extra={"connection_id": connection_id})
        error = "internal error (logged)"
        outcome = ReconcileOutcome(ReconcileStatus.FAILED, error=error)
        await record_health(rt, target, Health.FAILING, exc, error)
    await record_history(engine, target, started, outcome)
    if is_polled(target.provider) and not blocks_only:
        # The next poll (sync/polling.py); a failure's backoff is `retry_at`'s.
        changed = outcome.pulled > 0 and not outcome.full
        await record_poll(
            rt.db.reads, rt.settings, target.connection_id, changed=changed, now=clock.now()
        )
    return outcome


async def _decide_and_commit(
    engine: AsyncEngine, target: SyncTarget, pull: PullResult, window: SyncWindow
) -> bool:
    """Decide the pulled changes and commit them with the cursor; False (nothing
    written, a reconcile queued) when the row changed its calendar or account since
    the pull: calendar X's events and cursor must not land on a row naming Y."""
    async with engine.begin() as conn:
        # One reconcile per connection at a time is the queueing rule; the row lock
        # also orders us with provisioning and record writes.
        now_names = (
            await conn.execute(
                update(Connection)
                .where(Connection.id == target.connection_id)
                .values(health=Connection.health)
                .returning(Connection.calendar_id, Connection.provider_account_id)
            )
        ).first()
        if now_names is None or tuple(now_names) != (target.calendar_id, target.account_id):
            if now_names is not None:
                await defer_reconcile(conn, target.connection_id, now_names[1])
            return False
        now = clock.now()
        # Blocks are known by their links and never decided as the member's events.
        links, blocks = split_links(await load_links(conn, target.connection_id))
        windowed = capabilities(target.provider).windowed
        pull, touches = separate(pull, blocks, window, windowed)
        await record_touches(conn, target.connection_id, touches, now)
        deferred = await load_deferred(
            conn,
            target.connection_id,
            everything=pull.full,
            before=now + timedelta(days=target.business.max_booking_days_ahead + 2),
            series={e.key for e in pull.events if e.cancelled},
        )
        events = changes_to_decide(pull, links, deferred, target, window)
        # Deferred instances the horizon reaches now are decided as if pulled again.
        due = due_now(deferred, (e.key for e in events), target.business, now)
        events += due
        pulled = frozenset(e.key for e in events if not e.cancelled)
        state = await sync_state(conn, target, links, now, pulled)
        plan = decide_changes(
            events,
            state,
            target.resource,
            target.business,
            now=now,
            member_allowed=target.member_allowed,
        )
        series_of = {e.key: e.series_id for e in (*pull.events, *due)}
        shown = {
            e.key: Shown(EventText(e.title, e.description), pull.etags.get(e.key))
            for e in pull.events
            if not e.cancelled
        }
        result = await commit_plan(conn, target, plan, now=now, series_of=series_of, shown=shown)
        await settle_deferred(
            conn, target.connection_id, events, plan, now, lost_races=bool(result.lost_races)
        )
        refused = len(plan.mark_refused) + len(plan.put_back)
        metrics.refusals(target.provider, refused)
        if result.bookings_changed or refused:
            log.info(
                "%d booking(s) changed, %d change(s) refused",
                len(result.bookings_changed),
                refused,
                extra={"connection_id": target.connection_id},
            )
        if result.lost_races:
            # Some decisions were made against bookings that changed meanwhile: keep
            # the old cursor so the same changes are pulled and decided again, fresh
            # (what was committed is recognised as decided), and go again at once.
            await defer_reconcile(conn, target.connection_id, target.account_id)
        else:
            stored = window if pull.full and windowed else None
            await store_cursor(conn, target, pull.cursor, now, window=stored)
    return True


# --- the job (jobs/names.py RECONCILE) -------------------------------------------------

# The outcome lines keep the logger they always had (docs/operations.md greps it).
job_log = logging.getLogger("spacecal.jobs")


async def _requeue_stalled(conn: AsyncConnection, args: dict[str, Any]) -> None:
    """A reconcile cut short by a dead worker: queue a fresh one."""
    connection_id = args.get("connection_id")
    if isinstance(connection_id, int):
        account = await conn.scalar(
            select(Connection.provider_account_id).where(Connection.id == connection_id)
        )
        await defer_reconcile(conn, connection_id, account)


@jobs.task(names.RECONCILE, on_stalled=_requeue_stalled)
async def reconcile_task(
    rt: SyncRuntime, connection_id: int, trace: str | None = None, blocks_only: bool = False
) -> None:
    """`trace`: the trace id of the first notification behind this job (sync/intake/dispatch.py),
    absent for jobs from other triggers (they get a new one). Bound for the run, so the
    reconciles this one defers carry it on (jobs/reconcile.py). `blocks_only`: the
    dispatcher's job for a booking change elsewhere (see `reconcile`)."""
    with bind_trace(trace):
        if blocks_only:

            async def one(cid: int, prefetched: Prefetched | None) -> None:
                outcome = await reconcile(rt, cid, blocks_only=True, prefetched=prefetched)
                job_log.info(
                    "reconcile %s: %s (wrote %d, blocks only)",
                    cid,
                    outcome.status,
                    outcome.writes,
                    extra={"connection_id": cid},
                )

            await write_blocks_together(rt, connection_id, one)
            return
        async with metrics.timed_sync(rt.db.engine, connection_id) as timer:
            outcome = await reconcile(rt, connection_id, blocks_only=blocks_only)
            timer.outcome = outcome.status
        job_log.info(
            "reconcile %s: %s (pulled %d, wrote %d%s)",
            connection_id,
            outcome.status,
            outcome.pulled,
            outcome.writes,
            ", full" if outcome.full else "",
            extra={"connection_id": connection_id},
        )
