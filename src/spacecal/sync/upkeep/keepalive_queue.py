"""Queueing the keep-alive job (`spacecal.keepalive(connection_id)`) in the caller's
transaction (jobs.defer / jobs.defer_many): one at a time (a lifecycle notification,
an admin action) or the periodic pass's whole batch in one insert. Job rules in
sync/upkeep/keepalive.py's docstring."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal import jobs
from spacecal.jobs import names
from spacecal.jobs.reconcile import account_lock

# Ahead of routine reconciles: an expiring channel cannot wait.
PRIORITY = 1


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


def _job(connection_id: int, account_id: int | None) -> jobs.JobRow:
    return jobs.JobRow(
        account_lock(account_id, connection_id),
        keepalive_queueing_lock(connection_id),
        {"connection_id": connection_id},
    )


async def defer_keepalive(
    conn: AsyncConnection, connection_id: int, account_id: int | None
) -> bool:
    """Queue the keep-alive job of `connection_id` in `conn`'s transaction; False when
    one is already queued (that one will read the tables when it runs)."""
    return await jobs.defer(
        conn, names.KEEPALIVE, _job(connection_id, account_id), priority=PRIORITY
    )


async def defer_keepalives(conn: AsyncConnection, targets: list[tuple[int, int | None]]) -> int:
    """Queue the keep-alive job of each (connection, account) in `conn`'s transaction,
    in one insert and in the given order (the workers take them in that order);
    connections with one already queued are left out. Returns how many were newly
    queued."""
    batch = [_job(cid, aid) for cid, aid in dict(targets).items()]
    return await jobs.defer_many(conn, names.KEEPALIVE, batch, priority=PRIORITY)
