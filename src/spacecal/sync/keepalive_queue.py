"""Queueing the keep-alive job (`spacecal.keepalive(connection_id)`) in the caller's
transaction: one at a time (a lifecycle notification, an admin action) or the periodic
pass's whole batch in one insert. Job rules in sync/keepalive.py's docstring."""

from __future__ import annotations

import json

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal.sync.queue import QUEUE, account_lock

KEEPALIVE_TASK = "spacecal.keepalive"

_DEFER = text(
    "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, :priority, :lock,"
    " :queueing_lock, CAST(:args AS jsonb), NULL)]::procrastinate_job_to_defer_v1[])"
)


# The pass's batch in one statement (as sync/queue.py's `defer_reconciles`).
_DEFER_MANY = text(
    "SELECT procrastinate_defer_jobs_v1(ARRAY(SELECT ROW(:queue, :task, 1, j.lock,"
    " j.queueing_lock, j.args, NULL)::procrastinate_job_to_defer_v1"
    " FROM unnest(CAST(:locks AS text[]), CAST(:queueing_locks AS text[]),"
    " CAST(:args AS jsonb[])) AS j(lock, queueing_lock, args)))"
)
_QUEUED = text(
    "SELECT queueing_lock FROM procrastinate_jobs"
    " WHERE status = 'todo' AND queueing_lock = ANY(CAST(:locks AS text[]))"
)


def spread_by_account(
    targets: list[tuple[int, int | None]],
) -> list[tuple[int, int | None]]:
    """(connection, account) pairs in rounds: each account's first, then each one's
    second, and so on, keeping the given order within a round. Jobs of one account
    share a lock and run one at a time, and procrastinate's fetch walks the queue in
    order past every job whose lock is busy: queued account by account, each fetch
    would walk past the running accounts' whole backlog, and one account with many
    calendars would hold up everyone else's."""
    seen: dict[int | None, int] = {}
    ranked = []
    for position, (connection_id, account_id) in enumerate(targets):
        rank = seen.get(account_id, 0)
        seen[account_id] = rank + 1
        ranked.append((rank, position, (connection_id, account_id)))
    return [target for _, _, target in sorted(ranked, key=lambda r: (r[0], r[1]))]


def keepalive_queueing_lock(connection_id: int) -> str:
    return f"renew:{connection_id}"


async def defer_keepalive(
    conn: AsyncConnection, connection_id: int, account_id: int | None
) -> bool:
    """Queue the keep-alive job of `connection_id` in `conn`'s transaction; False when
    one is already queued (that one will read the tables when it runs)."""
    params = {
        "queue": QUEUE,
        "task": KEEPALIVE_TASK,
        "priority": 1,  # ahead of routine reconciles: an expiring channel cannot wait
        "lock": account_lock(account_id, connection_id),
        "queueing_lock": keepalive_queueing_lock(connection_id),
        "args": json.dumps({"connection_id": connection_id}),
    }
    try:
        async with conn.begin_nested():
            await conn.execute(_DEFER, params)
    except IntegrityError:
        return False
    return True


async def defer_keepalives(conn: AsyncConnection, targets: list[tuple[int, int | None]]) -> int:
    """Queue the keep-alive job of each (connection, account) in `conn`'s transaction,
    in one insert: connections with one already queued are left out first; should one
    be queued concurrently in between (the unique queueing lock), the batch falls back
    to one savepoint per job. Returns how many were newly queued."""
    wanted = {keepalive_queueing_lock(cid): (cid, aid) for cid, aid in targets}
    if not wanted:
        return 0
    queued = set(await conn.scalars(_QUEUED, {"locks": list(wanted)}))
    # In the pass's order (soonest expiry first): the workers take them in that order.
    todo = [target for lock, target in wanted.items() if lock not in queued]
    if not todo:
        return 0
    params = {
        "queue": QUEUE,
        "task": KEEPALIVE_TASK,
        "locks": [account_lock(aid, cid) for cid, aid in todo],
        "queueing_locks": [keepalive_queueing_lock(cid) for cid, _ in todo],
        "args": [json.dumps({"connection_id": cid}) for cid, _ in todo],
    }
    try:
        async with conn.begin_nested():
            await conn.execute(_DEFER_MANY, params)
    except IntegrityError:
        made = 0
        for cid, aid in todo:
            if await defer_keepalive(conn, cid, aid):
                made += 1
        return made
    return len(todo)
