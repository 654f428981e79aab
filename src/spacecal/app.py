"""The composition root: the one place where the application is put together.

`create_app` builds the services object (web/services.py: settings, database, HTTP
client, providers, authenticator, provisioner) in the lifespan, or takes it (or the
database) from the caller, and hands it to each part: the records API, token and
health (api/), the webhook intake (sync/intake/), the members' portal (portal/) and the
operators' console (admin/). It also binds the record hooks that need the running
application (deleting a connection or a coworker stops subscriptions at the provider
through the provisioner) and the error handlers that turn every failure into the
Nexudus envelope (web/envelopes.py).

Nothing imports this module except the entry points (runner.py, cli/, demo/) and tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx2
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.types import ASGIApp

from spacecal import __version__
from spacecal.admin import mount_admin
from spacecal.api import health, token
from spacecal.api.catalog import ALL_RECORDS
from spacecal.api.crud import build_router
from spacecal.api.docs import install_docs
from spacecal.api.get_one import GetOneFastPath
from spacecal.api.openapi import add_record_schemas
from spacecal.config import Settings, get_settings
from spacecal.db.engine import Database, open_database
from spacecal.outbound.record import WEBHOOKS, webhooks_spec
from spacecal.portal import install_portal, mount_portal, not_found_page
from spacecal.records.connections import CALDAV_CALENDARS, GOOGLE_CALENDARS, MSOFFICE_CALENDARS
from spacecal.records.definitions import COWORKERS
from spacecal.records.spec import RecordSpec
from spacecal.sync.accounts.changes import coworker_on_delete
from spacecal.sync.accounts.disconnect import connection_on_delete
from spacecal.sync.intake.endpoints import WebhookFastPath
from spacecal.web.envelopes import NotFoundPage, install_error_handlers
from spacecal.web.limits import BodyLimits, LimitBodies
from spacecal.web.services import Services
from spacecal.web.trace import TraceMiddleware

__all__ = ["Services", "build_services", "create_app"]


class SpacecalAPI(FastAPI):
    """FastAPI whose outermost layers are spacecal's own: the trace id and access line
    of every request (web/trace.py), then the provider webhooks' fast path
    (sync/intake/endpoints.py), with the body limits between them (web/limits.py), all
    ahead of Starlette's error and telemetry middleware. Each
    of those wraps every ASGI message; under a notification storm the wrapping cost
    about a fifth of the intake process's CPU. The fast path answers its own errors."""

    body_limits: BodyLimits

    def build_middleware_stack(self) -> ASGIApp:
        # Body limits wrap the fast path too: a webhook body is counted as it arrives.
        inner = WebhookFastPath(super().build_middleware_stack())
        return TraceMiddleware(LimitBodies(inner, self.body_limits))


def build_services(
    settings: Settings, db: Database, http: httpx2.AsyncClient | None = None
) -> Services:
    """The services of one process. Without `http`, a client with the provider timeout
    is made; whoever built the services closes it (`services.http.aclose()`)."""
    client = http or httpx2.AsyncClient(timeout=settings.provider_timeout_seconds)
    return Services.build(settings, db, client)


def create_app(
    settings: Settings | None = None,
    db: Database | None = None,
    *,
    services: Services | None = None,
    portal: bool = True,
    admin: bool = True,
) -> FastAPI:
    """Build the app.

    With `services` the caller owns them (and their database and HTTP client); with
    `db` the caller owns the database and the app makes the services at once (usable
    without running the lifespan); with neither, the lifespan opens the database
    (starting the embedded server and migrating when needed), builds the services and
    closes both at the end. `portal` / `admin` False leave those parts unmounted."""
    if services is not None:
        settings = services.settings
    settings = settings or get_settings()

    def install(app: FastAPI, made: Services) -> None:
        app.state.services = made
        if portal:
            install_portal(app, made)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if services is not None or db is not None:
            yield
            return
        database = await open_database(settings)
        made = build_services(settings, database)
        install(app, made)
        try:
            yield
        finally:
            await made.http.aclose()
            await database.dispose()

    app = SpacecalAPI(
        title="spacecal",
        version=__version__,
        description=(
            "Calendar sync for coworking spaces. Records follow the Nexudus Spaces API: "
            "authenticate with `POST /api/token` (Bearer) or HTTP Basic."
        ),
        lifespan=lifespan,
        docs_url=None,  # served from spacecal's own assets (api/docs.py)
        redoc_url=None,
    )
    install_docs(app)
    app.body_limits = BodyLimits.from_settings(settings)
    if services is not None:
        install(app, services)
    elif db is not None:
        install(app, build_services(settings, db))
    app.include_router(health.router)
    app.include_router(token.router)
    for spec in bind_hooks(app, ALL_RECORDS):
        if spec.name == WEBHOOKS.name:  # URLs checked against this app's settings
            spec = webhooks_spec(allow_private=settings.allow_private_targets)
        app.include_router(build_router(spec))
    pages: dict[str, NotFoundPage] = {}
    if portal:
        mount_portal(app)  # members' portal and the sign-in-link API
        pages["/portal"] = not_found_page
    if admin:
        mount_admin(app)  # the admin console at /admin (docs/admin.md)
    install_error_handlers(app, pages)
    if settings.api_fast_get_one:
        # GET of one connection record, answered before routing (api/get_one.py),
        # inside the middleware added after it (last added runs first).
        specs = (GOOGLE_CALENDARS, MSOFFICE_CALENDARS, CALDAV_CALENDARS)
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


def bind_hooks(app: FastAPI, specs: tuple[RecordSpec, ...]) -> list[RecordSpec]:
    """The record specs with the delete hooks that need the running application's
    provisioner bound to `app`'s services (read at request time: the lifespan may
    build them after the routes)."""

    async def connection_deleted(conn: AsyncConnection, old: Mapping[str, Any], by: str) -> bool:
        services: Services = app.state.services
        return await connection_on_delete(services.provisioner, conn, old)

    async def coworker_deleted(conn: AsyncConnection, old: Mapping[str, Any], by: str) -> bool:
        services: Services = app.state.services
        return await coworker_on_delete(services.provisioner, conn, old)

    bound = {
        GOOGLE_CALENDARS.name: connection_deleted,
        MSOFFICE_CALENDARS.name: connection_deleted,
        CALDAV_CALENDARS.name: connection_deleted,
        COWORKERS.name: coworker_deleted,
    }
    return [
        replace(spec, on_delete=bound[spec.name]) if spec.name in bound else spec for spec in specs
    ]
