"""Limits on request bodies, enforced while the body streams in (issue 17 item 5).

Pure ASGI, outermost but for the trace layer (app.py), so every part is covered, the
webhook fast path included. Each route class has its own size (settings): provider
webhooks, the records API, and the portal's and console's forms (and anything else,
at the form size). A body is counted as it arrives and refused the moment it passes
its size, so memory stays flat however much a client sends; a declared
Content-Length past the size is refused before a byte is read. The whole body must
arrive within `body_timeout_seconds`. A form route takes only form-encoded bodies:
anything else is refused before it is read, so nothing is parsed or spooled that the
app would not accept.

A refusal answers at once (413, 408 or 415, `Connection: close`) and the app sees the
client gone (`http.disconnect`, which Starlette raises as ClientDisconnect; the error
handlers answer that quietly and this layer drops whatever the app sends after).
Headers and the time to send them are the server's part: web/guard.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spacecal.config import Settings
from spacecal.records.errors import ApiError

# The only body a portal or console form sends (their templates post forms).
FORM_TYPES = (b"application/x-www-form-urlencoded",)
_DISCONNECT: Message = {"type": "http.disconnect"}


@dataclass(frozen=True)
class BodyLimits:
    webhook_bytes: int
    api_bytes: int
    form_bytes: int
    timeout_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> BodyLimits:
        return cls(
            webhook_bytes=settings.webhook_max_body_bytes,
            api_bytes=settings.api_max_body_bytes,
            form_bytes=settings.form_max_body_bytes,
            timeout_seconds=settings.body_timeout_seconds,
        )

    def for_path(self, path: str) -> tuple[int, bool]:
        """The size for `path` and whether only form-encoded bodies are taken."""
        if path.startswith("/webhooks/"):
            return self.webhook_bytes, False
        if path.startswith("/api/"):
            return self.api_bytes, False
        return self.form_bytes, path.startswith(("/portal", "/admin"))


def refusal(status: int, webhook: bool, size: int) -> Response:
    """The answer to a refused body: empty for a provider, else the Nexudus envelope."""
    headers = {"Connection": "close"}
    if webhook:
        return Response(status_code=status, headers=headers)
    messages = {
        408: "The request body did not arrive in time.",
        413: f"The request body is larger than {size // 1024} KiB.",
        415: "Send this form as application/x-www-form-urlencoded.",
    }
    body = bytes(ApiError(status, messages[status]).response().body)
    return Response(body, status_code=status, headers=headers, media_type="application/json")


class LimitBodies:
    """ASGI middleware: the body limits above, for every HTTP request with a body."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared: bytes | None = None
        chunked = False
        content_type = b""
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"content-type":
                content_type = value
        if (declared is None or declared == b"0") and not chunked:
            # No body: nothing to limit (GETs, Google's notifications).
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        size, forms_only = self.limits.for_path(path)
        webhook = path.startswith("/webhooks/")
        if declared is not None and declared.isdigit() and int(declared) > size:
            await refusal(413, webhook, size)(scope, receive, send)
            return
        if forms_only:
            base = content_type.split(b";", 1)[0].strip().lower()
            if base not in FORM_TYPES:
                await refusal(415, webhook, size)(scope, receive, send)
                return
        await _Limited(self.app, scope, receive, send, size, webhook, self.limits).run()


class _Limited:
    """One request under its size and deadline."""

    def __init__(
        self,
        app: ASGIApp,
        scope: Scope,
        receive: Receive,
        send: Send,
        size: int,
        webhook: bool,
        limits: BodyLimits,
    ) -> None:
        self.app, self.scope, self.receive_raw, self.send_raw = app, scope, receive, send
        self.size, self.webhook = size, webhook
        self.deadline = asyncio.get_running_loop().time() + limits.timeout_seconds
        self.received = 0
        self.complete = False
        self.started = False
        self.answered = False

    async def run(self) -> None:
        try:
            await self.app(self.scope, self.receive, self.send)
        except Exception:
            if not self.answered:
                raise
            # The app failed on the body it was refused (ClientDisconnect or the like):
            # the client has its answer already.

    async def receive(self) -> Message:
        if self.answered:
            return _DISCONNECT
        if self.complete:  # only a disconnect can come now: no deadline for that
            return await self.receive_raw()
        try:
            async with asyncio.timeout_at(self.deadline):
                message = await self.receive_raw()
        except TimeoutError:
            await self.refuse(408)
            return _DISCONNECT
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.size:
                await self.refuse(413)
                return _DISCONNECT
            if not message.get("more_body", False):
                self.complete = True
        return message

    async def send(self, message: Message) -> None:
        if self.answered:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self.send_raw(message)

    async def refuse(self, status: int) -> None:
        if not self.started:
            self.started = True
            await refusal(status, self.webhook, self.size)(
                self.scope, self.receive_raw, self.send_raw
            )
        self.answered = True
