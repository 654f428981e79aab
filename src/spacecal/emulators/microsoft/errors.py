"""Error bodies as Graph and the identity platform write them.

Graph: ``{"error": {"code", "message", "innerError": {"date", "request-id",
"client-request-id"}}}``. Identity platform (AADSTS): ``{"error", "error_description"
(with "AADSTSnnnn: ... Trace ID ... Correlation ID ... Timestamp"), "error_codes",
"timestamp", "trace_id", "correlation_id", "error_uri"}``. Clients should branch on
``error.code`` / ``error``, never on the message text.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.responses import JSONResponse


class GraphError(Exception):
    """Raised inside a Graph handler; rendered by the app's exception handler."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def graph_error_body(code: str, message: str, now: datetime, request_id: str) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": request_id,
            },
        }
    }


def graph_error_response(error: GraphError, now: datetime) -> JSONResponse:
    request_id = str(uuid.uuid4())
    headers = {"request-id": request_id, "client-request-id": request_id, **error.headers}
    return JSONResponse(
        graph_error_body(error.code, error.message, now, request_id),
        status_code=error.status,
        headers=headers,
    )


def not_found(message: str = "The specified object was not found in the store.") -> GraphError:
    return GraphError(404, "ErrorItemNotFound", message)


def bad_request(message: str, code: str = "ErrorInvalidRequest") -> GraphError:
    return GraphError(400, code, message)


class IdentityError(Exception):
    """An OAuth error from the token endpoint, AADSTS-style."""

    def __init__(self, error: str, aadsts: int, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: AADSTS{aadsts}")
        self.error = error
        self.aadsts = aadsts
        self.description = description
        self.status = status


def identity_error_response(error: IdentityError, now: datetime) -> JSONResponse:
    trace_id = str(uuid.uuid4())
    correlation_id = str(uuid.uuid4())
    stamp = now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    description = (
        f"AADSTS{error.aadsts}: {error.description}\r\nTrace ID: {trace_id}\r\n"
        f"Correlation ID: {correlation_id}\r\nTimestamp: {stamp}"
    )
    return JSONResponse(
        {
            "error": error.error,
            "error_description": description,
            "error_codes": [error.aadsts],
            "timestamp": stamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"https://login.microsoftonline.com/error?code={error.aadsts}",
        },
        status_code=error.status,
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )
