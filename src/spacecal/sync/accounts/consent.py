"""A member's provider account: storing a consent, and reattaching the calendars
made before after a reconnect (the portal's OAuth callback calls both with the
application's `Provisioner`).

A reconnect follows a dead consent (`needs_reconnect`) or a disconnect. While the
account could not be used nothing was pulled or pushed, and a channel made now
reports nothing from before it, so each reattached connection asks the keep-alive
job (under the account lock) for a full resync: the cursor is cleared and a
reconcile queued, whose full pull and write-back make bookings and events agree.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update

from spacecal import clock
from spacecal.db.models import Connection, ProviderAccount
from spacecal.providers.base import AccountIdentity, TokenSet
from spacecal.sync.accounts.disconnect import stop_generations
from spacecal.sync.accounts.provisioning import Provisioner
from spacecal.sync.accounts.setup_rows import ProvisioningFailed
from spacecal.sync.upkeep.keepalive import defer_keepalive


async def save_account(
    prov: Provisioner, coworker_id: int, provider: str, tokens: TokenSet, identity: AccountIdentity
) -> int:
    """Store a fresh consent (one account per member and provider)."""
    now = clock.now()
    values: dict[str, Any] = {
        "email": identity.email,
        "subject": identity.subject,
        "access_token_enc": prov.cipher.encrypt(tokens.access_token),
        "access_token_expires_at": tokens.expires_at,
        "scopes": list(tokens.scopes),
        "status": "active",
        "status_reason": None,
        "updated_at": now,
    }
    if tokens.refresh_token:
        values["refresh_token_enc"] = prov.cipher.encrypt(tokens.refresh_token)
    async with prov.engine.begin() as conn:
        existing = (
            await conn.execute(
                select(ProviderAccount.id, ProviderAccount.subject)
                .where(
                    ProviderAccount.coworker_id == coworker_id,
                    ProviderAccount.provider == provider,
                )
                .with_for_update()
            )
        ).first()
        if existing is None:
            account_id = await conn.scalar(
                insert(ProviderAccount)
                .values(coworker_id=coworker_id, provider=provider, created_at=now, **values)
                .returning(ProviderAccount.id)
            )
            assert account_id is not None
            return int(account_id)
        if existing.subject and existing.subject != identity.subject:
            # Another account of the same provider: the old calendars live there
            # and cannot be reached any more; forget them (bookings stay).
            await conn.execute(
                delete(Connection).where(Connection.provider_account_id == existing.id)
            )
        await conn.execute(
            update(ProviderAccount).where(ProviderAccount.id == existing.id).values(**values)
        )
        if not tokens.refresh_token:
            has = await conn.scalar(
                select(ProviderAccount.refresh_token_enc.is_not(None)).where(
                    ProviderAccount.id == existing.id
                )
            )
            if not has:
                raise ProvisioningFailed(
                    "The provider did not grant offline access; connect again and allow it."
                )
        return int(existing.id)


async def reattach(prov: Provisioner, account_id: int) -> list[int]:
    """After a reconnect: watch again the calendars spacecal made earlier, then
    resync each in full. While the account needed reconnecting nothing was pulled
    or pushed, and a channel made now reports nothing from before it, so the
    keep-alive job (under the account lock) clears the cursor and queues a
    reconcile whose full pull and write-back make bookings and events agree."""
    async with prov.engine.connect() as conn:
        ids = (
            await conn.scalars(
                select(Connection.id).where(Connection.provider_account_id == account_id)
            )
        ).all()
    done: list[int] = []
    for connection_id in ids:
        await stop_generations(prov, connection_id, statuses=("stopping",))
        try:
            await prov.resume(connection_id)
        except ProvisioningFailed:
            continue
        async with prov.engine.begin() as conn:
            await conn.execute(
                update(Connection)
                .where(Connection.id == connection_id)
                .values(resync_requested=True)
            )
            await defer_keepalive(conn, connection_id, account_id)
        done.append(connection_id)
    return done
