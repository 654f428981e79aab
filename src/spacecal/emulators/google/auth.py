"""Grants and tokens: issuing, refreshing, revoking, and checking bearer tokens.

Scope rules chosen (from Google's scope documentation):
- `calendar`: everything;
- `calendar.app.created`: create calendars, and read/write only the calendars this
  client created and their events (others answer 404 notFound, as if absent);
  `calendarList` shows only those;
- `calendar.events`: events of any of the account's calendars;
  `calendar.readonly` / `calendar.events.readonly`: reads only;
- a token with none of the needed scopes gets 403 insufficientPermissions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from spacecal.emulators.google import errors
from spacecal.emulators.google.context import GoogleContext
from spacecal.emulators.google.state import AccessToken, Account, Calendar, Grant

SCOPE_PREFIX = "https://www.googleapis.com/auth/"
CALENDAR = SCOPE_PREFIX + "calendar"
CALENDAR_RO = SCOPE_PREFIX + "calendar.readonly"
EVENTS = SCOPE_PREFIX + "calendar.events"
EVENTS_RO = SCOPE_PREFIX + "calendar.events.readonly"
APP_CREATED = SCOPE_PREFIX + "calendar.app.created"
DEFAULT_SCOPES = frozenset({"openid", "email", APP_CREATED})


@dataclass(frozen=True)
class Caller:
    email: str
    client_id: str
    scopes: frozenset[str]


def normalise_scopes(raw: str | list[str] | None) -> frozenset[str]:
    """Scopes as full URLs; short names like `calendar.events` are expanded."""
    items = raw.split() if isinstance(raw, str) else list(raw or [])
    out = set()
    for item in items:
        if item in ("openid", "email", "profile") or item.startswith("https://"):
            out.add(item)
        else:
            out.add(SCOPE_PREFIX + item)
    return frozenset(out)


def issue_access_token(ctx: GoogleContext, grant: Grant) -> dict[str, Any]:
    token = "ya29." + ctx.core.rng.token(60)
    expires = ctx.core.clock.now() + ctx.settings.access_token_ttl
    ctx.store.access_tokens[token] = AccessToken(token, grant, expires)
    return {
        "access_token": token,
        "expires_in": int(ctx.settings.access_token_ttl.total_seconds()),
        "scope": " ".join(sorted(grant.scopes)),
        "token_type": "Bearer",
    }


def issue_refresh_token(ctx: GoogleContext, grant: Grant) -> str:
    token = "1//" + ctx.core.rng.token(60)
    grant.refresh_token = token
    ctx.store.refresh_tokens[token] = grant
    return token


def new_grant(ctx: GoogleContext, email: str, client_id: str, scopes: frozenset[str]) -> Grant:
    grant = Grant(len(ctx.store.grants) + 1, email, client_id, scopes)
    ctx.store.grants.append(grant)
    return grant


def has_live_refresh_token(ctx: GoogleContext, email: str, client_id: str) -> bool:
    return any(
        g.email == email and g.client_id == client_id and g.refresh_token and not g.revoked
        for g in ctx.store.grants
    )


def revoke_grant(ctx: GoogleContext, grant: Grant) -> None:
    grant.revoked = True


def revoke_account(ctx: GoogleContext, email: str, client_id: str | None = None) -> int:
    """Withdraw consent: every grant of the account (for one client or all) dies."""
    count = 0
    for grant in ctx.store.grants:
        if grant.email == email and (client_id is None or grant.client_id == client_id):
            if not grant.revoked:
                count += 1
            grant.revoked = True
    return count


def id_token(ctx: GoogleContext, account: Account, client_id: str, nonce: str | None) -> str:
    """An OIDC id_token signed HS256 with the client secret (OIDC allows it for
    confidential clients; Google signs RS256 — clients here must not need JWKS)."""
    now = int(ctx.core.clock.now().timestamp())
    claims: dict[str, Any] = {
        "iss": "https://accounts.google.com",
        "aud": client_id,
        "azp": client_id,
        "sub": account.sub,
        "email": account.email,
        "email_verified": True,
        "name": account.name,
        "iat": now,
        "exp": now + int(ctx.settings.access_token_ttl.total_seconds()),
    }
    if nonce:
        claims["nonce"] = nonce
    client = ctx.store.clients.get(client_id)
    secret = client.client_secret.encode() if client else b""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def token_account(ctx: GoogleContext, headers: dict[str, str]) -> str | None:
    """The account a request's bearer token belongs to (for the call log)."""
    token = _bearer(headers.get("authorization"))
    entry = ctx.store.access_tokens.get(token or "")
    return entry.grant.email if entry else None


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def authenticate(ctx: GoogleContext, authorization: str | None, now: datetime) -> Caller:
    token = _bearer(authorization)
    if token is None:
        raise errors.login_required()
    entry = ctx.store.access_tokens.get(token)
    if entry is None or entry.grant.revoked or entry.expires_at <= now:
        raise errors.auth_error()
    return Caller(entry.grant.email, entry.grant.client_id, entry.grant.scopes)


def check_calendar_access(
    caller: Caller, calendar: Calendar | None, *, write: bool, events: bool
) -> None:
    """Raise unless `caller` may read (or write) this calendar (or its events)."""
    scopes = caller.scopes
    if calendar is not None and calendar.owner != caller.email:
        raise errors.not_found()
    if CALENDAR in scopes:
        return
    if not write and CALENDAR_RO in scopes:
        return
    if events and (EVENTS in scopes or (not write and EVENTS_RO in scopes)):
        return
    if APP_CREATED in scopes:
        if calendar is None or calendar.created_by_client == caller.client_id:
            return
        raise errors.not_found()
    raise errors.insufficient_permissions()
