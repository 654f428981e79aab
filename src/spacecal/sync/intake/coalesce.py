"""Group commit for webhook intake: concurrent requests share one round trip.

Every notification needs a lookup (its channel's secret) and a durable write (its
mark). Done per request, each pays a round trip, and each write its own commit and
WAL flush; under a burst the database, not the work, sets the pace. A `Coalescer`
lets whatever requests arrive while one batch is in flight wait for the next batch,
run as one statement: at low load a batch is one request (no added delay), under
load it is everything that queued meanwhile. Each caller still answers only after
*its* batch has committed (or gets the batch's exception and answers 503), so
"nothing acknowledged is lost" holds per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")


class Coalescer(Generic[K, R]):
    """Runs `run(keys)` for batches of submitted keys, one batch at a time, at most
    `max_batch` keys each; `submit(key)` returns that key's result (`default` when
    `run` gives none). `run` sees every submission, repeats included (a write adds
    them up; a lookup reads each key once)."""

    def __init__(
        self,
        run: Callable[[list[K]], Awaitable[dict[K, R]]],
        *,
        default: R,
        max_batch: int = 500,
    ) -> None:
        self._run = run
        self._default = default
        self._max = max_batch
        self._pending: list[tuple[K, asyncio.Future[R]]] = []
        self._flushing = False

    async def submit(self, key: K) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((key, future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[: self._max], self._pending[self._max :]
                try:
                    results = await self._run([key for key, _ in batch])
                except BaseException as exc:  # every waiter of this batch gets it
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    if isinstance(exc, asyncio.CancelledError):
                        raise
                    continue
                for key, future in batch:
                    if not future.done():
                        future.set_result(results.get(key, self._default))
        finally:
            self._flushing = False
