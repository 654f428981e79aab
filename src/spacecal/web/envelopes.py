"""The Nexudus answer shapes the web parts share: the action envelope of a successful
write, and the error handlers that turn every failure into the error envelope
(records/errors.py), never into a stack trace."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match

from spacecal.records.errors import ApiError, iso

log = logging.getLogger("spacecal.api")

# A part that answers its own 404s with a page (the portal) registers a renderer for its
# path prefix; it returns None when it cannot render (e.g. not started).
NotFoundPage = Callable[[Request], Response | None]


def action_envelope(
    message: str, record_id: int, updated_on: datetime, updated_by: str | None
) -> dict[str, Any]:
    return {
        "Status": 200,
        "Message": message,
        "Value": {"Id": record_id},
        "OpenInDialog": False,
        "OpenInWindow": False,
        "RedirectURL": None,
        "JavaScript": None,
        "UpdatedOn": iso(updated_on),
        "UpdatedBy": updated_by,
        "Errors": None,
        "WasSuccessful": True,
    }


def install_error_handlers(app: FastAPI, pages: dict[str, NotFoundPage] | None = None) -> None:
    """Every failure answers the Nexudus error envelope; a 404 under a prefix in `pages`
    reads that part's own page instead."""
    not_found_pages = dict(pages or {})

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, exc: ClientDisconnect) -> Response:
        # The client left, or the body limits refused its body and answered already
        # (web/limits.py drops this answer): not a failure of ours.
        return Response(status_code=400)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        location = first.get("loc", ())
        name = str(location[-1]) if location else None
        return ApiError.field(name, str(first.get("msg", "is not valid"))).response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            for prefix, page in not_found_pages.items():
                if request.url.path.startswith(prefix):
                    rendered = page(request)
                    if rendered is not None:
                        return rendered
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
