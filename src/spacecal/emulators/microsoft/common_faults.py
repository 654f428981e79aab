"""Graph's face for the shared fault kinds.

* ``http_429`` → 429 ``TooManyRequests`` with ``Retry-After`` (rule param
  ``retry_after``, default 1). ``http_403_rate_limit`` is Google's shape; Graph has no
  403 throttle, so it is also rendered as 429 (``ApplicationThrottled``).
* ``http_5xx`` → the rule's ``status`` (default 500) with Graph codes
  (``generalException``, ``serviceNotAvailable`` with ``Retry-After`` for 503).
* ``sync_token_expired`` → the next ``$deltatoken`` use answers 410 (rule param
  ``code``: ``SyncStateNotFound`` by default, or ``resyncRequired``).
* ``revoke_refresh_token`` → the refresh token presented is revoked first, so the
  grant answers ``invalid_grant`` (AADSTS50173).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response

from spacecal.emulators.common import FaultKind, FaultPlan, FaultRule

from .clocklike import ClockLike
from .errors import GraphError, graph_error_response

_5XX = {
    500: ("generalException", "An unexpected error occurred."),
    502: ("badGateway", "Bad gateway."),
    503: ("serviceNotAvailable", "The service is temporarily unavailable. Try again later."),
    504: ("gatewayTimeout", "The gateway timed out."),
}


def graph_fault_responder(clock: ClockLike) -> Callable[[FaultRule], Response]:
    """The middleware's fault responder, stamping errors with the emulator clock."""

    def respond(rule: FaultRule) -> Response:
        return _respond(rule, clock.now())

    return respond


def _respond(rule: FaultRule, now: datetime) -> Response:
    if rule.kind in (FaultKind.HTTP_429, FaultKind.HTTP_403_RATE_LIMIT):
        retry_after = str(int(rule.params.get("retry_after", 1)))
        code = "TooManyRequests" if rule.kind is FaultKind.HTTP_429 else "ApplicationThrottled"
        return graph_error_response(
            GraphError(
                429,
                code,
                "Too many requests, try again later."
                if rule.kind is FaultKind.HTTP_429
                else "Application is over its MailboxConcurrency limit.",
                {"Retry-After": retry_after},
            ),
            now,
        )
    status = int(rule.params.get("status", 500))
    code, message = _5XX.get(status, ("generalException", "An unexpected error occurred."))
    headers = {"Retry-After": str(int(rule.params.get("retry_after", 1)))} if status == 503 else {}
    return graph_error_response(GraphError(status, code, message, headers), now)


def sync_token_drawer(faults: FaultPlan) -> Callable[[Request, str], str | None]:
    """A function telling the delta route whether a fault kills the presented token."""

    def draw(request: Request, account: str) -> str | None:
        rule = faults.draw(
            FaultKind.SYNC_TOKEN_EXPIRED,
            method=request.method,
            path=request.url.path,
            account=account,
        )
        if rule is None:
            return None
        return str(rule.params.get("code", "SyncStateNotFound"))

    return draw
