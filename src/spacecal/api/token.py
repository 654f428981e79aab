"""`POST /api/token`: the OAuth2 password and refresh_token grants, Nexudus-style.

Answers follow RFC 6749 (`{"error": ..., "error_description": ...}` with 400), the
shape Nexudus clients already parse.

Refresh tokens rotate (RFC 6819 5.2.2.3, OAuth 2.0 Security BCP 4.14): each refresh
spends its token and issues a new pair in the same chain (one chain per password
grant). Presenting a spent or revoked refresh token again revokes every token of its
chain, since one of two parties holding it is not the client. A chain ends
`refresh_chain_days` after its password grant, however often it was refreshed.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.exceptions import HTTPException as StarletteHTTPException

from spacecal import clock
from spacecal.db.models import ApiToken, ApiUser
from spacecal.records.errors import ApiError
from spacecal.web.auth import Principal, client_address, token_hash
from spacecal.web.services import Services, services_of

router = APIRouter(tags=["Authentication"])
log = logging.getLogger(__name__)


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
            if exc.status in (429, 503):
                # RFC 6749 names no busy code for this endpoint: its authorize one.
                code = "invalid_grant" if exc.status == 429 else "temporarily_unavailable"
                response = oauth_error(code, exc.message, status=exc.status)
                response.headers.update(exc.headers or {})
                return response
            return oauth_error("invalid_grant", "The user name or password is incorrect.")
        chain = Chain(secrets.token_bytes(16), clock.now())
        async with state.db.engine.begin() as conn:
            # The password was checked at this generation: a change since issues nothing.
            if await _lock_user(conn, principal.user_id) != principal.generation:
                return oauth_error("invalid_grant", "The user name or password is incorrect.")
            pair = await _issue(conn, state, principal.user_id, chain)
        return JSONResponse(pair, headers={"Cache-Control": "no-store"})
    if grant == "refresh_token":
        refresh = params.get("refresh_token", "")
        if not refresh:
            return oauth_error("invalid_request", "refresh_token is required.")
        async with state.db.engine.begin() as conn:
            spent = await _consume_refresh(conn, state, refresh)
            if spent is not None:
                pair = await _issue(conn, state, *spent)
        if spent is None:
            return oauth_error("invalid_grant", "The refresh token is invalid or has expired.")
        return JSONResponse(pair, headers={"Cache-Control": "no-store"})
    return oauth_error("unsupported_grant_type", "grant_type must be password or refresh_token.")


@dataclass(frozen=True)
class Chain:
    """A refresh-token chain: its id and when its password grant happened."""

    id: bytes
    started_at: datetime


async def _lock_user(conn: AsyncConnection, user_id: int) -> int | None:
    """Hold the user's row FOR SHARE until the caller's transaction ends (revocation
    waits for it); the user's generation, or None when gone or inactive."""
    row = (
        await conn.execute(
            select(ApiUser.active, ApiUser.generation)
            .where(ApiUser.id == user_id)
            .with_for_update(read=True)
        )
    ).first()
    return int(row.generation) if row is not None and row.active else None


async def _issue(
    conn: AsyncConnection, state: Services, user_id: int, chain: Chain
) -> dict[str, Any]:
    """Write a new pair in the caller's transaction (which holds the user's row)."""
    settings = state.settings
    now = clock.now()
    ends = chain.started_at + timedelta(days=settings.refresh_chain_days)
    refresh_expires = min(now + timedelta(seconds=settings.refresh_token_ttl_seconds), ends)
    access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    common = {
        "user_id": user_id,
        "created_at": now,
        "chain": chain.id,
        "chain_started_at": chain.started_at,
    }
    await conn.execute(
        insert(ApiToken),
        [
            {
                **common,
                "token_hash": token_hash(access),
                "kind": "access",
                "expires_at": now + timedelta(seconds=settings.access_token_ttl_seconds),
            },
            {
                **common,
                "token_hash": token_hash(refresh),
                "kind": "refresh",
                "expires_at": refresh_expires,
            },
        ],
    )
    return {
        "access_token": access,
        "token_type": "bearer",
        "expires_in": settings.access_token_ttl_seconds,
        "refresh_token": refresh,
    }


async def _consume_refresh(
    conn: AsyncConnection, state: Services, refresh: str
) -> tuple[int, Chain] | None:
    """Spend a refresh token in the caller's transaction, holding its user's row first:
    its user and chain, or None. A spent or revoked one presented again revokes its
    whole chain (reuse detection), new pairs of racing refreshes included."""
    now = clock.now()
    digest = token_hash(refresh)
    chain_ends = now - timedelta(days=state.settings.refresh_chain_days)
    owner = await conn.scalar(
        select(ApiToken.user_id).where(ApiToken.token_hash == digest, ApiToken.kind == "refresh")
    )
    if owner is None:
        return None
    active = await _lock_user(conn, owner) is not None
    row = (
        await conn.execute(
            update(ApiToken)
            .where(
                ApiToken.token_hash == digest,
                ApiToken.kind == "refresh",
                ApiToken.revoked_at.is_(None),
                ApiToken.expires_at > now,
                ApiToken.chain_started_at > chain_ends,
            )
            .values(revoked_at=now)
            .returning(ApiToken.user_id, ApiToken.chain, ApiToken.chain_started_at)
        )
    ).first()
    if row is None:
        # Read after the winner of a race committed (this UPDATE waited for its row
        # lock): the chain's new pair is visible here and revoked with it.
        reused = await conn.scalar(
            select(ApiToken.chain).where(
                ApiToken.token_hash == digest,
                ApiToken.kind == "refresh",
                ApiToken.revoked_at.is_not(None),
            )
        )
        if reused is not None:
            await conn.execute(
                update(ApiToken)
                .where(ApiToken.chain == reused, ApiToken.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            log.warning("a spent refresh token was presented again: its chain is revoked")
        return None
    if not active:
        return None
    return int(row.user_id), Chain(bytes(row.chain), row.chain_started_at)


__all__ = ["Principal", "router"]
