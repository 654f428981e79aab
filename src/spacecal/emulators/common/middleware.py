"""The ASGI middleware every emulator wraps its app in: call log and HTTP faults.

For every request outside the exempt prefixes (the control API) it draws the HTTP
fault kinds (slow, then 429, 403 rate limit, 5xx), lets the provider turn a fired
rule into its own wire error, and records the call with its final status. When none
fired, a `lost_response` rule may still: the request is served (its effects stay),
the answer is dropped, and the provider's 5xx goes out instead. The
account of a call is whatever `account_of(headers)` says (the provider looks up the
bearer token) or what a handler stored via `set_call_account(scope, email)`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spacecal.emulators.common.clock import EmulatorClock
from spacecal.emulators.common.faults import HTTP_FAULT_KINDS, FaultKind, FaultPlan, FaultRule
from spacecal.emulators.common.logs import CallLog

#: Turns a fired HTTP fault rule (never SLOW) into the provider's wire error.
FaultResponder = Callable[[FaultRule], Response]
#: Finds the account a request belongs to from its headers (None when unknown).
AccountResolver = Callable[[dict[str, str]], str | None]

_SCOPE_KEY = "emulator.call"


def set_call_account(scope: Scope, account: str | None) -> None:
    """Let a handler name the account of the current call (e.g. the token endpoint)."""
    info = scope.get(_SCOPE_KEY)
    if isinstance(info, dict):
        info["account"] = account


class EmulatorMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        clock: EmulatorClock,
        faults: FaultPlan,
        calls: CallLog,
        fault_responder: FaultResponder,
        account_of: AccountResolver,
        exempt_prefixes: tuple[str, ...] = ("/_control",),
    ) -> None:
        self.app = app
        self.clock = clock
        self.faults = faults
        self.calls = calls
        self.fault_responder = fault_responder
        self.account_of = account_of
        self.exempt_prefixes = exempt_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exempt_prefixes):
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        when = self.clock.now()
        method: str = scope["method"]
        path: str = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        info: dict[str, Any] = {"account": self.account_of(headers)}
        scope[_SCOPE_KEY] = info
        status = {"code": 500}
        fault_name: str | None = None

        async def send_and_capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        fired: FaultRule | None = None
        for kind in HTTP_FAULT_KINDS:
            rule = self.faults.draw(kind, method=method, path=path, account=info["account"])
            if rule is None:
                continue
            if kind is FaultKind.SLOW:
                fault_name = kind.value
                await asyncio.sleep(float(rule.params.get("seconds", 1.0)))
                continue
            fired = rule
            break
        lost: FaultRule | None = None
        if fired is None:
            lost = self.faults.draw(
                FaultKind.LOST_RESPONSE, method=method, path=path, account=info["account"]
            )
        try:
            if fired is not None:
                fault_name = fired.kind.value
                await self.fault_responder(fired)(scope, receive, send_and_capture)
            elif lost is not None:
                fault_name = lost.kind.value

                async def swallow(message: Message) -> None:
                    return None

                await self.app(scope, receive, swallow)
                as_5xx = FaultRule(
                    id=lost.id,
                    kind=FaultKind.HTTP_5XX,
                    params={"status": int(lost.params.get("status", 504))},
                )
                await self.fault_responder(as_5xx)(scope, receive, send_and_capture)
            else:
                await self.app(scope, receive, send_and_capture)
        finally:
            raw_query: bytes = scope.get("query_string", b"")
            self.calls.record(
                time=when,
                method=method,
                path=path,
                query=raw_query.decode("latin-1"),
                status=status["code"],
                account=info.get("account"),
                fault=fault_name,
                duration_ms=(time.monotonic() - started) * 1000,
            )
