"""Subscription generations: each Google channel or Graph subscription spacecal made,
recorded with its secret and its account (so it can be stopped even after its
connection is gone), and the connection record showing the live one.

Provisioning and renewal both subscribe; both record through here, and a secret is
stored only as its keyed hash (`TokenCipher.seal_secret`): the provider was sent the
clear value when the subscription was made, and no renewal sends it again (Google
makes a new channel with a new token; Graph's PATCH keeps the clientState it has)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, func, insert, select, text
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import InstrumentedAttribute

from spacecal.crypto import TokenCipher
from spacecal.db.models import SubscriptionGeneration
from spacecal.providers.base import CalendarProvider, NotFound, Subscription
from spacecal.sync.tokens import AccountTokens


@dataclass(frozen=True)
class Gen:
    id: int
    subscription_id: str
    resource_id: str | None
    secret: str
    expires_at: datetime

    def as_subscription(self) -> Subscription:
        return Subscription(
            id=self.subscription_id,
            expires_at=self.expires_at,
            secret=self.secret,
            resource_id=self.resource_id,
        )


#: What renewing or stopping a generation needs of its row (`Gen`'s fields).
GEN_COLUMNS = (
    SubscriptionGeneration.id,
    SubscriptionGeneration.subscription_id,
    SubscriptionGeneration.watch_resource_id,
    SubscriptionGeneration.secret,
    SubscriptionGeneration.expires_at,
)


async def generations_by_status(
    engine: AsyncEngine, connection_id: int, statuses: tuple[str, ...]
) -> dict[str, list[Gen]]:
    """The connection's generations of each status, newest first, in one query."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(*GEN_COLUMNS, SubscriptionGeneration.status)
                .where(
                    SubscriptionGeneration.connection_id == connection_id,
                    SubscriptionGeneration.status.in_(statuses),
                )
                .order_by(
                    SubscriptionGeneration.expires_at.desc(), SubscriptionGeneration.id.desc()
                )
            )
        ).all()
    found: dict[str, list[Gen]] = {status: [] for status in statuses}
    for r in rows:
        found[r.status].append(
            Gen(r.id, r.subscription_id, r.watch_resource_id, r.secret, r.expires_at)
        )
    return found


def generations_from_json(rows: list[dict[str, object]]) -> dict[str, list[Gen]]:
    """The `live` and `stopping` generations as `generations_json` returns them (one
    JSON array, newest first), for a caller that read them in its own query."""
    found: dict[str, list[Gen]] = {"live": [], "stopping": []}
    for r in rows:
        found[str(r["status"])].append(
            Gen(
                int(str(r["id"])),
                str(r["subscription_id"]),
                None if r["watch_resource_id"] is None else str(r["watch_resource_id"]),
                str(r["secret"]),
                datetime.fromisoformat(str(r["expires_at"])),
            )
        )
    return found


def generations_json(
    connection_id: ColumnElement[int] | InstrumentedAttribute[int],
) -> ScalarSelect[Any]:
    """A sub-select of the connection's `live` and `stopping` generations as one JSON
    array, newest first (the order `_generations_by_status` reads them in)."""
    g = SubscriptionGeneration
    item = func.json_build_object(
        "id", g.id,
        "subscription_id", g.subscription_id,
        "watch_resource_id", g.watch_resource_id,
        "secret", g.secret,
        "expires_at", g.expires_at,
        "status", g.status,
    )  # fmt: skip
    return (
        select(
            func.coalesce(
                func.json_agg(aggregate_order_by(item, g.expires_at.desc(), g.id.desc())),
                text("'[]'::json"),
            )
        )
        .where(g.connection_id == connection_id, g.status.in_(("live", "stopping")))
        .scalar_subquery()
    )


async def generations_of(engine: AsyncEngine, connection_id: int, status: str) -> list[Gen]:
    return (await generations_by_status(engine, connection_id, (status,)))[status]


async def record_live(
    conn: AsyncConnection,
    *,
    connection_id: int,
    account_id: int | None,
    provider: str,
    sub: Subscription,
    now: datetime,
    cipher: TokenCipher,
) -> None:
    """A new live generation, in `conn`'s transaction; the record is not updated here
    (callers retire old generations first, then call `show_live`)."""
    await conn.execute(
        insert(SubscriptionGeneration).values(
            connection_id=connection_id,
            provider_account_id=account_id,
            provider=provider,
            subscription_id=sub.id,
            watch_resource_id=sub.resource_id,
            secret=cipher.seal_secret(sub.secret),
            expires_at=sub.expires_at,
            status="live",
            created_at=now,
        )
    )


