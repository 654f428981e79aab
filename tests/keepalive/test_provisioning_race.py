"""Provisioning and the keep-alive never both subscribe one calendar.

The race CI found (tests/scale): a keep-alive pass that read "calendar stored, no live
channel" while the connection's provisioner was between those two steps subscribed a
second channel. The keep-alive now leaves such a connection to its provisioner (the
provisioning lock, sync/locks.py)."""

from __future__ import annotations

import asyncio

import pytest
from tests.support.environments import KeepEnv
from tests.support.keepalive import add_resource


@pytest.mark.parametrize("provider", ["google", "microsoft"])
async def test_a_pass_during_provisioning_leaves_the_first_channel_to_the_provisioner(
    keep_env: KeepEnv, provider: str
) -> None:
    k = keep_env
    await k.connect(provider)
    reached, go_on = asyncio.Event(), asyncio.Event()

    async def pause(step: str) -> None:
        if step == "calendar_stored":
            reached.set()
            await go_on.wait()

    k.env.rt.step_hook = pause
    try:
        adding = asyncio.create_task(add_resource(k, provider, k.env.space.desk_id))
        await asyncio.wait_for(reached.wait(), 30)
        await k.tick()  # the pass and its jobs run while the desk has a calendar only
        assert len(await k.generations(provider, "live")) == 1  # the room's
        go_on.set()
        await asyncio.wait_for(adding, 30)
    finally:
        k.env.rt.step_hook = None
    await k.tick()
    live = await k.generations(provider, "live")
    assert len(live) == 2
    assert len({g.connection_id for g in live}) == 2  # one channel per calendar
