"""The availability fan-out (issue 19, item 4): a booking change reaches the
resource's other calendars through blocks-only reconciles, which write the blocks
without a pull, coalesce a burst of moves, are taken several to a job under each
account's own job lock, and a new connection's fill creates blocks a few at once,
safely when answers are lost."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from tests.support.bookings import tomorrow_at
from tests.support.environments import PROVIDERS, SyncEnv, move_clocks
from tests.sync.test_blocks import _writes, blocks, book, move

from spacecal import jobs
from spacecal.db.models import Booking, BookingChange, EventLink
from spacecal.jobs import names
from spacecal.jobs.batch import RunningJob, claim, finish, running
from spacecal.jobs.reconcile import BLOCKS_QUEUEING_PREFIX, account_lock, blocks_queueing_lock
from spacecal.runner import run_worker
from spacecal.sync.intake.dispatch import dispatch_once
from spacecal.sync.reconcile.fanout import write_blocks_together
from spacecal.sync.upkeep.sweep import sweep


def _calls(s: SyncEnv, provider: str, account: str) -> list[dict[str, Any]]:
    if provider == "google":
        return [r.as_dict() for r in s.env.google.core.calls.list(account=account)]
    return [r.as_dict() for r in s.env.microsoft.calls.list(account=account)]


def _reads(calls: list[dict[str, Any]]) -> int:
    return sum(1 for c in calls if c["method"] == "GET" and "/events" in c["path"])


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_booking_elsewhere_is_written_without_a_pull(
    sync_env: SyncEnv, provider: str
) -> None:
    """Bob books; alice's calendar gets the block from a blocks-only reconcile that
    reads nothing from her calendar first. The echo's reconcile then pulls, knows the
    block by its link and etag, and writes nothing (no loop)."""
    alice = await sync_env.connect(provider, "alice")
    await sync_env.connect("microsoft" if provider == "google" else "google", "bob")
    await sync_env.settle()
    before = _calls(sync_env, provider, alice.email)
    await book(sync_env, sync_env.env.space.bob, tomorrow_at(10))
    await sync_env.dispatch()
    async with sync_env.engine.connect() as conn:
        queued = list(
            await conn.scalars(
                text("SELECT queueing_lock FROM procrastinate_jobs WHERE status = 'todo'")
            )
        )
    assert any(q.startswith(BLOCKS_QUEUEING_PREFIX) for q in queued), queued
    await run_worker(sync_env.rt, wait=False, periodic=False, concurrency=2)
    made = _calls(sync_env, provider, alice.email)[len(before) :]
    assert _reads(made) == 0, made
    assert len(blocks(alice)) == 1
    writes = _writes(sync_env, provider)
    await sync_env.settle()  # the echo: pulled, recognised, nothing written
    assert _writes(sync_env, provider) == writes
    assert len(blocks(alice)) == 1


async def test_a_burst_of_moves_settles_before_it_is_written(sync_env: SyncEnv) -> None:
    """Changes of a booking still moving wait (`block_settle_seconds`), so a burst costs
    each other calendar one write; `block_settle_max_seconds` bounds the wait."""
    alice = await sync_env.connect("google", "alice")
    await sync_env.connect("microsoft", "bob")
    await sync_env.settle()
    booking = await book(sync_env, sync_env.env.space.bob, tomorrow_at(9))
    for hour in (10, 11, 12):
        await move(sync_env, booking, tomorrow_at(hour))
    done = await dispatch_once(sync_env.engine, batch=100, settle=0.3, settle_max=1.0)
    assert done.changes == 0  # still changing at this instant
    move_clocks(sync_env.env, timedelta(seconds=0.5))
    done = await dispatch_once(sync_env.engine, batch=100, settle=0.3, settle_max=1.0)
    assert done.changes == 4
    before = _writes(sync_env, "google")
    await sync_env.settle()
    assert _writes(sync_env, "google") - before == 1
    [block] = blocks(alice)
    assert block.start == tomorrow_at(12)
    # A booking that never stops changing is still written within the maximum.
    await move(sync_env, booking, tomorrow_at(13))
    move_clocks(sync_env.env, timedelta(seconds=0.9))
    await move(sync_env, booking, tomorrow_at(14))
    move_clocks(sync_env.env, timedelta(seconds=0.2))
    done = await dispatch_once(sync_env.engine, batch=100, settle=0.3, settle_max=1.0)
    assert done.changes == 2
    async with sync_env.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(BookingChange)) == 0


async def _worker(sync_env: SyncEnv) -> int:
    async with sync_env.engine.begin() as conn:
        return int(
            await conn.scalar(
                text(
                    "INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now()) RETURNING id"
                )
            )
        )


async def test_claiming_respects_each_account_lock(sync_env: SyncEnv) -> None:
    """A running job takes more queued blocks-only jobs only where procrastinate's
    fetch would: no job of the same account running, none queued ahead of it."""
    worker = await _worker(sync_env)

    def job(connection: int, account: int, *, blocks: bool = True) -> jobs.JobRow:
        lock = blocks_queueing_lock(connection) if blocks else f"reconcile:{connection}"
        return jobs.JobRow(account_lock(account, connection), lock, {"connection_id": connection})

    async with sync_env.engine.begin() as conn:
        # account 3 has a reconcile running; account 2 two calendars' blocks queued.
        await jobs.defer_many(conn, names.RECONCILE, [job(30, 3, blocks=False)])
        await claim(conn, names.RECONCILE, "reconcile:", limit=1, worker_id=worker)
        await jobs.defer_many(
            conn,
            names.RECONCILE,
            [job(10, 1), job(20, 2), job(21, 2), job(31, 3), job(40, 4, blocks=False)],
        )
    async with sync_env.engine.begin() as conn:
        claimed = await claim(
            conn, names.RECONCILE, BLOCKS_QUEUEING_PREFIX, limit=10, worker_id=worker
        )
    assert sorted(c.args["connection_id"] for c in claimed) == [10, 20]
    async with sync_env.engine.begin() as conn:
        await finish(conn, [(c.id, True) for c in claimed])
        rows = dict(
            (
                await conn.execute(
                    text(
                        "SELECT queueing_lock, status::text FROM procrastinate_jobs"
                        " WHERE queueing_lock LIKE 'blocks:%'"
                    )
                )
            ).all()
        )
    assert rows == {
        "blocks:10": "succeeded",
        "blocks:20": "succeeded",
        "blocks:21": "todo",
        "blocks:31": "todo",
    }
    async with sync_env.engine.begin() as conn:
        again = await claim(
            conn, names.RECONCILE, BLOCKS_QUEUEING_PREFIX, limit=10, worker_id=worker
        )
    assert [c.args["connection_id"] for c in again] == [21]


async def _blocks_statuses(sync_env: SyncEnv) -> dict[str, str]:
    async with sync_env.engine.connect() as conn:
        return dict(
            (
                await conn.execute(
                    text(
                        "SELECT queueing_lock, status::text FROM procrastinate_jobs"
                        " WHERE queueing_lock LIKE 'blocks:%'"
                    )
                )
            ).all()
        )


async def test_claimed_jobs_end_with_their_own_writes_even_when_one_fails(
    sync_env: SyncEnv,
) -> None:
    """A claimed job holds its account's lock while `doing`, and a live worker's jobs
    are never recovered as stalled: each ends as soon as its own write does (a
    failure too), not when the whole batch is over."""
    worker = await _worker(sync_env)
    rows = [
        jobs.JobRow(
            account_lock(n, n * 10), blocks_queueing_lock(n * 10), {"connection_id": n * 10}
        )
        for n in (1, 2, 3)
    ]
    async with sync_env.engine.begin() as conn:
        await jobs.defer_many(conn, names.RECONCILE, rows)
        [head] = await claim(
            conn, names.RECONCILE, BLOCKS_QUEUEING_PREFIX, limit=1, worker_id=worker
        )

    async def write(connection_id: int, _prefetched: object) -> None:
        if connection_id == 20:
            raise RuntimeError("the provider is down")
        if connection_id == 10:  # the head's own write outlasts the others
            for _ in range(200):
                if (await _blocks_statuses(sync_env)).get("blocks:30") == "succeeded":
                    return
                await asyncio.sleep(0.01)
            raise AssertionError("blocks:30 was not finished when its write ended")

    with running(RunningJob(head.id, worker)):
        await write_blocks_together(sync_env.rt, head.args["connection_id"], write)
    assert await _blocks_statuses(sync_env) == {
        "blocks:10": "doing",  # the head: procrastinate finishes it
        "blocks:20": "failed",
        "blocks:30": "succeeded",
    }


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_fill_with_lost_answers_leaves_each_block_once(
    sync_env: SyncEnv, provider: str
) -> None:
    """The fill creates several blocks at once; the answers to some are lost (the
    events were made). The reconcile fails, the next one finishes the pending creates
    under the same keys before it pulls: each booking shown exactly once, no block
    taken for the member's own event, no booking made from one."""
    bob = sync_env.env.space.bob
    for day in range(4):
        for hour in (9, 11, 14):
            await book(sync_env, bob, tomorrow_at(hour, days=day + 1))
    await sync_env.settle()
    emulator = sync_env.env.google if provider == "google" else sync_env.env.microsoft
    account = "alice@gmail.test" if provider == "google" else "alice@outlook.test"
    alice = await sync_env.connect(provider, "alice")
    assert alice.email == account
    emulator.faults.add("lost_response", times=3, account=account, method="POST")
    await sync_env.settle()
    for _ in range(3):
        move_clocks(sync_env.env, timedelta(minutes=30))
        await sweep(sync_env.rt)
        await sync_env.settle()
    shown = blocks(alice)
    assert len(shown) == 12
    assert len({(b.start, b.end) for b in shown}) == 12
    async with sync_env.engine.connect() as conn:
        links = await conn.scalar(
            select(func.count()).where(
                EventLink.kind == "block", ~EventLink.event_key.like("pending%")
            )
        )
        made = await conn.scalar(select(func.count()).select_from(Booking))
    assert links == 12 and made == 12


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_lost_block_answer_then_a_cancellation_leaves_nothing(
    sync_env: SyncEnv, provider: str
) -> None:
    """The answer to a block's create is lost (the event was made); the booking is then
    cancelled. The next pass finishes the create under its key before removing it: no
    block left at the old time, and the event never becomes a booking."""
    alice = await sync_env.connect(provider, "alice")
    await sync_env.connect("microsoft" if provider == "google" else "google", "bob")
    await sync_env.settle()
    emulator = sync_env.env.google if provider == "google" else sync_env.env.microsoft
    emulator.faults.add("lost_response", times=1, account=alice.email, method="POST")
    booking = await book(sync_env, sync_env.env.space.bob, tomorrow_at(10))
    await sync_env.settle()
    cancelled = await sync_env.env.api.delete(f"/api/spaces/bookings/{booking}")
    assert cancelled.status_code == 200, cancelled.text
    await sync_env.settle()
    for _ in range(2):
        move_clocks(sync_env.env, timedelta(minutes=30))
        await sweep(sync_env.rt)
        await sync_env.settle()
    assert blocks(alice) == [] and alice.events() == []
    async with sync_env.engine.connect() as conn:
        live = await conn.scalar(
            select(func.count()).select_from(Booking).where(Booking.cancelled_at.is_(None))
        )
        links = await conn.scalar(select(func.count()).where(EventLink.kind == "block"))
    assert (live, links) == (0, 0)


