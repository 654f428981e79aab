"""Channels and subscriptions of deleted connections: a stop the provider keeps
refusing is tried again after growing waits, a bounded number of times, never in a
loop; what was never stopped is settled when it lapses."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from tests.support.environments import PROVIDERS, KeepEnv
from tests.support.keepalive import GOOGLE, MICROSOFT, put_record

from spacecal.db.models import SubscriptionGeneration

STOP = {
    "google": (GOOGLE, {"method": "POST", "path": "/calendar/v3/channels/stop"}),
    "microsoft": (MICROSOFT, {"method": "DELETE", "path": "/v1.0/subscriptions/*"}),
}


def stop_calls(k: KeepEnv, provider: str) -> list[datetime]:
    """When spacecal asked the provider to stop a channel/subscription."""
    if provider == "google":
        calls = k.env.google.core.calls.list()
        return [c.time for c in calls if c.method == "POST" and c.path.endswith("/channels/stop")]
    calls = k.env.microsoft.core.calls.list()
    return [
        c.time for c in calls if c.method == "DELETE" and c.path.startswith("/v1.0/subscriptions/")
    ]


async def the_orphan(k: KeepEnv) -> Any:
    async with k.engine.connect() as conn:
        [gen] = (
            await conn.execute(
                select(SubscriptionGeneration).where(SubscriptionGeneration.connection_id.is_(None))
            )
        ).all()
    return gen


async def disconnect_with_failing_stops(k: KeepEnv, provider: str, times: int | None) -> str:
    member = await k.connect(provider)
    await k.settle()
    base, match = STOP[provider]
    rule: dict[str, Any] = {"kind": "http_5xx", "match": match}
    if times is not None:
        rule["times"] = times
    await k.env.fault(base, rule)
    await put_record(k, "resources", k.env.space.room_id, Bookable=False)
    await k.settle()
    return member.calendar_id


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_failing_stop_is_retried_with_growing_waits(
    keep_env: KeepEnv, provider: str
) -> None:
    k = keep_env
    calendar_id = await disconnect_with_failing_stops(k, provider, times=5)
    gen = await the_orphan(k)
    assert gen.status == "stopping" and gen.stop_failures == 1
    assert k.live_at_provider(provider, calendar_id) == [gen.subscription_id]
    # Sixteen hours in ten-minute steps, the keep-alive pass each step (as every minute
    # in production): five failures with waits of 1, 2, 4, 4, 4 h (the cap), then the
    # sixth try, at +15 h, gets through.
    for _ in range(6 * 16):
        await k.advance(timedelta(minutes=10))
    calls = stop_calls(k, provider)
    gaps = [later - earlier for earlier, later in itertools.pairwise(calls)]
    expected = [timedelta(hours=h) for h in (1, 2, 4, 4, 4)]
    assert len(gaps) == len(expected), calls
    for gap, want in zip(gaps, expected, strict=True):
        assert want <= gap <= want + timedelta(minutes=10), gaps
    # The sixth try got through: stopped at the provider, nothing more is tried.
    gen = await the_orphan(k)
    assert gen.status == "stopped"
    assert k.live_at_provider(provider, calendar_id) == []
    await k.advance(timedelta(hours=6))
    assert len(stop_calls(k, provider)) == len(calls)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_stop_that_never_succeeds_is_given_up_and_settled_at_expiry(
    keep_env: KeepEnv, provider: str
) -> None:
    k = keep_env
    k.rt.settings = k.rt.settings.model_copy(update={"leftover_max_attempts": 3})
    calendar_id = await disconnect_with_failing_stops(k, provider, times=None)
    gen = await the_orphan(k)
    lapses = gen.expires_at
    for _ in range(6 * 20):  # 20 hours: three tries (0, +1 h, +3 h), then none
        await k.advance(timedelta(minutes=10))
    assert len(stop_calls(k, provider)) == 3
    gen = await the_orphan(k)
    assert gen.status == "stopping" and gen.stop_failures == 3
    for _ in range(6 * 10):  # past the subscription's expiry (24 h here)
        await k.advance(timedelta(minutes=10))
    assert len(stop_calls(k, provider)) == 3
    assert (await the_orphan(k)).status == "stopped"  # lapsed: settled without a call
    assert k.env.google.clock.now() > lapses
    assert k.live_at_provider(provider, calendar_id) == []
