"""Per-account request limits inside one process, so spacecal stays within what the
providers allow a mailbox or user instead of learning it from 429s.

- Graph: 4 concurrent requests per app per mailbox ("Microsoft Graph throttling
  guidance", Outlook service limits); a fifth answers 429 with Retry-After.
  `SPACECAL_MICROSOFT_CONCURRENT_REQUESTS` in flight per account at most.
- A rate per account (a token bucket: a tenth of the minute's budget at once, then
  evenly) for callers that pace in one process only. The adapters no longer use it:
  Google's ~600 queries per minute per user and Graph's per-mailbox rate are budgets
  in PostgreSQL shared by every process (sync/pacing.py, through pacing.py's hook).

The account is known by its access token (a digest of it: the adapters see nothing
else), so a refresh starts a fresh gate; gates idle for a while are dropped. Across
processes the jobs' account lock keeps one sync per mailbox; what still slips past
answers 429/403 and is waited out through failures.py (Retry-After exactly).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

_IDLE_SECONDS = 3600.0
_MAX_GATES = 10_000


@dataclass
class _Gate:
    semaphore: asyncio.Semaphore | None
    tokens: float
    stamp: float
    used: float
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class RequestGates:
    def __init__(
        self,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = asyncio.sleep,
    ) -> None:
        self._gates: dict[tuple[str, bytes], _Gate] = {}
        self._monotonic = monotonic
        self._sleep = sleep

    def _gate(self, provider: str, access: str, concurrency: int | None, burst: float) -> _Gate:
        key = (provider, hashlib.sha256(access.encode()).digest()[:16])
        now = self._monotonic()
        gate = self._gates.get(key)
        if gate is None:
            if len(self._gates) >= _MAX_GATES:
                self._prune(now)
            semaphore = asyncio.Semaphore(concurrency) if concurrency else None
            gate = _Gate(semaphore, burst, now, now)
            self._gates[key] = gate
        gate.used = now
        return gate

    def _prune(self, now: float) -> None:
        for key, gate in list(self._gates.items()):
            if now - gate.used > _IDLE_SECONDS:
                del self._gates[key]

    async def _take(self, gate: _Gate, per_minute: float, burst: float) -> None:
        rate = per_minute / 60.0
        async with gate.lock:  # one waiter at a time keeps the order fair
            while True:
                now = self._monotonic()
                gate.tokens = min(burst, gate.tokens + (now - gate.stamp) * rate)
                gate.stamp = now
                if gate.tokens >= 1.0 - 1e-9:  # float dust must not spin the loop
                    gate.tokens = max(0.0, gate.tokens - 1.0)
                    return
                wait = self._sleep((1.0 - gate.tokens) / rate)
                if asyncio.iscoroutine(wait):
                    await wait

    @asynccontextmanager
    async def slot(
        self,
        provider: str,
        access: str,
        *,
        concurrency: int | None = None,
        per_minute: float | None = None,
    ) -> AsyncIterator[None]:
        """Hold one request's place for `access`'s account."""
        burst = max(1.0, (per_minute or 0.0) / 10.0)
        gate = self._gate(provider, access, concurrency, burst)
        if per_minute:
            await self._take(gate, per_minute, burst)
        if gate.semaphore is None:
            yield
            return
        async with gate.semaphore:
            yield


#: The process's gates (one set per process, shared by every adapter instance).
GATES = RequestGates()
