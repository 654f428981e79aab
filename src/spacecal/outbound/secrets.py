"""Webhook secrets under key rotation.

`spacecal keys reencrypt` (sync/accounts/tokens.py `reencrypt_tokens`) re-encrypts provider
tokens under the newest key before the old key is dropped; webhook secrets need the
same, in the same transaction, or they become unreadable (a delivery then fails with
"its Secret cannot be decrypted", and the operator must set the Secret again).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal.crypto import TokenCipher
from spacecal.db.models import WebHook


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
