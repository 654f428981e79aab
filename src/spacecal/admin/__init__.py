"""The admin console: server-rendered pages at /admin for API users (operators), to
see at a glance whether calendars are in sync and act when they are not.

Pages: connections per business and provider with their health, search, filters and
paging; one connection with its subscriptions, sync history and the buttons resync
now, renew now and disconnect; activity charts (notifications, syncs, bookings made
from calendars, refusals) over 24 hours and 30 days. Sign-in uses the API's users,
password check and sign-in limiter (web/auth.py, web/signin_limit.py); access uses the API's roles
(access.py).
See docs/admin.md.

The composition root (spacecal.app) calls `mount_admin` to add the routes; the
console's runtime is made on first use from the application's services
(`app.state.services`, runtime.py).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response

from spacecal.admin import buttons, mail, pages, signin
from spacecal.admin.access import Problem
from spacecal.admin.runtime import runtime
from spacecal.admin.views import harden, render

__all__ = ["mount_admin"]

_CSS = Path(__file__).parent / "static" / "admin.css"


def mount_admin(app: FastAPI) -> None:
    app.include_router(signin.router)
    app.include_router(pages.router)
    app.include_router(buttons.router)
    app.include_router(mail.router)

    @app.get("/admin/static/admin.css", include_in_schema=False)
    async def admin_css() -> Response:
        return harden(FileResponse(_CSS, media_type="text/css"))

    # Last, so every route above wins: a stale or mistyped console link reads a page.
    @app.get("/admin/{rest:path}", include_in_schema=False)
    async def not_found(request: Request, rest: str) -> Response:
        raise Problem("This page does not exist. Use the menu above to go on.", status=404)

    async def problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        rt = runtime(request)
        found = await rt.current_user(request)
        return render(
            rt,
            request,
            "problem.html",
            {
                "problem": exc.message,
                "heading": {403: "Not allowed", 404: "Not found"}.get(exc.status),
            },
            session=found[0] if found else None,
            user=found[1] if found else None,
            status=exc.status,
        )

    app.add_exception_handler(Problem, problem)
