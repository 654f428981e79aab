"""Who is calling: Bearer tokens (stored hashed), HTTP Basic (argon2, verified once and
then cached under an HMAC), roles and the `require` check, under the sign-in limiter
and the password-check gate (web/signin_limit.py). Shared by the records API, the
portal's sign-in (password hashes, limiter, gate) and the console's sign-in.

Revocation reaches the caches within `bearer_cache_seconds` in every process: a cached
Bearer token is looked up again after that long (a revoked token then fails), and a
cached Basic credential has its user's `generation` re-read after that long (a
password change, deactivation or revocation bumps it; argon2 is then paid again).

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
from dataclasses import dataclass
from functools import lru_cache
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
from spacecal.web.signin_limit import SignInLimiter, VerifyGate, guarded

WWW_AUTHENTICATE = 'Bearer realm="spacecal", Basic realm="spacecal", charset="UTF-8"'


@lru_cache(maxsize=4)
def _hasher(time_cost: int, memory_kib: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)


def hasher_for(settings: Settings | None) -> PasswordHasher:
    """argon2 with the configured cost (the library's defaults without settings)."""
    if settings is None:
        return _hasher(3, 65536)
    return _hasher(settings.password_hash_time_cost, settings.password_hash_memory_kib)


def hash_password(password: str, settings: Settings | None = None) -> str:
    return hasher_for(settings).hash(password)


@lru_cache(maxsize=4)
def _dummy(time_cost: int, memory_kib: int) -> str:
    return _hasher(time_cost, memory_kib).hash(secrets.token_urlsafe(16))


def dummy_hash(settings: Settings | None) -> str:
    """Verified against when the account does not exist, so timing does not reveal it
    (same cost as real hashes made under these settings)."""
    h = hasher_for(settings)
    return _dummy(h.time_cost, h.memory_cost)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher(3, 65536).verify(password_hash, password)
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
    generation: int = 0

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


class Authenticator:
    """Resolves a request's credentials to a Principal, with short in-process caches."""

    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self.engine = engine
        # Lookups only read: autocommit saves two round trips per request.
        self.reads = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.settings = settings
        self.limiter = SignInLimiter(engine, settings)
        # One gate per process for every password check (API, portal, console).
        self.gate = VerifyGate(settings.login_verify_concurrency, settings.login_verify_queue)
        self._hmac_key = secrets.token_bytes(32)  # per process: cache keys never leave it
        # key -> (expiry, principal, generation re-checked until)
        self._basic_cache: dict[bytes, tuple[float, Principal, float]] = {}
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
            expiry, known, checked_until = cached
            if checked_until > now_mono:
                return known
            if await self._generation_holds(known):
                recheck = now_mono + self.settings.bearer_cache_seconds
                self._basic_cache[key] = (expiry, known, recheck)
                return known
            self._basic_cache.pop(key, None)
        # Single flight: concurrent requests with one credential share one argon2 check
        # (a client opening 32 connections at once must not cost 32 x 64 MiB).
        pending = self._basic_pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self.verify_login(email, password, client))
            self._basic_pending[key] = pending
            pending.add_done_callback(lambda _f: self._basic_pending.pop(key, None))
        principal = await asyncio.shield(pending)
        if self.settings.basic_auth_cache_seconds > 0:
            now_mono = time.monotonic()
            expiry = now_mono + self.settings.basic_auth_cache_seconds
            recheck = now_mono + self.settings.bearer_cache_seconds
            self._basic_cache[key] = (expiry, principal, recheck)
            self._trim(self._basic_cache)
        return principal

    async def _generation_holds(self, principal: Principal) -> bool:
        """The user is still active at the generation the credential was checked at."""
        async with self.reads.connect() as conn:
            row = (
                await conn.execute(
                    select(ApiUser.generation, ApiUser.active).where(
                        ApiUser.id == principal.user_id
                    )
                )
            ).first()
        return row is not None and row.active and row.generation == principal.generation

    async def verify_login(self, email: str, password: str, client: str) -> Principal:
        """Check an email and password (argon2) under the sign-in limiter and the
        password-check gate: 429 / 503 with Retry-After beyond them, else 401."""
        email = email.strip().lower()

        async def check() -> Principal | None:
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
                            ApiUser.generation,
                        ).where(ApiUser.email == email)
                    )
                ).first()
            stored = row.password_hash if row is not None else dummy_hash(self.settings)
            ok = await asyncio.to_thread(verify_password, stored, password)
            if row is None or not ok or not row.active:
                return None
            return Principal(
                row.id, row.email, frozenset(row.roles), row.full_admin, row.generation
            )

        principal = await guarded(self.gate, self.limiter, "api", email, client, check)
        if principal is None:
            raise unauthenticated("The user name or password is incorrect.")
        return principal

    @staticmethod
    def _trim(cache: dict[bytes, Any]) -> None:
        if len(cache) > 10_000:
            now_mono = time.monotonic()
            for key in [k for k, entry in cache.items() if entry[0] <= now_mono]:
                del cache[key]
            if len(cache) > 10_000:
                cache.clear()


def client_address(request: Request) -> str:
    """The address the sign-in limiter counts a caller under: the TCP peer, or the
    X-Forwarded-For client when the peer is one of SPACECAL_TRUSTED_PROXIES (uvicorn's
    proxy headers, set up by runner.serve, rewrite `request.client` only then)."""
    return request.client.host if request.client else "unknown"
