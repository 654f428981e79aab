"""The sign-in limiter and the password-check gate, shared by `/api/token`, HTTP Basic,
the portal's and the console's sign-in.

`SignInLimiter` counts an attempt *before* its password is checked: each attempt
reserves a slot under three keys in PostgreSQL (`login_counters`, one statement, so
every API process of a deployment shares the counts):

- account + address (`login_max_failures`): the budget of one guesser at one account;
- address (`login_address_max_failures`): one address spraying many accounts;
- account (`login_account_max_failures`, larger): the per-account backoff against
  guessing from many addresses. It limits only addresses with failures of their own
  for that account (a nonzero account + address count): an address with none passes
  it, so guessers cannot lock the owner (or an integration) out by filling it.

An address is an IPv4 address or an IPv6 /64 (one subscriber's usual allocation, so
one client cannot take a fresh address per guess).

A failed attempt keeps its slot; a correct one gives its slots back (and clears the
account + address count). So at most the limit of attempts is ever *verified* per
window and key, however many arrive in parallel.

`VerifyGate` bounds argon2 work per process: a few checks at once, a short queue, and
503 with Retry-After beyond it, so a flood of sign-ins cannot starve the API.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncEngine

from spacecal import clock
from spacecal.config import Settings
from spacecal.db.models import LoginCounter
from spacecal.records.errors import ApiError

T = TypeVar("T")

TOO_MANY = "Too many sign-in attempts. Wait and try again."
BUSY = "Too many sign-ins are being checked right now. Try again in a moment."

# A slot is taken under every key only if none is full (the pre-check), and each key's
# own row lock re-checks its limit (a race with another process takes a slot under
# some keys only: the caller rolls those back).
_RESERVE = text(
    """
    WITH wanted(key, lim) AS (
        SELECT * FROM unnest(CAST(:keys AS text[]), CAST(:limits AS int[]))
    ), full_keys AS (
        SELECT 1 FROM login_counters c JOIN wanted w USING (key)
        WHERE c.window_start > CAST(:cutoff AS timestamptz) AND c.attempts >= w.lim
    )
    INSERT INTO login_counters AS c (key, window_start, attempts)
    SELECT key, CAST(:now AS timestamptz), 1 FROM wanted WHERE NOT EXISTS (SELECT 1 FROM full_keys)
    ON CONFLICT (key) DO UPDATE SET
        window_start = CASE WHEN c.window_start <= CAST(:cutoff AS timestamptz)
                            THEN excluded.window_start ELSE c.window_start END,
        attempts = CASE WHEN c.window_start <= CAST(:cutoff AS timestamptz)
                        THEN 1 ELSE c.attempts + 1 END
    WHERE c.window_start <= CAST(:cutoff AS timestamptz)
       OR c.attempts < (SELECT lim FROM wanted WHERE wanted.key = excluded.key)
    RETURNING key
    """
)

# Locks the account + address row for the attempt's transaction (created empty when
# new), so attempts from one address at one account take turns: each sees whether the
# ones before it left failures. Its attempts in the current window.
_HOLD_PAIR = text(
    """
    INSERT INTO login_counters AS c (key, window_start, attempts)
    VALUES (:key, CAST(:now AS timestamptz), 0)
    ON CONFLICT (key) DO UPDATE SET attempts = c.attempts
    RETURNING CASE WHEN c.window_start > CAST(:cutoff AS timestamptz) THEN c.attempts ELSE 0 END
    """
)
_NO_LIMIT = 2**31 - 1

_RELEASE = text(
    """
    UPDATE login_counters SET attempts = GREATEST(attempts - 1, 0)
    WHERE key = ANY(CAST(:keys AS text[])) AND window_start > CAST(:cutoff AS timestamptz)
    """
)
_CLEAR = text("DELETE FROM login_counters WHERE key = :key")
_OLDEST = text(
    """
    SELECT max(window_start) FROM login_counters JOIN unnest(CAST(:keys AS text[])) k(key)
    USING (key) WHERE window_start > CAST(:cutoff AS timestamptz)
    """
)


@dataclass(frozen=True)
class Reservation:
    """The slots one attempt holds; `succeeded` gives them back."""

    limiter: SignInLimiter
    keys: tuple[str, ...]
    pair_key: str

    async def succeeded(self) -> None:
        await self.limiter.release(self.keys, clear=self.pair_key)

    async def cancel(self) -> None:
        """The attempt was not checked after all."""
        await self.limiter.release(self.keys)


def counted_address(address: str) -> str:
    """The address a caller is counted under: IPv4 as is, IPv6 as its /64."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class SignInLimiter:
    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        *,
        limits: tuple[int, int, int] | None = None,
        window: float | None = None,
    ) -> None:
        """`limits` (pair, address, account) and `window` default to the sign-in
        settings; the CalDAV connect throttle (portal/caldav.py) passes its own."""
        # Reserving is one short transaction (the account + address row is held for two
        # statements); releasing autocommits each statement.
        self.tx_engine = engine
        self.engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.window = window if window is not None else settings.login_failure_window_seconds
        self.limits = limits or (
            settings.login_max_failures,
            settings.login_address_max_failures,
            settings.login_account_max_failures,
        )

    def _cutoff(self) -> object:
        return clock.now() - timedelta(seconds=self.window)

    async def reserve(self, area: str, account: str, address: str) -> Reservation:
        """Take a slot for one attempt at `account` from `address` in `area` (api,
        portal: separate account namespaces); 429 with Retry-After when any is full."""
        account = account.strip().lower()
        address = counted_address(address)
        pair = f"{area}:pair:{account}|{address}"
        keys = (pair, f"addr:{address}", f"{area}:acct:{account}")
        now = clock.now()
        cutoff = now - timedelta(seconds=self.window)
        times = {"now": now, "cutoff": cutoff}
        async with self.tx_engine.connect() as conn:
            async with conn.begin() as transaction:
                own = await conn.scalar(_HOLD_PAIR, {"key": pair, **times})
                pair_limit, address_limit, account_limit = self.limits
                # No failures of its own for this account: the account count does not
                # stop this address (it still counts the attempt).
                limits = [pair_limit, address_limit, account_limit if own else _NO_LIMIT]
                taken = await conn.scalars(
                    _RESERVE, {"keys": list(keys), "limits": limits, **times}
                )
                if len(set(taken.all())) == len(keys):
                    await transaction.commit()
                    if random.random() < 0.01:  # keep the table small under a spray of names
                        async with self.engine.connect() as tidy:
                            await tidy.execute(
                                delete(LoginCounter).where(LoginCounter.window_start <= cutoff)
                            )
                    return Reservation(self, keys, pair)
                await transaction.rollback()  # gives back the slots it took
            started = await conn.scalar(_OLDEST, {"keys": list(keys), "cutoff": cutoff})
            await conn.commit()
        left = self.window if started is None else self.window - (now - started).total_seconds()
        raise ApiError(429, TOO_MANY, headers={"Retry-After": str(max(1, math.ceil(left)))})

    async def release(self, keys: tuple[str, ...], *, clear: str | None = None) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(_RELEASE, {"keys": list(keys), "cutoff": self._cutoff()})
            if clear is not None:
                await conn.execute(_CLEAR, {"key": clear})


