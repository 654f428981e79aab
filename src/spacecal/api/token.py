"""`POST /api/token`: the OAuth2 password and refresh_token grants, Nexudus-style.

Answers follow RFC 6749 (`{"error": ..., "error_description": ...}` with 400), the
shape Nexudus clients already parse.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import insert, select, update
from starlette.exceptions import HTTPException as StarletteHTTPException

from spacecal import clock
from spacecal.db.models import ApiToken, ApiUser
from spacecal.records.errors import ApiError
from spacecal.web.auth import Principal, client_address, token_hash
from spacecal.web.services import Services, services_of

router = APIRouter(tags=["Authentication"])


def oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


@router.post(
    "/api/token",
    summary="Get a bearer token (password or refresh_token grant, form-encoded)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["grant_type"],
                        "properties": {
                            "grant_type": {"type": "string", "enum": ["password", "refresh_token"]},
                            "username": {"type": "string"},
                            "password": {"type": "string", "format": "password"},
                            "refresh_token": {"type": "string"},
                        },
                    }
                }
            },
        }
    },
)
async def issue_token(request: Request) -> JSONResponse:
    state = services_of(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return oauth_error(
            "unsupported_grant_type",
            "Send grant_type and its parameters form-encoded (application/x-www-form-urlencoded).",
        )
    try:
        form = await request.form()
    except StarletteHTTPException as exc:  # e.g. more than 1000 fields
        return oauth_error("invalid_request", str(exc.detail))
    params: dict[str, str] = {k: v for k, v in form.items() if isinstance(v, str)}
    grant = params.get("grant_type", "")
    if grant == "password":
        username, password = params.get("username", ""), params.get("password", "")
        if not username or not password:
            return oauth_error("invalid_request", "username and password are required.")
        try:
            principal = await state.auth.verify_login(username, password, client_address(request))
        except ApiError as exc:
            if exc.status == 429:
                response = oauth_error("invalid_grant", exc.message, status=429)
                response.headers.update(exc.headers or {})
                return response
            return oauth_error("invalid_grant", "The user name or password is incorrect.")
        return JSONResponse(
            await _issue(state, principal.user_id), headers={"Cache-Control": "no-store"}
        )
    if grant == "refresh_token":
        refresh = params.get("refresh_token", "")
        if not refresh:
            return oauth_error("invalid_request", "refresh_token is required.")
        user_id = await _consume_refresh(state, refresh)
        if user_id is None:
            return oauth_error("invalid_grant", "The refresh token is invalid or has expired.")
        return JSONResponse(await _issue(state, user_id), headers={"Cache-Control": "no-store"})
    return oauth_error("unsupported_grant_type", "grant_type must be password or refresh_token.")


async def _issue(state: Services, user_id: int) -> dict[str, Any]:
    settings = state.settings
    now = clock.now()
    access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    async with state.db.engine.begin() as conn:
        await conn.execute(
            insert(ApiToken),
            [
                {
                    "token_hash": token_hash(access),
                    "kind": "access",
                    "user_id": user_id,
                    "created_at": now,
                    "expires_at": now + timedelta(seconds=settings.access_token_ttl_seconds),
                },
                {
                    "token_hash": token_hash(refresh),
                    "kind": "refresh",
                    "user_id": user_id,
                    "created_at": now,
                    "expires_at": now + timedelta(seconds=settings.refresh_token_ttl_seconds),
                },
            ],
        )
    return {
        "access_token": access,
        "token_type": "bearer",
        "expires_in": settings.access_token_ttl_seconds,
        "refresh_token": refresh,
    }


async def _consume_refresh(state: Services, refresh: str) -> int | None:
    """A refresh token works once: it is revoked as the new pair is issued."""
    now = clock.now()
    async with state.db.engine.begin() as conn:
        user_id = await conn.scalar(
            update(ApiToken)
            .where(
                ApiToken.token_hash == token_hash(refresh),
                ApiToken.kind == "refresh",
                ApiToken.revoked_at.is_(None),
                ApiToken.expires_at > now,
            )
            .values(revoked_at=now)
            .returning(ApiToken.user_id)
        )
        if user_id is None:
            return None
        active = await conn.scalar(select(ApiUser.active).where(ApiUser.id == user_id))
    return user_id if active else None


__all__ = ["Principal", "router"]
