"""What a reconcile reads before it talks to the provider, in one statement.

The target (target.py), the account's read-only pause (sync/limits.py), the
account's token row (handed to `AccountTokens.preload`, sync/tokens.py), whether a
block create of an earlier pass is still pending, and, when asked, whether the
connection owes its calendar nothing (owed.py): a quiet CalDAV poll then costs this
read, one REPORT and one UPDATE, and the echo of spacecal's own write a read, the
pull and one UPDATE (docs/performance.md). Before, these were four reads on three
pooled connections (each with its BEGIN and ROLLBACK), and the "owes nothing"
condition was built afresh for every poll, which alone cost more CPU than the REPORT.

The statement is built once per process with bound parameters (the SQL compiled
once, then a prepared statement on each pooled connection). "Owes nothing" sits in
a CASE on a parameter, so PostgreSQL evaluates its sub-queries only when asked (a
blocks-only pass owes its blocks by definition and does not ask).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    DateTime,
    Integer,
    Select,
    any_,
    bindparam,
    case,
    exists,
    false,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from spacecal.db.models import Connection, EventLink, ProviderAccount
from spacecal.sync.reconcile.block_writes import BLOCK_PENDING
from spacecal.sync.reconcile.owed import nothing_owed
from spacecal.sync.reconcile.target import SyncTarget, target_of, target_select
from spacecal.sync.tokens import AccountRow


@dataclass(frozen=True)
class Start:
    target: SyncTarget
    #: The end of the account's read-only pause, when it is later than `now`.
    paused_until: datetime | None
    #: The account's row for `AccountTokens.preload`; None without an account.
    account: AccountRow | None
    #: Asked for and true: the connection owes its calendar nothing, so a pull that
    #: finds nothing, or only echoes of spacecal's writes, ends the reconcile (owed.py).
    owes_nothing: bool
    #: A block create an earlier pass began (its answer lost) waits to be finished.
    pending_blocks: bool


@cache
def _columns() -> Select[Any]:
    now = bindparam("now", type_=DateTime(timezone=True))
    put_backs = bindparam("put_backs", type_=Integer)
    owes_nothing = case(
        (bindparam("ask_owed", type_=Boolean), nothing_owed(now, put_backs)),
        else_=false(),
    )
    pending_blocks = exists().where(
        EventLink.connection_id == Connection.id,
        EventLink.event_key.startswith(BLOCK_PENDING, autoescape=True),
    )
    return target_select(
        ProviderAccount.writes_paused_until,
        ProviderAccount.refresh_token_enc,
        ProviderAccount.access_token_enc,
        ProviderAccount.access_token_expires_at,
        owes_nothing.label("owes_nothing"),
        pending_blocks.label("pending_blocks"),
    )


@cache
def _statement() -> Select[Any]:
    return _columns().where(Connection.id == bindparam("connection_id"))


@cache
def _batch_statement() -> Select[Any]:
    return _columns().where(Connection.id == any_(bindparam("ids", type_=ARRAY(BigInteger))))


async def read_start(
    engine: AsyncEngine,
    connection_id: int,
    now: datetime,
    put_backs_per_hour: int,
    *,
    ask_owed: bool = True,
) -> Start | None:
    """The reconcile's first read, or None when the connection is gone. `engine`: the
    autocommit one (one round trip). `ask_owed`: read whether it owes nothing."""
    params = {
        "connection_id": connection_id,
        "now": now,
        "put_backs": put_backs_per_hour,
        "ask_owed": ask_owed,
    }
    async with engine.connect() as conn:
        row = (await conn.execute(_statement(), params)).first()
    return None if row is None else _start_of(row, now)


async def read_starts(
    engine: AsyncEngine, connection_ids: list[int], now: datetime, put_backs_per_hour: int
) -> dict[int, Start]:
    """`read_start` of many connections in one statement (a claimed batch of
    blocks-only passes, sync/reconcile/fanout.py), without asking what they owe:
    connection id → its start, for those still there."""
    params = {"ids": connection_ids, "now": now, "put_backs": put_backs_per_hour, "ask_owed": False}
    async with engine.connect() as conn:
        rows = (await conn.execute(_batch_statement(), params)).all()
    starts = (_start_of(row, now) for row in rows)
    return {start.target.connection_id: start for start in starts}


def _start_of(row: Any, now: datetime) -> Start:
    paused = row.writes_paused_until
    account = None
    if row.provider_account_id is not None and row.account_status is not None:
        account = AccountRow(
            row.account_status,
            row.refresh_token_enc,
            row.access_token_enc,
            row.access_token_expires_at,
        )
    return Start(
        target=target_of(row),
        paused_until=paused if paused is not None and paused > now else None,
        account=account,
        owes_nothing=bool(row.owes_nothing),
        pending_blocks=bool(row.pending_blocks),
    )


def skips_pull(start: Start) -> bool:
    """A blocks-only reconcile skips the pull only for a calendar in good standing:
    verified, synced before (a cursor), not paused, no failure to back off from, no
    marker to write. Anything else takes the full reconcile, in the same job."""
    target = start.target
    return (
        target.calendar_verified
        and target.cursor is not None
        and start.paused_until is None
        and target.consecutive_failures == 0
        and target.retry_at is None
        and not target.marker_pending
    )
