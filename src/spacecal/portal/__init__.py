"""The members' portal: sign-in, Integrations (connect a calendar account, add
resources, health, disconnect) and booking, as server-rendered pages.

`mount_portal` adds its routes to the app and `install_portal` gives it its runtime over
the application's services; both are called by the composition root (spacecal.app),
which also mounts the webhook endpoints.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from spacecal.portal import api_routes, booking_pages, caldav, invitations, pages
from spacecal.portal.runtime import PortalRuntime
from spacecal.portal.views import render
from spacecal.web.services import Services
from spacecal.web.sessions import CsrfRejected, SessionCodec

__all__ = ["PortalRuntime", "install_portal", "mount_portal", "not_found_page", "portal_runtime"]


def portal_runtime(services: Services) -> PortalRuntime:
    """The portal's runtime over the application's services: its own session codec
    (cookies `Secure` when the public URL is https); sign-ins share the application's
    limiter and password-check gate (services.auth)."""
    settings = services.settings
    return PortalRuntime(
        services=services,
        sessions=SessionCodec(
            services.db.cipher.keys,
            int(settings.portal_session_hours * 3600),
            secure=settings.effective_public_url().startswith("https://"),
        ),
    )


def install_portal(app: FastAPI, services: Services) -> PortalRuntime:
    """Give the mounted portal its runtime (spacecal.app calls it once the services exist)."""
    rt = portal_runtime(services)
    app.state.portal = rt
    return rt


def not_found_page(request: Request) -> Response | None:
    """A member who followed a stale link reads a page, not an API envelope."""
    rt: PortalRuntime | None = getattr(request.app.state, "portal", None)
    if rt is None:
        return None
    return render(
        rt,
        request,
        "problem.html",
        {"problem": "This page does not exist. Use the menu above to go on."},
        status=404,
    )


def mount_portal(app: FastAPI) -> None:
    """Routes and handlers; `install_portal` supplies the runtime (now or at start-up)."""
    app.include_router(pages.router)
    app.include_router(caldav.router)
    app.include_router(booking_pages.router)
    app.include_router(invitations.router)
    app.include_router(api_routes.router)
    app.mount(
        "/portal/static",
        StaticFiles(directory=str(Path(__file__).parent / "static")),
        name="portal-static",
    )

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
