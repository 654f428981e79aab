"""The provisioning lock: one set-up of a connection at a time, across processes.

Two API processes (a double click landing on both, or a reconnect beside a resource
switched on) must never make two calendars or two channels for one (member,
resource, provider). The connection row itself is unique on that triple (an insert
that loses the race finds the winner's row), and every step after it runs under a
PostgreSQL advisory lock keyed on the row: the second comer waits, then finds the
steps done. A crashed process's session ends, and its lock with it.

The keep-alive job takes the same lock, without waiting, before it subscribes a
connection that has no live channel: while provisioning holds it, the first channel
is the provisioner's to record, and the keep-alive leaves the connection alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

_KEY = "hashtextextended('spacecal.provision:' || CAST(:id AS text), 0)"
_LOCK = text(f"SELECT pg_advisory_xact_lock({_KEY})")
_TRY = text(f"SELECT pg_try_advisory_xact_lock({_KEY})")


@asynccontextmanager
async def provisioning_lock(
    engine: AsyncEngine, connection_id: int, *, wait: bool = True
) -> AsyncIterator[bool]:
    """Hold the provisioning lock of `connection_id` for the block. Yields True when
    held; with `wait=False`, False at once when another session holds it.

    A transaction-level lock in a transaction of its own (it writes nothing): however
    the block ends, the transaction ends and the lock with it, so a failed unlock or
    a cancellation can never hand a still-locked connection back to the pool. It uses
    one pooled connection for the block (the steps take their own)."""
    async with engine.begin() as conn:
        if wait:
            await conn.execute(_LOCK, {"id": connection_id})
            held = True
        else:
            held = bool(await conn.scalar(_TRY, {"id": connection_id}))
        yield held
