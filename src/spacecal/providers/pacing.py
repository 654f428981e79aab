"""The hook through which every provider API request takes its place in a request
budget shared by all processes (the budget itself lives in sync/pacing.py, in
PostgreSQL; the adapters only know an access token, not the account).

Whoever calls an adapter for an account installs that account's pacer for the call
(`paced(pacer)`, done by `sync.tokens.AccountTokens.call`); the adapters' one request
function awaits `take_place()` before each HTTP request, pages included. Without a
pacer (sign-in, tests of the adapters alone) requests are not paced here; the
per-process gates (gate.py) still apply.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

from spacecal.providers.base import Throttled


class Paced(Throttled):
    """spacecal's own budget for the account (or the whole project) is spent for
    longer than a request may wait in process: nothing was sent. `retry_after` is when
    the budget allows the next request, in seconds."""

    def __init__(self, wait_seconds: float, scope: str) -> None:
        super().__init__(
            f"request budget of the {scope} spent: next request in {wait_seconds:.1f} s",
            status=0,
            code="paced",
            retry_after=wait_seconds,
        )
        self.scope = scope


class RequestPacer(Protocol):
    async def take(self) -> None:
        """Hold one request's place (waiting briefly), or raise Paced."""


_CURRENT: ContextVar[RequestPacer | None] = ContextVar("spacecal_request_pacer", default=None)


@contextmanager
def paced(pacer: RequestPacer | None) -> Iterator[None]:
    """Requests made inside (in this task and tasks it starts) take `pacer`'s places."""
    token = _CURRENT.set(pacer)
    try:
        yield
    finally:
        _CURRENT.reset(token)


async def take_place() -> None:
    pacer = _CURRENT.get()
    if pacer is not None:
        await pacer.take()