async def test_a_batch_reads_each_calendars_blocks_as_it_would_alone(sync_env: SyncEnv) -> None:
    """A claimed batch reads its calendars' blocks in one go (fanout.prefetch): each
    calendar gets exactly what its own read would give, never the other's bookings
    as its own or its own bookings as blocks."""
    from spacecal import clock
    from spacecal.db.models import Connection
    from spacecal.sync.reconcile.blocks import load_blocks
    from spacecal.sync.reconcile.fanout import prefetch
    from spacecal.sync.reconcile.target import load_target

    await sync_env.connect("google", "alice")
    await sync_env.connect("microsoft", "bob")
    await sync_env.settle()
    space = sync_env.env.space
    await book(sync_env, space.bob, tomorrow_at(9))
    await book(sync_env, space.alice, tomorrow_at(11))
    await book(sync_env, space.bob, tomorrow_at(14))
    async with sync_env.engine.connect() as conn:
        ids = list(await conn.scalars(select(Connection.id).order_by(Connection.id)))
        targets = [t for i in ids if (t := await load_target(conn, i)) is not None]
        now = clock.now()
        together = await load_blocks(conn, targets, now)
        alone = {
            t.connection_id: (await load_blocks(conn, [t], now))[t.connection_id] for t in targets
        }
    assert len(targets) == 2
    assert together == alone
    wanted = {
        cid: sorted(b.coworker_id or 0 for b in w.values()) for cid, (_, _, w) in together.items()
    }
    by_member = {t.coworker_id: wanted[t.connection_id] for t in targets}
    assert by_member == {space.alice: [space.bob, space.bob], space.bob: [space.alice]}

    fetched = await prefetch(sync_env.rt, [*ids, 10**9])
    assert fetched[10**9] == (None, None)  # gone: the pass skips it
    for cid in ids:
        start, loaded = fetched[cid]
        assert start is not None and start.target.connection_id == cid
        # Settled calendars in good standing: their blocks come with the batch.
        assert loaded is not None and loaded[2].keys() == alone[cid][2].keys()
