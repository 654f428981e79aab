"""The FastAPI application: records, token endpoint, health, and the error handlers
that turn every failure into the Nexudus envelope (and never into a stack trace)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp

from spacecal import __version__
from spacecal.admin import mount_admin
from spacecal.api import health, token
from spacecal.api.auth import Authenticator
from spacecal.api.crud import build_router
from spacecal.api.envelopes import ApiError
from spacecal.api.get_one import GetOneFastPath
from spacecal.api.openapi import add_record_schemas
from spacecal.api.records import ALL_RECORDS, GOOGLE_CALENDARS, MSOFFICE_CALENDARS
from spacecal.api.state import AppState
from spacecal.config import Settings, get_settings
from spacecal.db.engine import Database, open_database
from spacecal.logs import TraceMiddleware
from spacecal.portal import install_portal, mount_portal
from spacecal.sync.intake.endpoints import WebhookFastPath

log = logging.getLogger("spacecal.api")


class SpacecalAPI(FastAPI):
    """FastAPI whose outermost layers are spacecal's own: the trace id and access line
    of every request (spacecal.logs), then the provider webhooks' fast path
    (sync/intake/endpoints.py), both ahead of Starlette's error and telemetry middleware. Each
    of those wraps every ASGI message; under a notification storm the wrapping cost
    about a fifth of the intake process's CPU. The fast path answers its own errors."""

    def build_middleware_stack(self) -> ASGIApp:
        return TraceMiddleware(WebhookFastPath(super().build_middleware_stack()))


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    """Build the app. With `db` the caller owns the database; otherwise the lifespan
    opens it (starting the embedded server and migrating when needed) and closes it."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = db is None
        database = db if db is not None else await open_database(settings)
        app.state.spacecal = AppState(
            settings=settings, db=database, auth=Authenticator(database.engine, settings)
        )
        if db is None:
            install_portal(app, settings, database)
        try:
            yield
        finally:
            if owned:
                await database.dispose()

    app = SpacecalAPI(
        title="spacecal",
        version=__version__,
        description=(
            "Calendar sync for coworking spaces. Records follow the Nexudus Spaces API: "
            "authenticate with `POST /api/token` (Bearer) or HTTP Basic."
        ),
        lifespan=lifespan,
    )
    if db is not None:
        # Usable without running the lifespan (e.g. a transport that skips it).
        app.state.spacecal = AppState(
            settings=settings, db=db, auth=Authenticator(db.engine, settings)
        )
        install_portal(app, settings, db)
    app.include_router(health.router)
    app.include_router(token.router)
    for spec in ALL_RECORDS:
        app.include_router(build_router(spec))
    mount_portal(app)  # members' portal, sign-in-link API
    mount_admin(app)  # the admin console at /admin (docs/admin.md)
    install_error_handlers(app)
    if settings.api_fast_get_one:
        # GET of one connection record, answered before routing (api/get_one.py),
        # inside the middleware added after it (last added runs first).
        specs = (GOOGLE_CALENDARS, MSOFFICE_CALENDARS)
        app.add_middleware(GetOneFastPath, owner=app, specs=specs)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = add_record_schemas(schema, ALL_RECORDS)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        location = first.get("loc", ())
        name = str(location[-1]) if location else None
        return ApiError.field(name, str(first.get("msg", "is not valid"))).response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/portal") and exc.status_code == 404:
            portal = getattr(request.app.state, "portal", None)
            if portal is not None:
                from spacecal.portal.views import render

                # A member who followed a stale link reads a page, not an API envelope.
                return render(
                    portal,
                    request,
                    "problem.html",
                    {"problem": "This page does not exist. Use the menu above to go on."},
                    status=404,
                )
        messages = {
            404: "There is nothing at this address.",
            405: "This method is not allowed here.",
        }
        headers = dict(exc.headers) if exc.headers else {}
        if exc.status_code == 405:
            # Each method of a path is its own route, and the one that refused knows only
            # its own method: list every method the path answers to (RFC 9110 15.5.6).
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return ApiError(
            exc.status_code,
            messages.get(exc.status_code, str(exc.detail)),
            headers=headers or None,
        ).response()

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error", extra={"method": request.method, "path": request.url.path})
        return ApiError(500, "Something went wrong on our side; it has been logged.").response()


_METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> list[str]:
    """The methods some route serves at this path: each asked as if the request had
    used it (included routers answer `matches` for all their routes at once)."""
    allowed = []
    for method in _METHODS:
        probe = {**request.scope, "method": method}
        if any(route.matches(probe)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed
