"""Invitation addresses: `<resource-slug>+<member-token>@<SPACECAL_MAIL_DOMAIN>`.

The token routes a message to one member's address for one resource. It is not a
secret (every co-attendee of a meeting sees it), so it only routes; who may act is
decided from the message itself (mail/auth.py, mail/invitations.py). Tokens are 26
characters of lowercase base32 (128 random bits), matched case-insensitively, and
accepted after `-` or `.` as well as `+`, since some clients drop `+`.

A resource's slug is given on first use and kept, so renaming the resource does not
change addresses members have already handed out.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal import clock
from spacecal.mail.message import Recipient

TOKEN_MIN = 16
_SLUG = r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?"
_TOKEN = rf"[a-z2-7]{{{TOKEN_MIN},64}}"
_WITH_TOKEN = re.compile(rf"(?P<slug>{_SLUG})[+.-](?P<token>{_TOKEN})")
_PLAIN = re.compile(_SLUG)


def new_token() -> str:
    """A fresh member token: 128 random bits in lowercase base32 (26 characters)."""
    return base64.b32encode(secrets.token_bytes(16)).decode("ascii").rstrip("=").lower()


def slugify(name: str) -> str:
    """The address part a resource name suggests: lowercase ASCII letters, digits, `-`."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-")
    return slug or "resource"


def address(slug: str, token: str | None, domain: str) -> str:
    """The address of `slug` for `token` (None: the plain resource address)."""
    local = slug if token is None else f"{slug}+{token}"
    return f"{local}@{domain.lower()}"


@dataclass(frozen=True)
class Parsed:
    """What an address in our domain may mean: a personal address (slug, token) and/or
    the plain address of a slug (a slug may itself end in `-<letters>`)."""

    with_token: tuple[str, str] | None
    plain: str | None


def parse(rcpt: str, domain: str) -> Parsed | None:
    """Split `rcpt` (an envelope recipient); None when it is not in `domain` or cannot
    be one of our addresses."""
    local, at, host = rcpt.strip().lower().rpartition("@")
    if not at or host.rstrip(".") != domain.lower().rstrip("."):
        return None
    m = _WITH_TOKEN.fullmatch(local)
    plain = local if _PLAIN.fullmatch(local) else None
    if m is None and plain is None:
        return None
    return Parsed((m["slug"], m["token"]) if m else None, plain)


async def resolve(conn: AsyncConnection, rcpt: str, domain: str) -> Recipient | None:
    """The resource address `rcpt` reaches, or None (the receiver answers 550)."""
    parsed = parse(rcpt, domain)
    if parsed is None:
        return None
    if parsed.with_token is not None:
        slug, token = parsed.with_token
        row = (
            await conn.execute(
                text(
                    "SELECT a.id, a.resource_id, a.coworker_id, a.replaced_at IS NULL"
                    " FROM invitation_addresses a JOIN resources r ON r.id = a.resource_id"
                    " WHERE a.token = :token AND r.mail_slug = :slug"
                ),
                {"token": token, "slug": slug},
            )
        ).first()
        if row is not None:
            return Recipient(rcpt.strip().lower(), int(row[1]), int(row[2]), int(row[0]), row[3])
    if parsed.plain is not None:
        resource_id = await conn.scalar(
            text(
                "SELECT r.id FROM resources r JOIN businesses b ON b.id = r.business_id"
                " WHERE r.mail_slug = :slug AND b.invitations_plain_address"
            ),
            {"slug": parsed.plain},
        )
        if resource_id is not None:
            return Recipient(rcpt.strip().lower(), int(resource_id), None, None, True)
    return None


async def slug_of(conn: AsyncConnection, resource_id: int) -> str:
    """The resource's slug, given now from its name if it has none (unique: a taken
    slug gets the resource id appended)."""
    row = (
        await conn.execute(
            text("SELECT name, mail_slug FROM resources WHERE id = :id FOR UPDATE"),
            {"id": resource_id},
        )
    ).one()
    if row[1]:
        return str(row[1])
    base = slugify(str(row[0]))
    for candidate in (base, f"{base}-{resource_id}"):
        async with conn.begin_nested():
            taken = await conn.scalar(
                text("SELECT 1 FROM resources WHERE mail_slug = :s"), {"s": candidate}
            )
            if taken is None:
                await conn.execute(
                    text("UPDATE resources SET mail_slug = :s WHERE id = :id"),
                    {"s": candidate, "id": resource_id},
                )
                return candidate
    raise RuntimeError(f"resource {resource_id}: no free mail slug")  # ids are unique


async def current_token(conn: AsyncConnection, coworker_id: int, resource_id: int) -> str:
    """The member's current token for the resource, made on first use."""
    token = await conn.scalar(
        text(
            "SELECT token FROM invitation_addresses WHERE coworker_id = :c"
            " AND resource_id = :r AND replaced_at IS NULL"
        ),
        {"c": coworker_id, "r": resource_id},
    )
    if token is not None:
        return str(token)
    made = await conn.scalar(
        text(
            "INSERT INTO invitation_addresses (coworker_id, resource_id, token, created_at)"
            " VALUES (:c, :r, :t, :now) ON CONFLICT DO NOTHING RETURNING token"
        ),
        {"c": coworker_id, "r": resource_id, "t": new_token(), "now": clock.now()},
    )
    if made is None:  # made concurrently
        return await current_token(conn, coworker_id, resource_id)
    return str(made)


async def replace_token(conn: AsyncConnection, coworker_id: int, resource_id: int) -> str:
    """Give the member a new token for the resource. The old one stays routable for
    updates and cancels of the UIDs it booked (Recipient.current False)."""
    await conn.execute(
        text(
            "UPDATE invitation_addresses SET replaced_at = :now WHERE coworker_id = :c"
            " AND resource_id = :r AND replaced_at IS NULL"
        ),
        {"c": coworker_id, "r": resource_id, "now": clock.now()},
    )
    return await current_token(conn, coworker_id, resource_id)


@dataclass(frozen=True)
class MemberAddress:
    resource_id: int
    resource_name: str
    address: str


async def member_addresses(
    conn: AsyncConnection, coworker_id: int, domain: str
) -> list[MemberAddress]:
    """The member's current address for every bookable resource of their business."""
    rows = (
        await conn.execute(
            text(
                "SELECT r.id, r.name FROM resources r JOIN coworkers c"
                " ON c.business_id = r.business_id WHERE c.id = :c AND r.bookable"
                " AND r.visible ORDER BY r.name, r.id"
            ),
            {"c": coworker_id},
        )
    ).all()
    out = []
    for resource_id, name in rows:
        slug = await slug_of(conn, int(resource_id))
        token = await current_token(conn, coworker_id, int(resource_id))
        out.append(MemberAddress(int(resource_id), str(name), address(slug, token, domain)))
    return out
