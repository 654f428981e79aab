"""Detached calendars: calendars kept after their connection is gone, and the note
they are owed. (Their channels are the other leftover: stopped in
sync/upkeep/orphan_channels.py.)

A resource made unbookable, or deleted, disconnects its connections in the records
API's transaction, with no provider call there (sync/accounts/changes.py). Each calendar is
kept (its events are the member's record of past bookings) and a row in
`detached_calendars` says a note is owed: "spacecal no longer syncs this calendar,
and why". The account's `stop_orphans` job (sync/upkeep/orphan_channels.py, under the account lock)
writes it through `CalendarProvider.set_calendar_note`: Google shows it as the
calendar's description; Graph calendars have no description, so the name gets a
suffix, "Room 1 · Riverside (no longer synced)" (providers/microsoft/provider.py).

Before the note, the availability blocks the calendar holds are deleted (their ids
are kept on the row, since the links go with the connection): nothing keeps them
true any more, so they would show stale bookings.

A note that could not be written is tried again after the failure policy's wait
(spacecal.failures, `Loop.LEFTOVERS`: the renewal backoff settings), at most
`leftover_max_attempts` times; the row then stays with its last error for an operator.
A calendar a connection uses again (the member connected the resource once more and
provisioning adopted it) gets no note: the row is dropped.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, delete, exists, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal import clock
from spacecal.db.conditions import AccountStatus
from spacecal.db.models import Connection, DetachedCalendar, EventLink, ProviderAccount
from spacecal.failures import Loop, backoff, error_text
from spacecal.providers.base import (
    CalendarNote,
    CalendarProvider,
    NotFound,
    ProviderError,
    Throttled,
)
from spacecal.sync.reconcile.touched import BLOCK
from spacecal.sync.reconcile.writeback import is_pending
from spacecal.sync.runtime import SyncRuntime
from spacecal.sync.tokens import AccountTokens, AccountUnavailable

log = logging.getLogger("spacecal.leftovers")

NOTE_LABEL = "no longer synced"


def detach_note(resource: str, business: str, why: str, day: str) -> CalendarNote:
    """The note for a calendar of `resource`; `why` completes "Resource …"."""
    return CalendarNote(
        label=NOTE_LABEL,
        text=(
            f"spacecal no longer syncs this calendar: {resource} ({business}) {why} on "
            f"{day}. Events added here no longer book it, and bookings made elsewhere no "
            "longer appear here. Bookings already made are kept. You can delete this "
            "calendar."
        ),
    )


@dataclass(frozen=True)
class Detached:
    """One connection about to be disconnected, with what its note needs."""

    connection_id: int
    account_id: int
    provider: str
    calendar_id: str
    name: str
    resource: str
    business: str
    time_zone: str


async def record_detached(
    conn: AsyncConnection, rows: list[Detached], why: str, now: datetime
) -> None:
    """Owe a note to each calendar, in `conn`'s transaction, and the removal of the
    availability blocks it holds (the links go with the connection row)."""
    blocks: dict[int, list[str]] = {}
    if rows:
        for connection_id, key in await conn.execute(
            select(EventLink.connection_id, EventLink.event_key)
            .where(
                EventLink.connection_id.in_([r.connection_id for r in rows]),
                EventLink.kind == BLOCK,
            )
            .order_by(EventLink.id)
        ):
            if not is_pending(key):
                blocks.setdefault(int(connection_id), []).append(str(key))
    for r in rows:
        day = now.astimezone(ZoneInfo(r.time_zone)).date().isoformat()
        note = detach_note(r.resource, r.business, why, day)
        await conn.execute(
            insert(DetachedCalendar).values(
                provider_account_id=r.account_id,
                provider=r.provider,
                calendar_id=r.calendar_id,
                name=r.name,
                note=note.text,
                created_at=now,
                block_event_ids=blocks.get(r.connection_id, []),
            )
        )


def _due(now: datetime, max_attempts: int) -> list[ColumnElement[bool]]:
    return [
        DetachedCalendar.attempts < max_attempts,
        or_(DetachedCalendar.retry_at.is_(None), DetachedCalendar.retry_at <= now),
    ]


async def accounts_owing_notes(conn: AsyncConnection, now: datetime, max_attempts: int) -> set[int]:
    """Active accounts with a note due now (not waiting out a backoff, not given up)."""
    rows = await conn.scalars(
        select(DetachedCalendar.provider_account_id)
        .join(ProviderAccount, ProviderAccount.id == DetachedCalendar.provider_account_id)
        .where(ProviderAccount.status == AccountStatus.ACTIVE, *_due(now, max_attempts))
        .distinct()
    )
    return {int(a) for a in rows}


async def forget_adopted(conn: AsyncConnection, account_id: int, calendar_id: str) -> None:
    """A connection uses this calendar again: it is owed no note any more."""
    await conn.execute(
        delete(DetachedCalendar).where(
            DetachedCalendar.provider_account_id == account_id,
            DetachedCalendar.calendar_id == calendar_id,
        )
    )


async def write_notes(rt: SyncRuntime, account_id: int, provider_name: str) -> int:
    """Write the account's due notes; returns how many were written. Throttling or a
    lost consent ends the round (the rest wait for their backoff or a reconnect)."""
    now = clock.now()
    max_attempts = rt.settings.leftover_max_attempts
    in_use = exists().where(
        Connection.provider_account_id == DetachedCalendar.provider_account_id,
        Connection.calendar_id == DetachedCalendar.calendar_id,
    )
    async with rt.db.engine.begin() as conn:
        await conn.execute(
            delete(DetachedCalendar).where(
                DetachedCalendar.provider_account_id == account_id, in_use
            )
        )
        rows = (
            await conn.execute(
                select(
                    DetachedCalendar.id,
                    DetachedCalendar.calendar_id,
                    DetachedCalendar.name,
                    DetachedCalendar.note,
                    DetachedCalendar.attempts,
                    DetachedCalendar.block_event_ids,
                )
                .where(
                    DetachedCalendar.provider_account_id == account_id,
                    *_due(now, max_attempts),
                )
                .order_by(DetachedCalendar.id)
            )
        ).all()
    provider = rt.provider_for(provider_name)
    tokens = rt.tokens(provider_name, account_id)
    written = 0
    for r in rows:
        note = CalendarNote(label=NOTE_LABEL, text=r.note)
        try:
            await _remove_blocks(rt, r.id, tokens, provider, r.calendar_id, r.block_event_ids)
            await tokens.call(
                partial(
                    provider.set_calendar_note, calendar_id=r.calendar_id, name=r.name, note=note
                )
            )
        except NotFound:
            pass  # the member deleted the calendar: nothing to explain any more
        except AccountUnavailable:
            return written  # marked needs-reconnect; the row waits for a reconnect
        except ProviderError as exc:
            await _failed(rt, r.id, r.attempts + 1, exc)
            if isinstance(exc, Throttled):
                return written
            continue
        async with rt.db.engine.begin() as conn:
            await conn.execute(delete(DetachedCalendar).where(DetachedCalendar.id == r.id))
        written += 1
    return written


async def _remove_blocks(
    rt: SyncRuntime,
    row_id: int,
    tokens: AccountTokens,
    provider: CalendarProvider,
    calendar_id: str,
    event_ids: list[str],
) -> None:
    """Delete the calendar's blocks, recording each as done, so a retry after a
    failure resumes where this one stopped."""
    left = list(event_ids)
    while left:
        with contextlib.suppress(NotFound):  # the member deleted it already
            await tokens.call(
                partial(provider.delete_event, calendar_id=calendar_id, event_id=left[0])
            )
        left.pop(0)
        async with rt.db.engine.begin() as conn:
            await conn.execute(
                update(DetachedCalendar)
                .where(DetachedCalendar.id == row_id)
                .values(block_event_ids=left)
            )


async def _failed(rt: SyncRuntime, row_id: int, attempts: int, exc: ProviderError) -> None:
    now = clock.now()
    message = error_text(exc)
    log.warning("could not write the note on a kept calendar (try %d): %s", attempts, message)
    async with rt.db.engine.begin() as conn:
        await conn.execute(
            update(DetachedCalendar)
            .where(DetachedCalendar.id == row_id)
            .values(
                attempts=attempts,
                retry_at=now + backoff(rt.settings, Loop.LEFTOVERS).wait_after(exc, attempts),
                last_error=message,
            )
        )
