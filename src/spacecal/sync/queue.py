"""Deferring `reconcile(connection)` inside the caller's own transaction.

A trigger must be exactly as durable as the change that caused it (DESIGN,
"Nothing acknowledged is lost"): the webhook's 2xx and a booking's commit both
mean "a reconcile will run". So the job row is inserted on the caller's connection,
through procrastinate's own SQL function, and commits or rolls back with it.

Job rules (DESIGN, Jobs): `lock` = the provider account (one sync per mailbox at a
time), `queueing_lock` = the connection (a storm coalesces to one running + one
queued). A second defer while one is queued violates the queueing lock's unique
index: that is "already triggered", i.e. success; a savepoint keeps the caller's
transaction alive.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

QUEUE = "sync"
RECONCILE_TASK = "spacecal.reconcile"

_DEFER = text(
    "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, :priority, :lock,"
    " :queueing_lock, CAST(:args AS jsonb), :scheduled_at)]::procrastinate_job_to_defer_v1[])"
)
# Push an already queued job later (throttling: wait out Retry-After).
_POSTPONE = text(
    "UPDATE procrastinate_jobs SET scheduled_at = :scheduled_at"
    " WHERE queueing_lock = :queueing_lock AND status = 'todo'"
    " AND (scheduled_at IS NULL OR scheduled_at < :scheduled_at)"
)


def account_lock(account_id: int | None, connection_id: int) -> str:
    # A connection without an account cannot sync; it still gets a lock of its own.
    return f"account:{account_id}" if account_id is not None else f"orphan:{connection_id}"


def connection_queueing_lock(connection_id: int) -> str:
    return f"reconcile:{connection_id}"


async def defer_reconcile(
    conn: AsyncConnection,
    connection_id: int,
    account_id: int | None,
    *,
    scheduled_at: datetime | None = None,
    priority: int = 0,
) -> bool:
    """Queue a reconcile of `connection_id` in `conn`'s transaction.

    True: a new job; False: one was already queued (and, with `scheduled_at`, it is
    pushed back to at least that time)."""
    params = {
        "queue": QUEUE,
        "task": RECONCILE_TASK,
        "priority": priority,
        "lock": account_lock(account_id, connection_id),
        "queueing_lock": connection_queueing_lock(connection_id),
        "args": json.dumps({"connection_id": connection_id}),
        "scheduled_at": scheduled_at,
    }
    try:
        async with conn.begin_nested():
            await conn.execute(_DEFER, params)
    except IntegrityError:
        if scheduled_at is not None:
            await conn.execute(
                _POSTPONE,
                {"scheduled_at": scheduled_at, "queueing_lock": params["queueing_lock"]},
            )
        return False
    return True
