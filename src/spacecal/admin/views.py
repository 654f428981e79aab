"""Rendering for the console: the page context every template gets (CSRF token,
messages, the signed-in user), time formatting, redirects, and the security headers
(no caching, no framing, nothing loaded from elsewhere)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from spacecal import clock
from spacecal.admin.access import PROVIDER_LABELS, AdminUser
from spacecal.admin.health import STATE_HELP, STATE_LABELS
from spacecal.admin.runtime import AdminRuntime
from spacecal.web.sessions import Session

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))

# Every message a redirect can carry, by key: the query string never carries text.
MESSAGES = {
    "resync_queued": "Resync queued: the cursor is cleared and a full pull runs shortly. "
    "Reload this page to see it in the history.",
    "renew_queued": "Renewal queued: a new push subscription is made shortly.",
    "resync_waits": "Resync requested. The member's account needs reconnecting first; it "
    "runs as soon as they reconnect in the portal.",
    "renew_waits": "Renewal requested. The member's account needs reconnecting first; it "
    "runs as soon as they reconnect in the portal.",
    "not_watched": "Nothing to renew: this calendar cannot be watched by the provider, so "
    "spacecal polls it instead (see SPACECAL_POLL_INTERVAL_SECONDS).",
    "disconnected": "Disconnected: spacecal stopped watching that calendar and forgot the "
    "connection. The member's bookings are kept; they can add it again in the portal.",
    "gone": "That connection does not exist any more (it was disconnected meanwhile).",
    "signed_out": "You are signed out.",
    "signin_first": "Please sign in first.",
    "confirm_disconnect": "Tick the box to confirm the disconnect, then press the button again.",
}

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def when(value: datetime | None) -> str:
    """A moment in UTC with how long ago it was: '2026-11-21 14:05 UTC (3 min ago)'."""
    if value is None:
        return "never"
    return f"{value:%Y-%m-%d %H:%M} UTC ({ago(value)})"


def ago(value: datetime) -> str:
    seconds = int((clock.now() - value).total_seconds())
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 60:
        text = f"{seconds} s"
    elif seconds < 3600:
        text = f"{seconds // 60} min"
    elif seconds < 172800:
        text = f"{seconds // 3600} h"
    else:
        text = f"{seconds // 86400} days"
    return f"in {text}" if future else f"{text} ago"


def redirect(path: str, **query: str) -> RedirectResponse:
    if query:
        path = f"{path}?{urlencode(query)}"
    return RedirectResponse(path, status_code=303)


def harden(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = CSP
    return response


def render(
    rt: AdminRuntime,
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    session: Session | None = None,
    user: AdminUser | None = None,
    status: int = 200,
) -> Response:
    csrf, new_cookie = rt.sessions.csrf_for(request, session)
    page: dict[str, Any] = {
        "request": request,
        "csrf_token": csrf,
        "notice": MESSAGES.get(request.query_params.get("notice", "")),
        "error": MESSAGES.get(request.query_params.get("error", "")),
        "user": user,
        "when": when,
        "provider_labels": PROVIDER_LABELS,
        "state_labels": STATE_LABELS,
        "state_help": STATE_HELP,
        "active": "",
    }
    page.update(context)
    response: HTMLResponse = TEMPLATES.TemplateResponse(request, template, page, status_code=status)
    if new_cookie is not None:
        rt.sessions.set_csrf_cookie(response, new_cookie)
    return harden(response)