# One statement: a row-valued sub-select sets the three columns to NULL when it finds
# no live generation (PostgreSQL's UPDATE semantics), which is what the record shows.
_SHOW_LIVE = text(
    "UPDATE connections SET (subscription_id, watch_resource_id, subscription_expire_date)"
    " = (SELECT g.subscription_id, g.watch_resource_id, g.expires_at"
    " FROM subscription_generations AS g"
    " WHERE g.connection_id = :connection_id AND g.status = 'live'"
    " ORDER BY g.expires_at DESC, g.id DESC LIMIT 1),"
    " updated_on = :now WHERE id = :connection_id"
)


async def show_live(conn: AsyncConnection, connection_id: int, now: datetime) -> None:
    """The record shows the newest live generation (or nothing when there is none)."""
    await conn.execute(_SHOW_LIVE, {"connection_id": connection_id, "now": now})


# The newest generation replaces `retire` (every other live one) in one statement, one
# round trip in autocommit: Google's new channel or a recovery inserts it (`_NEW`),
# Graph's PATCH extends it (`_EXTENDED`). Retired generations become `stopping`
# (`stopped` when already lapsed: the provider sends nothing more), and the record
# shows the new one: with every other live generation retired, it is the newest.
# PostgreSQL runs every data-modifying WITH clause, read or not.
_RETIRE_AND_SHOW = (
    " retired AS (UPDATE subscription_generations SET provider_account_id = :account_id,"
    " status = CASE WHEN expires_at <= :now THEN 'stopped' ELSE 'stopping' END"
    " WHERE id = ANY(CAST(:retire AS bigint[])) AND id <> (SELECT id FROM g))"
    " UPDATE connections AS c SET subscription_id = g.subscription_id,"
    " watch_resource_id = g.watch_resource_id, subscription_expire_date = g.expires_at,"
    " updated_on = :now,"
    " renew_requested = c.renew_requested AND NOT :clear_request,"
    " resync_requested = c.resync_requested OR :resync"
    " FROM g WHERE c.id = :connection_id"
)
_INSERT_NEW = (
    "WITH g AS (INSERT INTO subscription_generations (connection_id, provider_account_id,"
    " provider, subscription_id, watch_resource_id, secret, expires_at, status, created_at)"
    " VALUES (:connection_id, :account_id, :provider, :subscription_id, :resource_id,"
    " :secret, :expires_at, 'live', :now)"
    " RETURNING id, subscription_id, watch_resource_id, expires_at),"
)
_EXTEND = (
    "WITH g AS (UPDATE subscription_generations SET expires_at = :expires_at,"
    " secret = :secret WHERE id = :generation_id"
    " RETURNING id, subscription_id, watch_resource_id, expires_at),"
)
_NEW = text(_INSERT_NEW + _RETIRE_AND_SHOW)
_EXTENDED = text(_EXTEND + _RETIRE_AND_SHOW)


async def replace_live(
    conn: AsyncConnection,
    *,
    connection_id: int,
    account_id: int | None,
    provider: str,
    sub: Subscription,
    retire: list[int],
    now: datetime,
    cipher: TokenCipher,
    extends: int | None = None,
    clear_request: bool = False,
    resync: bool = False,
) -> None:
    """Make `sub` the connection's one live generation and show it on the record, in
    one statement: a new generation, or with `extends` (its id) the same one with
    `sub`'s expiry and secret. `retire`: the other live ones. `clear_request` clears
    `renew_requested`; `resync` records the full resync a recovery owes (with the new
    generation, so a failure after this point cannot lose it)."""
    params = {
        "connection_id": connection_id,
        "account_id": account_id,
        "expires_at": sub.expires_at,
        "secret": cipher.seal_secret(sub.secret),
        "retire": retire,
        "now": now,
        "clear_request": clear_request,
        "resync": resync,
    }
    if extends is not None:
        await conn.execute(_EXTENDED, {**params, "generation_id": extends})
    else:
        await conn.execute(
            _NEW,
            {
                **params,
                "provider": provider,
                "subscription_id": sub.id,
                "resource_id": sub.resource_id,
            },
        )


async def drop_unknown_subscriptions(
    engine: AsyncEngine,
    provider: CalendarProvider,
    tokens: AccountTokens,
    calendar_id: str | None,
) -> None:
    """Delete the calendar's subscriptions spacecal has no live record of: leftovers of
    an attempt whose answer was lost (Graph answers 409 to a second subscription on the
    same calendar)."""
    listed = await tokens.call(provider.list_subscriptions)
    async with engine.connect() as conn:
        known = set(
            await conn.scalars(
                select(SubscriptionGeneration.subscription_id).where(
                    SubscriptionGeneration.provider == provider.name,
                    SubscriptionGeneration.status == "live",
                )
            )
        )
    for sub in listed:
        if sub.id not in known and sub.calendar_id in (calendar_id, None):
            with contextlib.suppress(NotFound):
                await tokens.call(partial(provider.unsubscribe, subscription=sub))
