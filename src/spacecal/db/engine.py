"""The async engine and the start-up checks every process runs against its database."""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from spacecal.config import Settings
from spacecal.crypto import FINGERPRINT_META_KEY, TokenCipher, check_fingerprint, load_keys
from spacecal.db.models import Meta
from spacecal.db.url import libpq_url, to_sqlalchemy, uses_embedded

T = TypeVar("T")


RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock, serialization failure


async def in_transaction(
    engine: AsyncEngine, work: Callable[[AsyncConnection], Awaitable[T]], attempts: int = 3
) -> T:
    """Run `work` in a transaction, again from the start when PostgreSQL aborted it
    as a deadlock victim (concurrent exclusion-constraint checks can deadlock) or a
    serialization failure. Other errors propagate at once."""
    for attempt in range(1, attempts + 1):
        try:
            async with engine.begin() as conn:
                return await work(conn)
        except DBAPIError as exc:
            sqlstate = getattr(exc.orig, "sqlstate", None)
            if sqlstate not in RETRYABLE_SQLSTATES or attempt == attempts:
                raise
    raise AssertionError("unreachable")


def make_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(
        to_sqlalchemy(url),
        pool_size=pool_size,
        # No overflow: a burst waits for a pooled connection instead of opening one it
        # throws away at checkin (a new connection costs more than the wait).
        max_overflow=0,
        pool_timeout=30,
        pool_recycle=1800,
    )


_AUTOCOMMIT: weakref.WeakKeyDictionary[AsyncEngine, AsyncEngine] = weakref.WeakKeyDictionary()


def autocommit(engine: AsyncEngine) -> AsyncEngine:
    """`engine`'s pool in autocommit: a statement is one round trip (no BEGIN, and no
    COMMIT or ROLLBACK after it). Made once per engine: `execution_options` costs
    ~50 µs, paid on every request and block write when called each time."""
    found = _AUTOCOMMIT.get(engine)
    if found is None:
        found = _AUTOCOMMIT[engine] = engine.execution_options(isolation_level="AUTOCOMMIT")
    return found


@dataclass
class Database:
    """What a process needs to use the database: its URL, an engine, the token cipher."""

    url: str
    engine: AsyncEngine
    cipher: TokenCipher

    @cached_property
    def reads(self) -> AsyncEngine:
        """The same pool in autocommit: a statement is one round trip (no BEGIN, and no
        COMMIT or ROLLBACK after it). For single statements: reads, and writes that are
        one statement (renewal's `replace_live`); anything needing a transaction uses
        `engine`."""
        return autocommit(self.engine)

    async def dispose(self) -> None:
        await self.engine.dispose()


async def open_database(settings: Settings, *, migrate: bool = True) -> Database:
    """Resolve the server (starting the embedded one if needed), migrate, check keys."""
    url = libpq_url(settings)
    if migrate:
        import asyncio

        from spacecal.db.migrate import upgrade

        await asyncio.to_thread(upgrade, url)
    cipher = TokenCipher(load_keys(settings, embedded=uses_embedded(settings)))
    engine = make_engine(url, settings.db_pool_size)
    try:
        await verify_key_fingerprint(engine, cipher)
        if migrate:
            from spacecal.db.rekey import seal_subscription_secrets

            await seal_subscription_secrets(engine, cipher)  # clear ones from before hashing
    except Exception:
        await engine.dispose()
        raise
    return Database(url=url, engine=engine, cipher=cipher)


async def verify_key_fingerprint(engine: AsyncEngine, cipher: TokenCipher) -> None:
    async with engine.begin() as conn:
        stored = await conn.scalar(select(Meta.value).where(Meta.key == FINGERPRINT_META_KEY))
        to_store = check_fingerprint(stored, cipher)
        if to_store is not None:
            await conn.execute(
                insert(Meta)
                .values(key=FINGERPRINT_META_KEY, value=to_store)
                .on_conflict_do_nothing()
            )
