"""A new connection's fill (issue 19): each block is written once, by the reconcile job
after the set-up, never inside the member's portal request."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from tests.support.bookings import tomorrow_at
from tests.support.environments import PROVIDERS, SyncEnv
from tests.sync.test_blocks import _writes, blocks, book

from spacecal import clock
from spacecal.db.models import Connection, EventLink
from spacecal.sync.reconcile.blocks import push_blocks
from spacecal.sync.reconcile.target import load_target


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_the_fill_writes_each_block_once(sync_env: SyncEnv, provider: str) -> None:
    bob = sync_env.env.space.bob
    for day in range(6):
        for hour in (9, 11, 14):
            await book(sync_env, bob, tomorrow_at(hour, days=day + 1))
    await sync_env.settle()
    before = _writes(sync_env, provider)
    alice = await sync_env.connect(provider, "alice")
    await sync_env.settle()
    assert len(blocks(alice)) == 18
    assert _writes(sync_env, provider) - before == 18


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_two_passes_at_once_write_each_block_once(sync_env: SyncEnv, provider: str) -> None:
    """Two writers of one calendar's blocks at once (a set-up's fill and the reconcile its
    first notification started, before the fill left the request): one link and one
    write per block, never a second link for the same booking."""
    await sync_env.connect(provider, "alice")
    await sync_env.settle()
    bob = sync_env.env.space.bob
    for day in range(4):
        for hour in (9, 11, 14):
            await book(sync_env, bob, tomorrow_at(hour, days=day + 1))
    alice = sync_env.env.space.alice
    async with sync_env.engine.connect() as conn:
        [connection_id] = (
            await conn.scalars(select(Connection.id).where(Connection.coworker_id == alice))
        ).all()
    async with sync_env.engine.connect() as conn:
        target = await load_target(conn, connection_id)
    assert target is not None and target.account_id is not None
    rt = sync_env.rt
    before = _writes(sync_env, provider)

    async def one_pass() -> int:
        assert target is not None and target.account_id is not None
        return await push_blocks(
            sync_env.engine,
            target,
            rt.provider_for(provider),
            rt.tokens(provider, target.account_id),
            now=clock.now(),
            put_backs_per_hour=3,
        )

    await asyncio.gather(one_pass(), one_pass(), one_pass())
    async with sync_env.engine.connect() as conn:
        per_booking = (
            await conn.execute(
                select(EventLink.booking_id, func.count())
                .where(EventLink.kind == "block")
                .group_by(EventLink.booking_id)
            )
        ).all()
    assert len(per_booking) == 12 and all(n == 1 for _, n in per_booking)
    assert _writes(sync_env, provider) - before == 12


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_the_connect_request_leaves_the_fill_to_the_job(
    sync_env: SyncEnv, provider: str
) -> None:
    bob = sync_env.env.space.bob
    for day in range(3):
        await book(sync_env, bob, tomorrow_at(9, days=day + 1))
    await sync_env.settle()
    before = _writes(sync_env, provider)
    alice = await sync_env.connect(provider, "alice")
    # The request answered: no block written yet, the connection marked for its job.
    assert blocks(alice) == [] and _writes(sync_env, provider) == before
    assert await sync_env.marks() == 1
    await sync_env.settle()
    assert len(blocks(alice)) == 3
    assert _writes(sync_env, provider) - before == 3
