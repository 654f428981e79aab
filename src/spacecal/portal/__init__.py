"""The members' portal: sign-in, Integrations (connect a calendar account, add
resources, health, disconnect) and booking, as server-rendered pages.

`install_portal` mounts it on the FastAPI app and builds the runtime the pages share.
"""

from __future__ import annotations

from pathlib import Path

import httpx2
from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from spacecal.api.auth import LoginLimiter
from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.portal import api_routes, booking_pages, pages
from spacecal.portal.runtime import PortalRuntime
from spacecal.portal.security import CsrfRejected, SessionCodec
from spacecal.portal.views import render
from spacecal.sync.accounts.disconnect import current_provisioner

__all__ = ["PortalRuntime", "install_portal"]


class _ProvisionerContext:
    """Makes the app's provisioner reachable from the records API's delete hook."""

    def __init__(self, app: ASGIApp, owner: FastAPI) -> None:
        self.app = app
        self.owner = owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rt: PortalRuntime | None = getattr(self.owner.state, "portal", None)
        token = current_provisioner.set(rt.provisioner if rt is not None else None)
        try:
            await self.app(scope, receive, send)
        finally:
            current_provisioner.reset(token)


def install_portal(
    app: FastAPI, settings: Settings, db: Database, http: httpx2.AsyncClient | None = None
) -> PortalRuntime:
    """Mount the portal and the sign-in-link API on `app` (webhooks: the fast path)."""
    rt = PortalRuntime(
        settings=settings,
        db=db,
        http=http or httpx2.AsyncClient(timeout=settings.provider_timeout_seconds),
        sessions=SessionCodec(
            db.cipher.keys,
            int(settings.portal_session_hours * 3600),
            secure=settings.effective_public_url().startswith("https://"),
        ),
        limiter=LoginLimiter(settings.login_max_failures, settings.login_failure_window_seconds),
    )
    app.state.portal = rt
    return rt


def mount_portal(app: FastAPI) -> None:
    """Routes and middleware; `install_portal` supplies the runtime (now or at start-up)."""
    app.include_router(pages.router)
    app.include_router(booking_pages.router)
    app.include_router(api_routes.router)
    app.mount(
        "/portal/static",
        StaticFiles(directory=str(Path(__file__).parent / "static")),
        name="portal-static",
    )
    app.add_middleware(_ProvisionerContext, owner=app)

    async def csrf_rejected(request: Request, exc: Exception) -> Response:
        rt: PortalRuntime = request.app.state.portal
        return render(
            rt,
            request,
            "problem.html",
            {
                "problem": "This form was not accepted: it has expired or was not sent "
                "from this site. Go back, reload the page and try again.",
            },
            status=403,
        )

    app.add_exception_handler(CsrfRejected, csrf_rejected)
