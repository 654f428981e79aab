"""What both adapters share on the wire: sending a request, reading Retry-After,
turning a failed answer into one of base.py's classified errors, and the OAuth token
grant.

Classification lives in one place so Google and Graph map alike: the sync engine
decides on the kind of error (throttled, reset, gone, ...), never on status codes.
No message built here ever contains a token: messages carry the provider's error
code and its (token-free) text, never request headers or form fields.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx2

from spacecal import clock
from spacecal.providers.base import (
    AccountReadOnly,
    Conflict,
    ConsentRevoked,
    NotFound,
    ProviderError,
    PushNotSupported,
    SyncReset,
    Throttled,
    TokenSet,
    Transient,
)

_SYNC_RESET_CODES = frozenset({"fullsyncrequired", "syncstatenotfound", "resyncrequired"})
_RATE_LIMIT_CODES = frozenset({"ratelimitexceeded", "userratelimitexceeded"})
_CONSENT_GONE = frozenset({"invalid_grant", "interaction_required", "consent_required"})
_MAX_TEXT = 200


class Unauthorized(ProviderError):
    """401 from an API call: the access token is expired or revoked.

    Internal to the providers package: `AccountSession` catches it, refreshes once and
    retries once. Callers that use an adapter without a session see it as a plain
    ProviderError with status 401."""


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date.

    A date in the past means "now" (0). Unparseable values give None (use backoff)."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else clock.now()
    return max(0.0, (when - current).total_seconds())


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


def classify(
    *,
    status: int,
    code: str | None,
    message: str,
    retry_after: float | None = None,
    sync: bool = False,
) -> ProviderError:
    """The classified error for a failed API answer.

    `sync` marks a delta/sync-token request, where a bare 410 means "the cursor is
    gone" (SyncReset) rather than "the item is gone" (NotFound)."""
    lowered = (code or "").lower()
    text = _short(f"HTTP {status} {code or ''}: {message}".replace(" :", ":"))
    if status == 401:
        return Unauthorized(text, status=status, code=code)
    if status in (429, 503) or (status == 403 and lowered in _RATE_LIMIT_CODES):
        return Throttled(text, status=status, code=code, retry_after=retry_after)
    if status == 403 and lowered == "quotaexceeded":
        return AccountReadOnly(text, status=status, code=code)
    if lowered in _SYNC_RESET_CODES or (sync and status == 410):
        return SyncReset(text, status=status, code=code)
    if status in (404, 410):
        return NotFound(text, status=status, code=code)
    if status == 409:
        return Conflict(text, status=status, code=code)
    if lowered == "pushnotsupportedforrequestedresource":
        return PushNotSupported(text, status=status, code=code)
    if status >= 500:
        return Transient(text, status=status, code=code)
    return ProviderError(text, status=status, code=code)


def json_body(response: httpx2.Response) -> dict[str, Any]:
    """The answer's JSON object, or {} when it has none (HTML error pages, empty)."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


async def send(
    client: httpx2.AsyncClient,
    method: str,
    url: str,
    *,
    access: str | None = None,
    params: Mapping[str, str] | None = None,
    json_data: Any = None,
    form: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx2.Response:
    """One HTTP request; a transport failure becomes Transient (status 0).

    The exception text names the method and the path only: never the query (a Graph
    deltaLink is a credential of sorts) and never a header."""
    all_headers = dict(headers or {})
    if access is not None:
        all_headers["Authorization"] = f"Bearer {access}"
    try:
        return await client.request(
            method,
            url,
            params=dict(params) if params is not None else None,
            json=json_data,
            data=dict(form) if form is not None else None,
            headers=all_headers,
        )
    except httpx2.TransportError as exc:
        path = httpx2.URL(url).path
        raise Transient(f"{method} {path}: {type(exc).__name__}", status=0) from None


def decode_jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, NOT verified.

    Only used on an id_token received straight from the token endpoint over TLS,
    which OpenID Connect Core 3.1.3.7 allows to trust without checking the signature
    (the emulators sign HS256 / not at all, so a JWKS check could not run there)."""
    parts = token.split(".")
    if len(parts) < 2:
        raise ProviderError("id_token is not a JWT")
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError) as exc:
        raise ProviderError("id_token payload is not JSON") from exc
    if not isinstance(claims, dict):
        raise ProviderError("id_token payload is not an object")
    return claims


async def token_grant(
    client: httpx2.AsyncClient, url: str, form: Mapping[str, str]
) -> tuple[TokenSet, dict[str, Any]]:
    """POST one grant to an OAuth token endpoint: the TokenSet and the raw body
    (for the id_token). On a refresh grant, `invalid_grant` (and Microsoft's consent
    errors) raise ConsentRevoked: the caller marks the account, it never retries in a
    loop. On a code grant the same answer means a bad/used code or verifier: a plain
    ProviderError (the member simply connects again)."""
    response = await send(client, "POST", url, form=form, headers={"Accept": "application/json"})
    body = json_body(response)
    if response.status_code != 200:
        error = str(body.get("error") or "")
        description = str(body.get("error_description") or "").split("\r\n")[0]
        text = _short(f"token endpoint: HTTP {response.status_code} {error}: {description}")
        if error in _CONSENT_GONE and form.get("grant_type") == "refresh_token":
            raise ConsentRevoked(text, status=response.status_code, code=error)
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if response.status_code in (429, 503):
            raise Throttled(
                text, status=response.status_code, code=error or None, retry_after=retry_after
            )
        if response.status_code >= 500:
            raise Transient(text, status=response.status_code, code=error or None)
        raise ProviderError(text, status=response.status_code, code=error or None)
    access = body.get("access_token")
    if not isinstance(access, str) or not access:
        raise ProviderError("token endpoint answered without an access_token", status=200)
    expires_in = float(body.get("expires_in") or 3600)
    refresh = body.get("refresh_token")
    scope = body.get("scope")
    tokens = TokenSet(
        access_token=access,
        expires_at=clock.now() + timedelta(seconds=expires_in),
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        scopes=tuple(scope.split()) if isinstance(scope, str) else (),
    )
    return tokens, body
