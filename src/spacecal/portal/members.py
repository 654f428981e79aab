"""Members' credentials for the portal: passwords an admin sets, and one-time sign-in
links an admin issues (API or CLI). Links are stored hashed and work once.

A member's `session_generation` is in their session cookie; setting a password or
signing out bumps it, which ends every portal session of theirs (views.current_member)."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from spacecal import clock
from spacecal.config import Settings
from spacecal.db.models import Business, Coworker, MemberSignInLink
from spacecal.web.auth import dummy_hash, hash_password, verify_password

MIN_PASSWORD_LENGTH = 10


@dataclass(frozen=True)
class SignedIn:
    """Who a password or link signs in, at which session generation."""

    coworker_id: int
    generation: int


@dataclass(frozen=True)
class LinkHolder:
    """Whom a sign-in link signs in to (shown before its button)."""

    full_name: str
    email: str
    space: str


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


async def set_password(
    engine: AsyncEngine, coworker_id: int, password: str, settings: Settings | None = None
) -> None:
    """Set the member's password; every portal session of theirs ends."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"The password must be at least {MIN_PASSWORD_LENGTH} characters.")
    hashed = await asyncio.to_thread(hash_password, password, settings)
    async with engine.begin() as conn:
        await conn.execute(
            update(Coworker)
            .where(Coworker.id == coworker_id)
            .values(password_hash=hashed, session_generation=Coworker.session_generation + 1)
        )


async def end_sessions(engine: AsyncEngine, coworker_id: int) -> None:
    """Sign the member out everywhere (their every session cookie stops working)."""
    async with engine.begin() as conn:
        await conn.execute(
            update(Coworker)
            .where(Coworker.id == coworker_id)
            .values(session_generation=Coworker.session_generation + 1)
        )


async def check_password(
    engine: AsyncEngine, email: str, password: str, settings: Settings | None = None
) -> SignedIn | None:
    """Whom the email and password sign in, else None (same timing)."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(Coworker.id, Coworker.password_hash, Coworker.session_generation)
                .where(func.lower(Coworker.email) == email.strip().lower())
                .order_by(Coworker.id)
                .limit(1)
            )
        ).first()
    has_password = row is not None and row.password_hash
    stored = row.password_hash if row is not None and has_password else dummy_hash(settings)
    ok = await asyncio.to_thread(verify_password, stored, password)
    if row is None or not has_password or not ok:
        return None
    return SignedIn(int(row.id), int(row.session_generation))


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


async def link_holder(engine: AsyncEngine, token: str) -> LinkHolder | None:
    """Whom an unused, unexpired link signs in to (reading it does not use it up)."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(Coworker.full_name, Coworker.email, Business.name)
                .select_from(MemberSignInLink)
                .join(Coworker, Coworker.id == MemberSignInLink.coworker_id)
                .join(Business, Business.id == Coworker.business_id)
                .where(
                    MemberSignInLink.token_hash == _hash(token),
                    MemberSignInLink.used_at.is_(None),
                    MemberSignInLink.expires_at > clock.now(),
                )
            )
        ).first()
    return None if row is None else LinkHolder(row.full_name, row.email, row.name)


async def redeem_sign_in_link(engine: AsyncEngine, token: str) -> SignedIn | None:
    """Use a link once: whom it signs in, or None for an unknown, used or expired link."""
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
        if coworker_id is None:
            return None
        generation = await conn.scalar(
            select(Coworker.session_generation).where(Coworker.id == coworker_id)
        )
    return SignedIn(int(coworker_id), int(generation or 0))
