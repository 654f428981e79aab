"""Google's error bodies, built in one place so every endpoint answers alike.

Calendar v3 errors look like
`{"error": {"errors": [{"domain", "reason", "message", ...}], "code", "message"}}`
(newer answers add a gRPC-style `status`, included where Google sends it).
OAuth endpoints answer the flat `{"error", "error_description"}` form instead.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse


class GoogleApiError(Exception):
    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        domain: str = "global",
        location: str | None = None,
        location_type: str | None = None,
        status: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message
        self.domain = domain
        self.location = location
        self.location_type = location_type
        self.status = status
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        item: dict[str, Any] = {"domain": self.domain, "reason": self.reason}
        item["message"] = self.message
        if self.location_type is not None:
            item["locationType"] = self.location_type
        if self.location is not None:
            item["location"] = self.location
        err: dict[str, Any] = {"errors": [item], "code": self.code, "message": self.message}
        if self.status is not None:
            err["status"] = self.status
        return {"error": err}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.code, headers=self.headers)


def auth_error() -> GoogleApiError:
    return GoogleApiError(
        401,
        "authError",
        "Invalid Credentials",
        location="Authorization",
        location_type="header",
        status="UNAUTHENTICATED",
        headers={
            "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'
        },
    )


def login_required() -> GoogleApiError:
    return GoogleApiError(
        401,
        "required",
        "Login Required.",
        location="Authorization",
        location_type="header",
        status="UNAUTHENTICATED",
        headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
    )


def insufficient_permissions() -> GoogleApiError:
    return GoogleApiError(
        403,
        "insufficientPermissions",
        "Request had insufficient authentication scopes.",
        status="PERMISSION_DENIED",
        headers={
            "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", '
            'error="insufficient_scope"'
        },
    )


def not_found() -> GoogleApiError:
    return GoogleApiError(404, "notFound", "Not Found")


def deleted() -> GoogleApiError:
    return GoogleApiError(410, "deleted", "Resource has been deleted")


def duplicate() -> GoogleApiError:
    return GoogleApiError(409, "duplicate", "The requested identifier already exists.")


def invalid(message: str) -> GoogleApiError:
    return GoogleApiError(400, "invalid", message)


def required(message: str) -> GoogleApiError:
    return GoogleApiError(400, "required", message)


def bad_request(reason: str, message: str) -> GoogleApiError:
    return GoogleApiError(400, reason, message)


def full_sync_required() -> GoogleApiError:
    return GoogleApiError(
        410,
        "fullSyncRequired",
        "Sync token is no longer valid, a full sync is required.",
        domain="calendar",
    )


def condition_not_met() -> GoogleApiError:
    return GoogleApiError(
        412, "conditionNotMet", "Precondition Failed", location="If-Match", location_type="header"
    )


def rate_limited(code: int, retry_after: int | None = None) -> GoogleApiError:
    """403 `rateLimitExceeded` (usageLimits domain) or 429 with an optional Retry-After."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return GoogleApiError(
        code, "rateLimitExceeded", "Rate Limit Exceeded", domain="usageLimits", headers=headers
    )


def backend_error(code: int = 500) -> GoogleApiError:
    return GoogleApiError(code, "backendError", "Backend Error")


def oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )
