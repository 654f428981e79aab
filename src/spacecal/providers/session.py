"""`AccountSession`: one provider account's access token, kept fresh.

Every provider call that touches the member's account goes through `call`, which
passes a valid access token as the first argument. The rules, from what went wrong
elsewhere (providers.md):

- refresh when the token is missing or expires within the margin;
- a 401 means the token died early: refresh once and retry once, never more;
- a dead refresh token (`invalid_grant`) raises ConsentRevoked from the refresh:
  the caller marks the account "needs reconnect" and nobody retries in a loop;
- after every refresh the new TokenSet is handed to `on_tokens` BEFORE it is used,
  because Microsoft rotates refresh tokens and the old one may stop working.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Concatenate, ParamSpec, TypeVar

from spacecal import clock
from spacecal.providers.base import CalendarProvider, TokenSaver, TokenSet
from spacecal.providers.http import Unauthorized

P = ParamSpec("P")
T = TypeVar("T")

DEFAULT_MARGIN = timedelta(minutes=5)


class AccountSession:
    """Fresh access tokens for one account; safe to share between concurrent calls
    (one refresh at a time, and a call that saw a 401 does not refresh again when
    another call already did)."""

    def __init__(
        self,
        provider: CalendarProvider,
        refresh_token: str,
        access_token: str | None = None,
        expires_at: datetime | None = None,
        *,
        on_tokens: TokenSaver,
        refresh_margin: timedelta = DEFAULT_MARGIN,
    ) -> None:
        self.provider = provider
        self._refresh_token = refresh_token
        self._access_token = access_token
        self._expires_at = expires_at
        self._on_tokens = on_tokens
        self._margin = refresh_margin
        self._lock = asyncio.Lock()
        self.refreshes = 0

    def __repr__(self) -> str:  # never print a token
        expiry = self._expires_at.isoformat() if self._expires_at else None
        return f"AccountSession(provider={self.provider.name!r}, expires_at={expiry})"

    def _fresh(self) -> bool:
        if self._access_token is None or self._expires_at is None:
            return False
        return self._expires_at - self._margin > clock.now()

    async def _refresh(self, stale: str | None) -> str:
        """Refresh unless another call already replaced `stale`; the current token."""
        async with self._lock:
            if self._access_token is not None and self._access_token != stale and self._fresh():
                return self._access_token
            tokens = await self.provider.refresh(self._refresh_token)
            await self._on_tokens(tokens)
            self._adopt(tokens)
            assert self._access_token is not None
            return self._access_token

    def _adopt(self, tokens: TokenSet) -> None:
        self.refreshes += 1
        self._access_token = tokens.access_token
        self._expires_at = tokens.expires_at
        if tokens.refresh_token:
            self._refresh_token = tokens.refresh_token

    async def access_token(self) -> str:
        """A token valid for at least the margin (refreshing if needed)."""
        if self._fresh():
            assert self._access_token is not None
            return self._access_token
        return await self._refresh(self._access_token)

    async def call(
        self,
        fn: Callable[Concatenate[str, P], Awaitable[T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """`await fn(access_token, *args, **kwargs)`, refreshing first if needed and
        once more after a 401 (then retrying once; a second 401 propagates)."""
        token = await self.access_token()
        try:
            return await fn(token, *args, **kwargs)
        except Unauthorized:
            token = await self._refresh(token)
        return await fn(token, *args, **kwargs)
