"""Members' credentials for the portal: passwords an admin sets, and one-time sign-in
links an admin issues (API or CLI). Links are stored hashed and work once."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from spacecal import clock
from spacecal.config import Settings
from spacecal.db.models import Coworker, MemberSignInLink
from spacecal.web.auth import hash_password, verify_password

MIN_PASSWORD_LENGTH = 10
# Verified against when the email is unknown, so timing does not reveal members.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


class MemberNotFound(LookupError):
    pass


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def find_coworker(engine: AsyncEngine, email: str) -> int:
    async with engine.connect() as conn:
        ids = (
            await conn.scalars(
                select(Coworker.id)
                .where(func.lower(Coworker.email) == email.strip().lower())
                .order_by(Coworker.id)
            )
        ).all()
    if not ids:
        raise MemberNotFound(f"No member (coworker) has the email {email}.")
    return int(ids[0])


async def set_password(engine: AsyncEngine, coworker_id: int, password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"The password must be at least {MIN_PASSWORD_LENGTH} characters.")
    hashed = await asyncio.to_thread(hash_password, password)
    async with engine.begin() as conn:
        await conn.execute(
            update(Coworker).where(Coworker.id == coworker_id).values(password_hash=hashed)
        )


async def check_password(engine: AsyncEngine, email: str, password: str) -> int | None:
    """The coworker id when the email and password match, else None (same timing)."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(Coworker.id, Coworker.password_hash)
                .where(func.lower(Coworker.email) == email.strip().lower())
                .order_by(Coworker.id)
                .limit(1)
            )
        ).first()
    stored = row.password_hash if row is not None and row.password_hash else _DUMMY_HASH
    ok = await asyncio.to_thread(verify_password, stored, password)
    if row is None or not row.password_hash or not ok:
        return None
    return int(row.id)


async def issue_sign_in_link(
    engine: AsyncEngine, settings: Settings, coworker_id: int
) -> tuple[str, datetime]:
    """A one-time sign-in URL for the member, and when it expires."""
    token = secrets.token_urlsafe(32)
    now = clock.now()
    expires = now + timedelta(minutes=settings.portal_sign_in_link_minutes)
    async with engine.begin() as conn:
        exists = await conn.scalar(select(Coworker.id).where(Coworker.id == coworker_id))
        if exists is None:
            raise MemberNotFound(f"No member (coworker) has the Id {coworker_id}.")
        await conn.execute(
            insert(MemberSignInLink).values(
                token_hash=_hash(token), coworker_id=coworker_id, created_at=now, expires_at=expires
            )
        )
    return f"{settings.effective_public_url()}/portal/signin/link/{token}", expires


async def redeem_sign_in_link(engine: AsyncEngine, token: str) -> int | None:
    """Use a link once: the coworker id, or None for an unknown, used or expired link."""
    async with engine.begin() as conn:
        coworker_id = await conn.scalar(
            update(MemberSignInLink)
            .where(
                MemberSignInLink.token_hash == _hash(token),
                MemberSignInLink.used_at.is_(None),
                MemberSignInLink.expires_at > clock.now(),
            )
            .values(used_at=clock.now())
            .returning(MemberSignInLink.coworker_id)
        )
    return int(coworker_id) if coworker_id is not None else None
