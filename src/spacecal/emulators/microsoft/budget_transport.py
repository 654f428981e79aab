"""An httpx2 transport that enforces a wall-clock answer budget on another client.

Graph counts a notification answered after 3 s as failed. httpx timeouts are not
enforced by every transport (an in-process ``ASGITransport`` ignores them), so the
budget is applied with ``asyncio.wait_for`` around the inner client's ``send``; a
late answer raises ``TimeoutError``, which the push queue treats as a failed attempt
and retries. The inner client is looked up on every request so it can be swapped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx2


class BudgetTransport(httpx2.AsyncBaseTransport):
    def __init__(self, inner: Callable[[], httpx2.AsyncClient], budget: float) -> None:
        self._inner = inner
        self.budget = budget

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await asyncio.wait_for(self._inner().send(request), self.budget)
        return httpx2.Response(
            response.status_code, headers=response.headers, content=response.content
        )
