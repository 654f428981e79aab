"""PLACEHOLDER until mail-intake's branch is merged (it owns this module, with the
table of extra sender addresses a member confirms from the portal): the contract's
signature, counting only the member's registered email."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal.db.models import Coworker


async def verified_addresses(conn: AsyncConnection, coworker_id: int) -> frozenset[str]:
    """The member's verified sender addresses, lowercased (the registered email)."""
    email = await conn.scalar(select(Coworker.email).where(Coworker.id == coworker_id))
    return frozenset({email.strip().lower()}) if email else frozenset()
