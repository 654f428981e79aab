"""The provider-facing webhook endpoints.

Graph validates `notificationUrl` and `lifecycleNotificationUrl` synchronously while
it creates a subscription (a POST with `?validationToken=`), so provisioning needs
these endpoints to answer that handshake (200, text/plain, the decoded token) from
the start. Everything else is notification intake (sync/intake/marks.py): verify the
channel token / clientState, record the trigger durably, then answer 2xx.

Providers only POST here, and every POST is answered by `WebhookFastPath` before
FastAPI's routing, so there is no router: routes would be unreachable. Another
method on these paths is answered 405 (Allow: POST) by the fast path as well.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from spacecal.crypto import TokenCipher
from spacecal.sync.intake import marks as intake

log = logging.getLogger("spacecal.webhooks")


def _validation_echo(request: Request) -> Response | None:
    # Starlette has already percent-decoded the query value: echo exactly that.
    token = request.query_params.get("validationToken")
    if token is None:
        return None
    # The token is the caller's text: nosniff keeps a browser from reading it as HTML.
    return PlainTextResponse(
        token,
        status_code=200,
        media_type="text/plain",
        headers={"X-Content-Type-Options": "nosniff"},
    )


def _trace(request: Request) -> str | None:
    """The request's trace id, if the logging middleware set one (`request.state.trace_id`);
    it is kept on the connection's mark and handed to the reconcile job."""
    trace = getattr(request.state, "trace_id", None)
    return trace[:64] if isinstance(trace, str) and trace else None


def _cipher(request: Request) -> TokenCipher:
    cipher: TokenCipher = request.app.state.services.db.cipher
    return cipher


def _engine(request: Request) -> AsyncEngine:
    # The application's services (web/services.py), set by the composition root.
    engine: AsyncEngine = request.app.state.services.db.engine
    return engine


async def _body(request: Request) -> bytes | None:
    # The body's size and time are limited while it streams in (web/limits.py, which
    # answers 413 itself and ends the body early: ClientDisconnect below).
    return await request.body()


async def microsoft_notifications(request: Request) -> Response:
    echo = _validation_echo(request)
    if echo is not None:
        return echo
    body = await _body(request)
    status = (
        413
        if body is None
        else await intake.microsoft(
            _engine(request), body, cipher=_cipher(request), trace=_trace(request)
        )
    )
    return Response(status_code=status)


async def microsoft_lifecycle(request: Request) -> Response:
    echo = _validation_echo(request)
    if echo is not None:
        return echo
    body = await _body(request)
    status = (
        413
        if body is None
        else await intake.microsoft(
            _engine(request),
            body,
            cipher=_cipher(request),
            lifecycle=True,
            trace=_trace(request),
        )
    )
    return Response(status_code=status)


async def google_notifications(request: Request) -> Response:
    status = await intake.google(
        _engine(request), request.headers, cipher=_cipher(request), trace=_trace(request)
    )
    return Response(status_code=status)


_HANDLERS: dict[str, Callable[[Request], Awaitable[Response]]] = {
    "/webhooks/google": google_notifications,
    "/webhooks/microsoft": microsoft_notifications,
    "/webhooks/microsoft/lifecycle": microsoft_lifecycle,
}


class WebhookFastPath:
    """ASGI middleware: a provider's POST to a webhook, answered before FastAPI's
    routing (which tries every records API route first) and its error middleware
    (app.py `SpacecalAPI`) by the handlers above; another method on a webhook path
    is a 405 (Allow: POST); anything else passes through. Under a notification storm,
    routing and its plumbing cost more than intake itself. An unexpected failure is
    logged and answered 500 without details (the provider delivers again)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = _HANDLERS.get(scope["path"]) if scope["type"] == "http" else None
        if handler is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            response = Response(status_code=405, headers={"Allow": "POST"})
        else:
            try:
                response = await handler(Request(scope, receive))
            except ClientDisconnect:
                return  # gone, or refused by the body limits (which answered)
            except Exception:
                log.exception("webhook %s failed", scope["path"])
                response = Response(status_code=500)
        await response(scope, receive, send)
