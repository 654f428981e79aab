"""Resync and renew for many connections at once (`spacecal connections resync|renew`).

The same request as the console's buttons (spacecal.admin.actions): set the flag
(`resync_requested` / `renew_requested`) and queue the connection's keep-alive job,
which serves it (sync/upkeep/keepalive.py) and clears the flag. Done in batches, one
transaction each, so a run over thousands of connections neither holds one long
transaction nor pays one per connection; a batch that loses a deadlock is run again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from spacecal.db.engine import in_transaction
from spacecal.db.models import Connection, ProviderAccount, Resource
from spacecal.sync.upkeep.keepalive import defer_keepalive


async def select_ids(
    engine: AsyncEngine,
    *,
    ids: Sequence[int],
    everything: bool,
    health: str | None,
    business_id: int | None,
    provider: str | None,
    now: datetime,
    soon: timedelta,
) -> list[int]:
    """The connection ids named (kept even when unknown, to be reported), or every
    connection matching the filters (`everything` or `health`), in id order."""
    if ids and not (everything or health):
        wanted = sorted(set(ids))
        if business_id is None and provider is None:
            return wanted
    query = (
        select(Connection.id)
        .join(Resource, Resource.id == Connection.resource_id)
        .outerjoin(ProviderAccount, ProviderAccount.id == Connection.provider_account_id)
        .order_by(Connection.id)
    )
    if ids and not (everything or health):
        query = query.where(Connection.id.in_(sorted(set(ids))))
    if business_id is not None:
        query = query.where(Resource.business_id == business_id)
    if provider is not None:
        query = query.where(Connection.provider == provider)
    if health is not None:
        from spacecal.admin.health import state_expr

        query = query.where(state_expr(now, soon) == health)
    async with engine.connect() as conn:
        return [int(i) for i in await conn.scalars(query)]


@dataclass
class BulkResult:
    requested: int = 0
    queued: int = 0  # a keep-alive job is queued for it now
    already_queued: int = 0  # of `queued`: a job was waiting already (it sees the flag)
    waiting: int = 0  # flagged; served once the member reconnects (or it is set up)
    not_watched: int = 0  # renew of a polled calendar: nothing to renew
    missing: list[int] = field(default_factory=list)

    def summary(self, verb: str) -> str:
        parts = [f"Requested {verb} of {self.requested} connection(s): {self.queued} queued"]
        if self.already_queued:
            parts.append(
                f"{self.already_queued} of them already had a keep-alive job waiting, "
                "which will serve the request"
            )
        if self.waiting:
            parts.append(
                f"{self.waiting} wait for the member to connect the account again "
                "(flagged; served then)"
            )
        if self.not_watched:
            parts.append(f"{self.not_watched} skipped: the calendar is polled, not watched")
        text = "; ".join(parts) + "."
        if self.missing:
            shown = ", ".join(str(i) for i in self.missing[:20])
            more = f" and {len(self.missing) - 20} more" if len(self.missing) > 20 else ""
            text += f"\nNo connection with id {shown}{more}."
        return text


async def _one_batch(conn: AsyncConnection, ids: list[int], flag: str) -> BulkResult:
    result = BulkResult(requested=len(ids))
    rows = (
        await conn.execute(
            select(
                Connection.id,
                Connection.provider_account_id,
                Connection.calendar_id,
                Connection.push_supported,
                ProviderAccount.status,
            )
            .outerjoin(ProviderAccount, ProviderAccount.id == Connection.provider_account_id)
            .where(Connection.id.in_(ids))
            .order_by(Connection.id)
        )
    ).all()
    found = {r.id for r in rows}
    result.missing = [i for i in ids if i not in found]
    result.requested = len(found)
    flagged = []
    for r in rows:
        if flag == "renew_requested" and not r.push_supported:
            result.not_watched += 1  # the flag would never clear: no subscription
            continue
        flagged.append(r)
    if flagged:
        await conn.execute(
            update(Connection)
            .where(Connection.id.in_([r.id for r in flagged]))
            .values({flag: True})
        )
    for r in flagged:
        if r.status == "active" and r.calendar_id is not None:
            result.queued += 1
            if not await defer_keepalive(conn, r.id, r.provider_account_id):
                result.already_queued += 1
        else:
            result.waiting += 1
    return result


async def request_bulk(
    engine: AsyncEngine,
    ids: Sequence[int],
    flag: str,
    *,
    batch: int = 500,
    on_batch: Callable[[int], None] | None = None,
) -> BulkResult:
    """Flag and queue every id, `batch` per transaction; `on_batch(n)` after each."""
    if flag not in ("resync_requested", "renew_requested"):
        raise ValueError(flag)
    total = BulkResult()
    todo = list(ids)
    for start in range(0, len(todo), max(1, batch)):
        chunk = todo[start : start + max(1, batch)]

        async def work(conn: AsyncConnection, chunk: list[int] = chunk) -> BulkResult:
            return await _one_batch(conn, chunk, flag)

        done = await in_transaction(engine, work)
        total.requested += done.requested
        total.queued += done.queued
        total.already_queued += done.already_queued
        total.waiting += done.waiting
        total.not_watched += done.not_watched
        total.missing += done.missing
        if on_batch is not None:
            on_batch(len(chunk))
    return total
