"""Request budgets shared by every process: no provider account (and no whole project)
makes more API requests in any rolling minute than its budget (config.py:
`google_requests_per_minute` ≈ 500 of Google's 600 per user, the project's 10,000,
`microsoft_requests_per_minute` of Graph's 10,000 per 10 minutes per mailbox).

Mechanism: a generic cell rate per scope (a row of `request_pace`: the theoretical
time of the next request), reserved for the account and the project together by one
INSERT … ON CONFLICT DO UPDATE … RETURNING per request, so it stays cheap on every
call path. With budget B per minute and a burst of b (`request_pace_burst_fraction`
of B, 0.6: a new connection's fill of a few hundred events goes at once), requests go
at once up to b, then one every 60/(B − b) s; any rolling minute then holds at most B.

A request whose place is at most `request_pace_max_wait_seconds` away waits for it in
its process; a later place is given back and `Paced` (a Throttled) is raised: the
reconcile finishes and is queued again for that time, as after throttling, which is
account-wide anyway (DESIGN, Jobs).

Graph's 4 concurrent requests per mailbox are not a rate and stay where they were:
the reconcile job's account lock (one sync per mailbox at a time, every process) and
the per-process gate (providers/gate.py) for what else runs in the same process; what
still overlaps across processes answers 429 with Retry-After and is waited out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from spacecal import clock, metrics
from spacecal.config import Settings
from spacecal.db.engine import autocommit
from spacecal.providers.pacing import Paced

_RESERVE = text(
    "INSERT INTO request_pace AS p (scope, pace_at)"
    " SELECT unnest(CAST(:scopes AS text[])), :now + unnest(CAST(:steps AS interval[]))"
    " ON CONFLICT (scope) DO UPDATE"
    " SET pace_at = CASE WHEN p.pace_at > :stale THEN :now"
    " ELSE greatest(p.pace_at, :now) END + (excluded.pace_at - :now)"
    " RETURNING p.scope, p.pace_at"
)
_GIVE_BACK = text(
    "UPDATE request_pace AS p SET pace_at = p.pace_at - g.step"
    " FROM unnest(CAST(:scopes AS text[]), CAST(:steps AS interval[])) AS g(scope, step)"
    " WHERE p.scope = g.scope"
)


@dataclass(frozen=True)
class Budget:
    """One scope's budget: `per_minute` in any rolling minute, `burst_fraction` of it
    at once."""

    scope: str
    per_minute: float
    burst_fraction: float = 0.1

    @property
    def burst(self) -> int:
        return max(1, min(int(self.per_minute * self.burst_fraction), int(self.per_minute) - 1))

    @property
    def step(self) -> timedelta:
        # B − b spread over the minute, after the burst of b: at most B per minute.
        return timedelta(seconds=60.0 / max(self.per_minute - self.burst, 1.0))


def budgets(settings: Settings, provider: str, account_id: int) -> tuple[Budget, ...]:
    """The budgets a request of `account_id` counts against (the project's last, so
    concurrent reservations lock rows in one order)."""
    if provider == "google":
        account, project = (
            settings.google_requests_per_minute,
            settings.google_project_requests_per_minute,
        )
    elif provider == "microsoft":
        account, project = (
            settings.microsoft_requests_per_minute,
            settings.microsoft_project_requests_per_minute,
        )
    else:
        return ()
    burst = settings.request_pace_burst_fraction
    found = []
    if account > 0:
        found.append(Budget(f"{provider}:account:{account_id}", account, burst))
    if project > 0:
        found.append(Budget(f"{provider}:project", project, burst))
    return tuple(found)


class AccountPacer:
    """The `providers.pacing.RequestPacer` of one account."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        provider: str,
        account_id: int,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.engine = engine
        self.provider = provider
        self.budgets = budgets(settings, provider, account_id)
        self.max_wait = settings.request_pace_max_wait_seconds
        self._sleep = sleep

    async def take(self) -> None:
        if not self.budgets:
            return
        wait, scope = await reserve(self.engine, self.budgets, clock.now(), self.max_wait)
        if wait > 0:
            metrics.request_paced(self.provider, scope, wait)
            await self._sleep(wait)


async def reserve(
    engine: AsyncEngine, wanted: tuple[Budget, ...], now: datetime, max_wait: float
) -> tuple[float, str]:
    """Reserve one request in every budget of `wanted`: the seconds to wait for it
    (0: at once) and the scope that decides the wait. Over `max_wait`, the places are
    given back and Paced is raised."""
    scopes = [b.scope for b in wanted]
    steps = [b.step for b in wanted]
    # Autocommit: one round trip when the budget allows (the usual case).
    async with autocommit(engine).connect() as conn:
        # A pace far beyond any wait a budget allows comes from a clock that jumped
        # back: it starts afresh instead of stalling the account.
        stale = now + timedelta(seconds=max_wait + 120)
        params = {"scopes": scopes, "steps": steps, "now": now, "stale": stale}
        rows = (await conn.execute(_RESERVE, params)).all()
        paces = {scope: pace_at for scope, pace_at in rows}
        wait, scope = 0.0, ""
        for budget in wanted:
            # This request's place: the new pace less one step, less the burst's slack.
            place = paces[budget.scope] - budget.step * budget.burst
            seconds = (place - now).total_seconds()
            if seconds > wait:
                wait, scope = seconds, budget.scope
        if wait > max_wait:
            # Giving back one step undoes this reservation whatever came after it.
            await conn.execute(_GIVE_BACK, {"scopes": scopes, "steps": steps})
    if wait > max_wait:
        kind = "project" if scope.endswith(":project") else "account"
        metrics.request_paced(wanted[0].scope.split(":")[0], scope, wait, deferred=True)
        raise Paced(wait, kind)
    return wait, scope
