"""Re-encrypting every stored secret under the newest key (`spacecal keys reencrypt`).

Rotation: put the new key first in SPACECAL_SECRET_KEYS (`new,old`), run this, then
remove `old`. Provider tokens, pending OAuth states and outbound webhooks' Secrets
are all re-encrypted in one transaction, with the new key's fingerprint: a secret
left under the old key would become unreadable once it is dropped (a delivery then
fails with "its Secret cannot be decrypted"). It lives in db/ because it is about
what the tables hold, not about any one flow that writes them.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from spacecal.crypto import FINGERPRINT_META_KEY, SEALED_PREFIX, TokenCipher
from spacecal.db.models import Meta, OAuthState, ProviderAccount, SubscriptionGeneration, WebHook


async def reencrypt_tokens(
    engine: AsyncEngine, cipher: TokenCipher, progress: Callable[[int], None] | None = None
) -> int:
    """Re-encrypt every stored provider secret under the newest key and record that
    key's fingerprint, so the old key can then be dropped from SPACECAL_SECRET_KEYS.

    Rotation: put the new key first (`new,old`), run this, then remove `old`.
    Returns how many values were re-encrypted; `progress(1)` is called per row
    (accounts, then pending OAuth states).
    """
    count = 0
    async with engine.begin() as conn:
        accounts = (
            await conn.execute(
                select(
                    ProviderAccount.id,
                    ProviderAccount.refresh_token_enc,
                    ProviderAccount.access_token_enc,
                ).with_for_update()
            )
        ).all()
        for account in accounts:
            values: dict[str, bytes] = {}
            if account.refresh_token_enc is not None:
                values["refresh_token_enc"] = cipher.rotate(account.refresh_token_enc)
            if account.access_token_enc is not None:
                values["access_token_enc"] = cipher.rotate(account.access_token_enc)
            if values:
                count += len(values)
                await conn.execute(
                    update(ProviderAccount).where(ProviderAccount.id == account.id).values(**values)
                )
            if progress is not None:
                progress(1)
        states = (
            await conn.execute(
                select(OAuthState.state_hash, OAuthState.code_verifier_enc).with_for_update()
            )
        ).all()
        for state in states:
            count += 1
            await conn.execute(
                update(OAuthState)
                .where(OAuthState.state_hash == state.state_hash)
                .values(code_verifier_enc=cipher.rotate(state.code_verifier_enc))
            )
            if progress is not None:
                progress(1)
        count += await reseal_webhook_secrets(conn, cipher)  # outbound webhooks' Secrets
        await replace_subscriptions_under_old_keys(conn, cipher)
        await conn.execute(
            update(Meta)
            .where(Meta.key == FINGERPRINT_META_KEY)
            .values(value=cipher.primary_fingerprint)
        )
    return count


async def reseal_webhook_secrets(
    conn: AsyncConnection, cipher: TokenCipher, progress: Callable[[int], None] | None = None
) -> int:
    """Re-encrypt every stored webhook secret under `cipher`'s newest key, in `conn`'s
    transaction. Returns how many were re-encrypted."""
    rows = (
        await conn.execute(
            select(WebHook.id, WebHook.secret_enc)
            .where(WebHook.secret_enc.is_not(None))
            .with_for_update()
        )
    ).all()
    for row in rows:
        await conn.execute(
            update(WebHook)
            .where(WebHook.id == row.id)
            .values(secret_enc=cipher.rotate(row.secret_enc))
        )
        if progress is not None:
            progress(1)
    return len(rows)


async def seal_subscription_secrets(engine: AsyncEngine, cipher: TokenCipher) -> int:
    """Replace channel tokens and clientStates stored in clear (rows from before they
    were hashed) by their keyed hash; run at start-up after migrating. Each row is
    updated only if it still holds the clear value, so processes starting together
    agree. Returns how many rows were sealed."""
    g = SubscriptionGeneration
    async with engine.begin() as conn:
        rows = (
            await conn.execute(
                select(g.id, g.secret).where(g.secret != "", g.secret.not_like(f"{SEALED_PREFIX}%"))
            )
        ).all()
        for row in rows:
            await conn.execute(
                update(g)
                .where(g.id == row.id, g.secret == row.secret)
                .values(secret=cipher.seal_secret(row.secret))
            )
    return len(rows)


# A channel token / clientState is kept only as its keyed hash (crypto.py), which
# cannot be carried to a new key: the live generations hashed under an older key
# become `stopping` and their connections ask for renewal, so the keep-alive makes new
# ones under the newest key (a full resync, as after Graph's subscriptionRemoved) and
# stops these. Until then both are accepted, as long as the old key is configured.
_REPLACE_OLD = text(
    "WITH old AS (UPDATE subscription_generations SET status = 'stopping'"
    " WHERE status = 'live' AND secret LIKE :sealed AND secret NOT LIKE :current"
    " RETURNING connection_id)"
    " UPDATE connections SET renew_requested = true"
    " WHERE id IN (SELECT connection_id FROM old)"
)


async def replace_subscriptions_under_old_keys(conn: AsyncConnection, cipher: TokenCipher) -> None:
    await conn.execute(
        _REPLACE_OLD,
        {
            "sealed": f"{SEALED_PREFIX}%",
            "current": f"{SEALED_PREFIX}{cipher.primary_fingerprint}:%",
        },
    )