class VerifyGate:
    """At most `concurrency` password checks at once in this process, at most `queue`
    waiting; past that, 503 with Retry-After at once (no work, no waiting)."""

    def __init__(self, concurrency: int, queue: int) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self.bound = concurrency + queue
        self.pending = 0

    def admit(self) -> None:
        if self.pending >= self.bound:
            raise ApiError(503, BUSY, headers={"Retry-After": "1"})
        self.pending += 1

    def leave(self) -> None:
        self.pending -= 1

    async def run(self, check: Callable[[], Awaitable[T]]) -> T:
        async with self._slots:
            return await check()


async def guarded(
    gate: VerifyGate,
    limiter: SignInLimiter,
    area: str,
    account: str,
    address: str,
    check: Callable[[], Awaitable[T | None]],
) -> T | None:
    """Run a password `check` (None = wrong) under the limiter and the gate: a slot
    reserved first (so a flood from one address is refused by its count, without
    taking the gate's places), then admitted by the gate (503 gives the slot back: it
    was not checked), then checked; a success gives the slot back."""
    reservation = await limiter.reserve(area, account, address)
    try:
        gate.admit()
    except ApiError:
        await reservation.cancel()
        raise
    try:
        result = await gate.run(check)
    finally:
        gate.leave()
    if result is not None:
        await reservation.succeeded()
    return result
