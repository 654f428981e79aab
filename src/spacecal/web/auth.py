"""Who is calling: Bearer tokens (stored hashed), HTTP Basic (argon2, verified once and
then cached under an HMAC), roles and the `require` check, and the failed-login
limiter. Shared by the records API, the portal's sign-in (password hashes, limiter)
and the console's sign-in.

Answers: 401 with `WWW-Authenticate` when the caller is not authenticated, 403 when
authenticated without the role the operation needs.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from spacecal import clock
from spacecal.config import Settings
from spacecal.db.models import ApiToken, ApiUser
from spacecal.records.errors import ApiError

WWW_AUTHENTICATE = 'Bearer realm="spacecal", Basic realm="spacecal", charset="UTF-8"'

_hasher = PasswordHasher()
# Verified against when the account does not exist, so timing does not reveal it.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class Principal:
    user_id: int
    email: str
    roles: frozenset[str]
    full_admin: bool

    def may(self, role: str) -> bool:
        return self.full_admin or role in self.roles


def unauthenticated(
    message: str = "Authentication is required: send a Bearer token or HTTP Basic credentials.",
) -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": WWW_AUTHENTICATE})


def forbidden(role: str) -> ApiError:
    return ApiError(
        403,
        f"This operation needs the {role} role (or a full unrestricted administrator).",
    )


def require(principal: Principal, role: str) -> None:
    """403 unless `principal` holds `role` (the API, the portal's sign-in API and the
    console check roles the same way)."""
    if not principal.may(role):
        raise forbidden(role)


class LoginLimiter:
    """Counts failed logins per account and per client address in a sliding window.

    In-process by design: each API process limits on its own, which bounds guessing
    to (processes x limit) per window; cheap, and no write on the hot path.
    """

    def __init__(self, max_failures: int, window_seconds: float) -> None:
        self.max_failures = max_failures
        self.window = window_seconds
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        entries = self._failures.setdefault(key, deque())
        while entries and entries[0] <= now - self.window:
            entries.popleft()
        return entries

    def check(self, *keys: str) -> None:
        now = time.monotonic()
        for key in keys:
            entries = self._recent(key, now)
            if len(entries) >= self.max_failures:
                retry = max(1, int(entries[0] + self.window - now) + 1)
                raise ApiError(
                    429,
                    "Too many failed sign-in attempts. Wait and try again.",
                    headers={"Retry-After": str(retry)},
                )

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        for key in keys:
            self._recent(key, now).append(now)
        if len(self._failures) > 100_000:  # bound memory under a spray of names
            for stale in [k for k, v in self._failures.items() if not v]:
                del self._failures[stale]

    def succeeded(self, account_key: str) -> None:
        self._failures.pop(account_key, None)


class Authenticator:
    """Resolves a request's credentials to a Principal, with short in-process caches."""

    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self.engine = engine
        # Lookups only read: autocommit saves two round trips per request.
        self.reads = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.settings = settings
        self.limiter = LoginLimiter(
            settings.login_max_failures, settings.login_failure_window_seconds
        )
        self._hmac_key = secrets.token_bytes(32)  # per process: cache keys never leave it
        self._basic_cache: dict[bytes, tuple[float, Principal]] = {}
        self._bearer_cache: dict[bytes, tuple[float, Principal]] = {}
        self._basic_pending: dict[bytes, asyncio.Future[Principal]] = {}

    async def authenticate(self, authorization: str | None, client: str) -> Principal:
        if not authorization:
            raise unauthenticated()
        scheme, _, credentials = authorization.partition(" ")
        scheme = scheme.lower()
        credentials = credentials.strip()
        if scheme == "bearer" and credentials:
            return await self._bearer(credentials)
        if scheme == "basic" and credentials:
            return await self._basic(credentials, client)
        raise unauthenticated("The Authorization header must be 'Bearer <token>' or 'Basic …'.")

    async def _bearer(self, token: str) -> Principal:
        digest = token_hash(token)
        now_mono = time.monotonic()
        cached = self._bearer_cache.get(digest)
        if cached is not None and cached[0] > now_mono:
            return cached[1]
        now = clock.now()
        async with self.reads.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        ApiToken.expires_at,
                        ApiUser.id,
                        ApiUser.email,
                        ApiUser.roles,
                        ApiUser.full_admin,
                    )
                    .join(ApiUser, ApiUser.id == ApiToken.user_id)
                    .where(
                        ApiToken.token_hash == digest,
                        ApiToken.kind == "access",
                        ApiToken.revoked_at.is_(None),
                        ApiUser.active.is_(True),
                    )
                )
            ).first()
        if row is None or row.expires_at <= now:
            self._bearer_cache.pop(digest, None)
            raise unauthenticated("The access token is invalid or has expired.")
        principal = Principal(row.id, row.email, frozenset(row.roles), row.full_admin)
        remaining = (row.expires_at - now).total_seconds()
        ttl = min(self.settings.bearer_cache_seconds, remaining)
        if ttl > 0:
            self._bearer_cache[digest] = (now_mono + ttl, principal)
            self._trim(self._bearer_cache)
        return principal

    async def _basic(self, credentials: str, client: str) -> Principal:
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise unauthenticated(
                "The Basic credentials are not valid base64 of email:password."
            ) from None
        email, sep, password = decoded.partition(":")
        if not sep:
            raise unauthenticated("The Basic credentials must be email:password.")
        key = hmac.new(self._hmac_key, decoded.encode(), hashlib.sha256).digest()
        now_mono = time.monotonic()
        cached = self._basic_cache.get(key)
        if cached is not None and cached[0] > now_mono:
            return cached[1]
        # Single flight: concurrent requests with one credential share one argon2 check
        # (a client opening 32 connections at once must not cost 32 x 64 MiB).
        pending = self._basic_pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self.verify_login(email, password, client))
            self._basic_pending[key] = pending
            pending.add_done_callback(lambda _f: self._basic_pending.pop(key, None))
        principal = await asyncio.shield(pending)
        if self.settings.basic_auth_cache_seconds > 0:
            expiry = time.monotonic() + self.settings.basic_auth_cache_seconds
            self._basic_cache[key] = (expiry, principal)
            self._trim(self._basic_cache)
        return principal

    async def verify_login(self, email: str, password: str, client: str) -> Principal:
        """Check an email and password (argon2), under the failed-login limiter."""
        account_key = "acct:" + email.strip().lower()
        client_key = "addr:" + client
        self.limiter.check(account_key, client_key)
        async with self.reads.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        ApiUser.id,
                        ApiUser.email,
                        ApiUser.password_hash,
                        ApiUser.roles,
                        ApiUser.full_admin,
                        ApiUser.active,
                    ).where(ApiUser.email == email.strip().lower())
                )
            ).first()
        stored = row.password_hash if row is not None else _DUMMY_HASH
        ok = await asyncio.to_thread(verify_password, stored, password)
        if row is None or not ok or not row.active:
            self.limiter.failed(account_key, client_key)
            raise unauthenticated("The user name or password is incorrect.")
        self.limiter.succeeded(account_key)
        return Principal(row.id, row.email, frozenset(row.roles), row.full_admin)

    @staticmethod
    def _trim(cache: dict[bytes, Any]) -> None:
        if len(cache) > 10_000:
            now_mono = time.monotonic()
            for key in [k for k, (expiry, _) in cache.items() if expiry <= now_mono]:
                del cache[key]
            if len(cache) > 10_000:
                cache.clear()


def client_address(request: Request) -> str:
    """The address the login limiter counts a caller under."""
    return request.client.host if request.client else "unknown"
