"""The trace middleware every web part runs under: a trace id per HTTP request (see
spacecal.logs for how the id follows a change) and one access line per request.

Pure ASGI, because it wraps every message of every request; it is the outermost layer
of the app (app.py)."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spacecal.logs import TRACE_HEADER, bind_trace, redact_path

http_log = logging.getLogger("spacecal.http")


class TraceMiddleware:
    """Pure ASGI: a trace id per HTTP request (contextvar, `request.state.trace_id`,
    and the `X-Request-ID` answer header), and one access line per request, whose path
    has any secret segment redacted by route (logs.SECRET_ROUTES)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = None
        for name, value in scope.get("headers", []):
            if name == TRACE_HEADER.encode():
                given = value.decode("latin-1")
                break
        status = 500
        started = _monotonic()
        with bind_trace(given) as trace:
            scope.setdefault("state", {})["trace_id"] = trace

            async def send_with_trace(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    headers = list(message.get("headers", []))
                    headers.append((b"x-request-id", trace.encode()))
                    message = {**message, "headers": headers}
                await send(message)

            try:
                await self.app(scope, receive, send_with_trace)
            finally:
                http_log.info(
                    "%s %s %d %.1fms",
                    scope.get("method", "?"),
                    redact_path(scope.get("path", "?")),
                    status,
                    (_monotonic() - started) * 1000,
                    extra={"status": status},
                )


def _monotonic() -> float:
    return time.monotonic()
