"""Token care for a member's provider account.

An access token is refreshed a margin before it expires and once more after a 401;
rotated refresh tokens (Microsoft rotates on every use) are stored at once, encrypted.
A dead refresh token (`invalid_grant`) marks the account `needs_reconnect` and is never
retried: every later call refuses without talking to the provider, until the member
connects again. That is what keeps a revoked consent from becoming a retry storm.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import NamedTuple, TypeVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from spacecal import clock, metrics
from spacecal.crypto import TokenCipher
from spacecal.db.conditions import Health
from spacecal.db.models import (
    Connection,
    ProviderAccount,
    SubscriptionGeneration,
)
from spacecal.providers.base import AccountReadOnly, CalendarProvider, ConsentRevoked, TokenSet
from spacecal.providers.pacing import RequestPacer, paced
from spacecal.providers.session import AccountSession
from spacecal.sync.limits import pause_writes

T = TypeVar("T")


class AccountUnavailable(Exception):
    """The account cannot be used (needs reconnect, disconnected, gone); no provider
    call was made. `str()` is a sentence for the member."""


class AccountRow(NamedTuple):
    """What `AccountTokens` needs of the account's row."""

    status: str
    refresh_token_enc: bytes | None
    access_token_enc: bytes | None
    access_token_expires_at: datetime | None


class AccountTokens:
    """Provider calls for one account through `providers.session.AccountSession`
    (refresh ahead of expiry, once more after a 401), with the account's state kept in
    `provider_accounts`: rotated tokens saved, a dead consent marked once."""

    def __init__(
        self,
        engine: AsyncEngine,
        cipher: TokenCipher,
        provider: CalendarProvider,
        account_id: int,
        *,
        margin_seconds: int,
        read_only_seconds: float = 6 * 3600.0,
        pacer: RequestPacer | None = None,
    ) -> None:
        self.engine = engine
        self.cipher = cipher
        self.provider = provider
        self.account_id = account_id
        self.margin = timedelta(seconds=margin_seconds)
        self.read_only_seconds = read_only_seconds
        self.pacer = pacer
        self._session: AccountSession | None = None
        self._preloaded: AccountRow | None = None

    def preload(self, row: AccountRow) -> None:
        """The account's row, already read by the caller in its own query (the
        keep-alive job joins it to the connection): the first call spares its read.
        Used once; a later reopen (after a dead consent) reads afresh."""
        self._preloaded = row

    async def _open(self) -> AccountSession:
        if self._session is not None:
            return self._session
        row: AccountRow | None
        row, self._preloaded = self._preloaded, None
        if row is None:
            row = await self._read()
        if row is None:
            raise AccountUnavailable("This calendar account is no longer connected.")
        if row.status != "active":
            raise AccountUnavailable(
                "This calendar account needs to be connected again."
                if row.status == "needs_reconnect"
                else "This calendar account is disconnected."
            )
        if row.refresh_token_enc is None:
            await mark_needs_reconnect(
                self.engine, self.account_id, "No refresh token is stored for this account."
            )
            raise AccountUnavailable("This calendar account needs to be connected again.")

        async def save(tokens: TokenSet) -> None:
            await store_tokens(self.engine, self.cipher, self.account_id, tokens)
            metrics.token_refresh(self.provider.name, "ok")

        self._session = AccountSession(
            self.provider,
            self.cipher.decrypt(row.refresh_token_enc),
            self.cipher.decrypt(row.access_token_enc) if row.access_token_enc else None,
            row.access_token_expires_at,
            on_tokens=save,
            refresh_margin=self.margin,
        )
        return self._session

    async def _read(self) -> AccountRow | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        ProviderAccount.status,
                        ProviderAccount.refresh_token_enc,
                        ProviderAccount.access_token_enc,
                        ProviderAccount.access_token_expires_at,
                    ).where(ProviderAccount.id == self.account_id)
                )
            ).first()
        return AccountRow(*row) if row is not None else None

    async def call(self, fn: Callable[[str], Awaitable[T]]) -> T:
        """`fn(access_token)`, refreshing as needed; a dead consent marks the account
        `needs_reconnect` and raises AccountUnavailable (never retried). Every API
        request `fn` makes takes its place in the account's request budget (`pacer`,
        sync/pacing.py) first."""
        session = await self._open()
        try:
            with paced(self.pacer):
                return await session.call(fn)
        except AccountReadOnly:
            # Every process must stop writing to this account now (sync/limits.py).
            await pause_writes(self.engine, self.account_id, clock.now(), self.read_only_seconds)
            raise
        except ConsentRevoked as exc:
            metrics.token_refresh(self.provider.name, "revoked")
            self._session = None
            await mark_needs_reconnect(self.engine, self.account_id, str(exc))
            raise AccountUnavailable(
                "Access to this calendar account was withdrawn; connect it again."
            ) from None


async def store_tokens(
    engine: AsyncEngine, cipher: TokenCipher, account_id: int, tokens: TokenSet
) -> None:
    """Save what a token endpoint returned; a rotated refresh token replaces the old."""
    values: dict[str, object] = {
        "access_token_enc": cipher.encrypt(tokens.access_token),
        "access_token_expires_at": tokens.expires_at,
        "updated_at": clock.now(),
    }
    if tokens.refresh_token:
        values["refresh_token_enc"] = cipher.encrypt(tokens.refresh_token)
    if tokens.scopes:
        values["scopes"] = list(tokens.scopes)
    async with engine.begin() as conn:
        await conn.execute(
            update(ProviderAccount).where(ProviderAccount.id == account_id).values(**values)
        )


async def mark_needs_reconnect(engine: AsyncEngine, account_id: int, reason: str) -> None:
    """The consent is gone: say so on the account and its connections, once.

    The subscriptions cannot be stopped without a token; their generations are marked
    `stopping` (they lapse at their expiry at the latest, and notifications for them
    are ignored), so a later job or the next connect can finish them.
    """
    now = clock.now()
    async with engine.begin() as conn:
        await conn.execute(
            update(ProviderAccount)
            .where(ProviderAccount.id == account_id)
            .values(
                status="needs_reconnect",
                status_reason=reason[:2000],
                access_token_enc=None,
                access_token_expires_at=None,
                updated_at=now,
            )
        )
        await _connections_need_reconnect(conn, account_id, now)


async def _connections_need_reconnect(conn: AsyncConnection, account_id: int, now: object) -> None:
    connection_ids = select(Connection.id).where(Connection.provider_account_id == account_id)
    await conn.execute(
        update(Connection)
        .where(Connection.provider_account_id == account_id)
        .values(
            health=Health.NEEDS_RECONNECT,
            last_error="The member's consent was withdrawn: connect again from the portal.",
            last_error_at=now,
        )
    )
    await conn.execute(
        update(SubscriptionGeneration)
        .where(
            SubscriptionGeneration.connection_id.in_(connection_ids),
            SubscriptionGeneration.status == "live",
        )
        .values(status="stopping")
    )
