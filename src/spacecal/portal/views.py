"""Rendering helpers shared by the portal's pages: the signed-in member, the page
context every template gets (space name, CSRF token, messages) and redirects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from spacecal.config import Settings
from spacecal.domain.account_messages import admin_consent_given
from spacecal.portal.data import Member, load_member
from spacecal.portal.runtime import APP_NAME, TEMPLATES, PortalRuntime
from spacecal.web.sessions import Session

# Every message a redirect can carry, by key: the query string never carries text, so
# nobody can make the portal display words of their choosing.
MESSAGES = {
    "connected": "Your calendar account is connected. Pick the resources to add below.",
    "denied": "You did not allow spacecal to use your calendar, so nothing was connected.",
    "bad_state": "That connect link is not valid any more (it was used, expired, or "
    "started by someone else). Nothing was connected; start again with Connect.",
    "provider_error": "The calendar provider reported a problem, so nothing was "
    "connected. Please try again in a moment.",
    "no_offline": "The provider did not grant lasting access, so nothing was connected. "
    "Connect again and allow access.",
    "admin_consented": admin_consent_given(APP_NAME),
    "not_configured": "This calendar provider is not set up on this space yet.",
    "disconnected": "Disconnected. The calendars stay in your account with their events; "
    "your bookings are kept.",
    "added": "Added: the calendar is in your account and your bookings are in it.",
    "setup_waiting": "Added to the queue: your calendar provider limits how fast new "
    "calendars can be made, so this one is set up by itself shortly. Its state is shown "
    "below; nothing to do meanwhile.",
    "removed": "Removed: spacecal no longer watches that calendar. Your bookings are kept.",
    "booked": "Booked. It appears in your connected calendars too.",
    "cancelled": "Booking cancelled.",
    "signed_out": "You are signed out.",
    "signin_first": "Please sign in first.",
    "link_invalid": "This sign-in link is not valid any more: it was used already or has "
    "expired. Ask the space's team for a new one.",
}


def member_session(rt: PortalRuntime, request: Request) -> Session | None:
    return rt.sessions.read(request)


async def current_member(rt: PortalRuntime, request: Request) -> tuple[Session, Member] | None:
    session = rt.sessions.read(request)
    if session is None:
        return None
    member = await load_member(rt.db.engine, session.coworker_id)
    if member is None or member.session_generation != session.generation:
        return None  # signed out or password changed since: every older session ends
    return session, member


@dataclass(frozen=True)
class MemberPost:
    """A signed-in member's form post whose CSRF token was checked."""

    session: Session
    member: Member
    form: dict[str, str]


async def member_post(rt: PortalRuntime, request: Request) -> MemberPost | RedirectResponse:
    """Every member form post starts here: the CSRF token is checked first (a forged
    post is refused whether or not anyone is signed in), then a signed-out visitor is
    sent to sign in."""
    found = await current_member(rt, request)
    form = await rt.sessions.check_csrf(request, found[0] if found else None)
    if found is None:
        return redirect("/portal/signin", error="signin_first")
    return MemberPost(found[0], found[1], form)


def redirect(path: str, **query: str) -> RedirectResponse:
    if query:
        from urllib.parse import urlencode

        path = f"{path}?{urlencode(query)}"
    return RedirectResponse(path, status_code=303)


def local_time(value: datetime | None, zone: ZoneInfo, fmt: str = "%a %d %b %Y, %H:%M") -> str:
    if value is None:
        return "never"
    return value.astimezone(zone).strftime(fmt)


@lru_cache(maxsize=8)
def _csp(*authorize_urls: str) -> str:
    # The console's policy (admin/views.py), except that a form may also lead to the
    # providers' consent pages: Connect POSTs here and is redirected there, and
    # Chromium holds form-action to the redirect's target too.
    consent = sorted({f"{p.scheme}://{p.netloc}" for p in map(urlsplit, authorize_urls)})
    return (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; "
        f"form-action 'self' {' '.join(consent)}; frame-ancestors 'none'; base-uri 'none'"
    )


def content_security_policy(settings: Settings) -> str:
    return _csp(settings.google_authorize_url, settings.microsoft_login_base)


def render(
    rt: PortalRuntime,
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    session: Session | None = None,
    status: int = 200,
) -> Response:
    csrf, new_cookie = rt.sessions.csrf_for(request, session)
    notice = MESSAGES.get(request.query_params.get("notice", ""))
    error = MESSAGES.get(request.query_params.get("error", ""))
    page: dict[str, Any] = {
        "request": request,
        "csrf_token": csrf,
        "notice": notice,
        "error": error,
        "space_name": "spacecal",
        "member": None,
    }
    page.update(context)
    response: HTMLResponse = TEMPLATES.TemplateResponse(request, template, page, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = content_security_policy(rt.settings)
    if new_cookie is not None:
        rt.sessions.set_csrf_cookie(response, new_cookie)
    return response
