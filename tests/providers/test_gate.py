"""Per-account request limits (providers/gate.py, issue 18 item 12): spacecal stays
within Graph's 4 concurrent requests per mailbox and Google's per-user rate."""

from __future__ import annotations

import asyncio

from tests.providers.harness import close_env, make_env

from spacecal.providers.base import Throttled
from spacecal.providers.gate import RequestGates
from spacecal.providers.microsoft.provider import MicrosoftProvider


async def test_graph_requests_stay_within_the_mailbox_concurrency() -> None:
    env = make_env("microsoft")
    try:
        # The emulator enforces Graph's limit and keeps each request in flight a while.
        env.emu.set_concurrency_limit(4, hold_seconds=0.05, retry_after=1)
        provider = MicrosoftProvider(env.settings, env.http)
        assert env.settings.microsoft_concurrent_requests == 4
        answers = await asyncio.gather(
            *(provider.list_calendars(env.access) for _ in range(12)), return_exceptions=True
        )
        throttled = [a for a in answers if isinstance(a, Throttled)]
        assert throttled == [], throttled
        assert all(isinstance(a, list) for a in answers)
    finally:
        await close_env(env)


async def test_google_requests_are_paced_per_account() -> None:
    now = [0.0]
    slept: list[float] = []

    def monotonic() -> float:
        return now[0]

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    gates = RequestGates(monotonic, sleep)
    started: list[float] = []
    for _ in range(130):
        async with gates.slot("google", "token-a", per_minute=600):
            started.append(now[0])
    # 60 at once (a tenth of the minute), then 10 per second: never over 600 a minute.
    assert started[59] == 0.0 and started[60] > 0.0
    assert abs(started[-1] - 7.0) < 1e-6
    for i, t in enumerate(started):
        assert sum(1 for u in started if t - 60.0 < u <= t) <= 600, i
    # Another account has its own budget.
    async with gates.slot("google", "token-b", per_minute=600):
        pass
    assert now[0] == started[-1]
