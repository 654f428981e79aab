"""Google Calendar's per-user limits, switchable (all off by default).

Calendar usage limits (Google Workspace Admin Help, "Calendar usage limits"; Calendar
API guide, "Manage quotas" / "Handle API errors"): a user who creates too many
calendars in a short time gets their calendars made read-only for hours. Past
``calendar_create_limit`` calendars.insert of one account within
``calendar_create_period``, the insert answers 403 ``quotaExceeded`` (domain
``usageLimits``, "Calendar usage limits exceeded.") and so does every write of that
account (POST, PUT, PATCH, DELETE of calendars and events) for ``read_only_for``.
Reads keep working; ``watch`` and ``channels.stop`` are not calendar writes and pass.

Per-user rate (Calendar API, "Manage quotas": queries per minute per user per
project): past ``requests_per_minute`` calls of one account within a minute, the call
answers 403 ``userRateLimitExceeded`` (domain ``usageLimits``, "User Rate Limit
Exceeded") without a Retry-After, as Google does; ``rate_reason`` may be
``rateLimitExceeded`` instead.

Everything is counted on the emulator's clock, so tests move time to see a lock end.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from starlette.types import ASGIApp, Receive, Scope, Send

from spacecal.emulators.google.errors import GoogleApiError

_WRITES = ("POST", "PUT", "PATCH", "DELETE")


@dataclass
class UsageLimitSettings:
    calendar_create_limit: int | None = None
    calendar_create_period: timedelta = timedelta(hours=1)
    read_only_for: timedelta = timedelta(hours=6)
    requests_per_minute: int | None = None
    rate_reason: str = "userRateLimitExceeded"


def usage_limits_exceeded() -> GoogleApiError:
    return GoogleApiError(
        403, "quotaExceeded", "Calendar usage limits exceeded.", domain="usageLimits"
    )


def user_rate_limited(reason: str) -> GoogleApiError:
    message = (
        "User Rate Limit Exceeded" if reason == "userRateLimitExceeded" else ("Rate Limit Exceeded")
    )
    return GoogleApiError(403, reason, message, domain="usageLimits")


@dataclass
class _Account:
    creates: deque[datetime] = field(default_factory=deque)
    calls: deque[datetime] = field(default_factory=deque)
    read_only_until: datetime | None = None


class UsageLimits:
    """ASGI middleware in front of the Calendar API (``/calendar/v3``)."""

    def __init__(
        self,
        app: ASGIApp,
        account_of: Callable[[dict[str, str]], str | None],
        now: Callable[[], datetime],
    ) -> None:
        self.app = app
        self.account_of = account_of
        self.now = now
        self.settings = UsageLimitSettings()
        self._accounts: dict[str, _Account] = {}

    def read_only_until(self, email: str) -> datetime | None:
        state = self._accounts.get(email.lower())
        if state is None or state.read_only_until is None:
            return None
        return state.read_only_until if state.read_only_until > self.now() else None

    def reset(self) -> None:
        self._accounts.clear()

    def _refusal(self, method: str, path: str, email: str) -> GoogleApiError | None:
        now, s = self.now(), self.settings
        state = self._accounts.setdefault(email.lower(), _Account())
        if s.requests_per_minute is not None:
            while state.calls and state.calls[0] <= now - timedelta(minutes=1):
                state.calls.popleft()
            if len(state.calls) >= s.requests_per_minute:
                return user_rate_limited(s.rate_reason)
            state.calls.append(now)
        calendar_write = method in _WRITES and not (
            path.endswith("/watch") or path.endswith("/channels/stop")
        )
        if not calendar_write:
            return None
        if state.read_only_until is not None and state.read_only_until > now:
            return usage_limits_exceeded()
        if method == "POST" and path.rstrip("/") == "/calendar/v3/calendars":
            if s.calendar_create_limit is None:
                return None
            while state.creates and state.creates[0] <= now - s.calendar_create_period:
                state.creates.popleft()
            if len(state.creates) >= s.calendar_create_limit:
                state.read_only_until = now + s.read_only_for
                return usage_limits_exceeded()
            state.creates.append(now)
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/calendar/v3/"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        email = self.account_of(headers)
        refusal = None if email is None else self._refusal(scope["method"], scope["path"], email)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        await refusal.response()(scope, receive, send)
