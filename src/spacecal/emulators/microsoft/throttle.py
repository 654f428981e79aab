"""Outlook's "4 concurrent requests per app per mailbox" limit, switchable by tests.

When ``limit`` is set, a Graph request for a mailbox that already has ``limit``
requests in flight answers 429 ``ApplicationThrottled`` ("MailboxConcurrency") with
``Retry-After``. ``hold_seconds`` keeps every Graph request in flight that long
(after taking its slot), so a test can make requests overlap deterministically.
Off by default. Requests without a valid token pass through (they answer 401).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import GraphError, graph_error_response


class ConcurrencyLimiter:
    def __init__(self, app: ASGIApp, mailbox_of: Callable[[dict[str, str]], str | None]) -> None:
        self.app = app
        self.mailbox_of = mailbox_of
        self.limit: int | None = None
        self.retry_after = 1
        self.hold_seconds = 0.0
        self._in_flight: dict[str, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1.0/"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        mailbox = self.mailbox_of(headers)
        if mailbox is None:
            await self.app(scope, receive, send)
            return
        if self.limit is not None and self._in_flight.get(mailbox, 0) >= self.limit:
            error = GraphError(
                429,
                "ApplicationThrottled",
                "Application is over its MailboxConcurrency limit.",
                {"Retry-After": str(self.retry_after)},
            )
            await graph_error_response(error, datetime.now(UTC))(scope, receive, send)
            return
        self._in_flight[mailbox] = self._in_flight.get(mailbox, 0) + 1
        try:
            if self.hold_seconds > 0:
                await asyncio.sleep(self.hold_seconds)
            await self.app(scope, receive, send)
        finally:
            self._in_flight[mailbox] -= 1
