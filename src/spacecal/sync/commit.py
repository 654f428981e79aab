"""Committing one pull's plan: bookings, event links and the new cursor, in one
transaction (the caller's). Calendar writes the plan asks for are recorded on the
links as `pending_write` and pushed after the commit (writeback.py), so a crash
between the two leaves a write that is visibly owed, not a lost one.

Booking updates are conditional on the version decided against; a booking changed
meanwhile (the API, another calendar) is left alone and this connection is queued
again, so the next pull decides against what is true now. A creation or move that
loses a race with a concurrent booking (the exclusion constraint) is handled the
same way: the next pull refuses it with the taken span in words.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal.db.models import Booking, Connection, EventLink
from spacecal.domain import EventText, Plan, repeat_series_unique_id
from spacecal.sync.target import SyncTarget
from spacecal.sync.triggers import notify_booking_changed

EVENT_ID_COLUMN = {"google": "google_event_id", "microsoft": "office365_event_id"}


@dataclass
class CommitResult:
    bookings_changed: list[int] = field(default_factory=list)
    lost_races: int = 0


# Exclusion violation (a concurrent booking took the slot), deadlock between two such
# inserts, serialization failure: the decision was made against a stale picture.
RACE_SQLSTATES = frozenset({"23P01", "40P01", "40001"})


def lost_race(exc: DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", None) in RACE_SQLSTATES


def _text(text: EventText) -> dict[str, str]:
    return {"title": text.title, "description": text.description}


async def _upsert_link(
    conn: AsyncConnection, connection_id: int, event_key: str, now: datetime, **values: Any
) -> None:
    stmt = insert(EventLink).values(
        connection_id=connection_id, event_key=event_key, updated_at=now, **values
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            constraint="event_links_unique_event", set_={"updated_at": now, **values}
        )
    )


def _refused(start: datetime, end: datetime, all_day: bool, message: str) -> dict[str, Any]:
    return {
        "refused_start": start,
        "refused_end": end,
        "refused_all_day": all_day,
        "refused_reason": message,
    }


NOT_REFUSED: dict[str, Any] = {
    "refused_start": None,
    "refused_end": None,
    "refused_all_day": False,
    "refused_reason": None,
}


async def commit_plan(
    conn: AsyncConnection,
    target: SyncTarget,
    plan: Plan,
    *,
    now: datetime,
    series_of: dict[str, str | None],
) -> CommitResult:
    """Apply `plan` in `conn`'s transaction. `series_of` maps event keys to their
    provider series id (for RepeatSeriesUniqueId)."""
    result = CommitResult()
    cid = target.connection_id

    for cancel in plan.cancel:
        done = await conn.scalar(
            update(Booking)
            .where(
                Booking.id == cancel.booking_id,
                Booking.version == cancel.expected_version,
                Booking.cancelled_at.is_(None),
            )
            .values(cancelled_at=now, version=Booking.version + 1, updated_on=now)
            .returning(Booking.id)
        )
        await conn.execute(
            delete(EventLink).where(
                EventLink.connection_id == cid, EventLink.event_key == cancel.event_key
            )
        )
        if done is not None:
            result.bookings_changed.append(cancel.booking_id)

    for move in plan.move:
        try:
            async with conn.begin_nested():
                new_version = await conn.scalar(
                    update(Booking)
                    .where(
                        Booking.id == move.booking_id,
                        Booking.version == move.expected_version,
                        Booking.cancelled_at.is_(None),
                    )
                    .values(
                        from_time=move.start,
                        to_time=move.end,
                        tentative=move.tentative,
                        version=Booking.version + 1,
                        updated_on=now,
                    )
                    .returning(Booking.version)
                )
        except DBAPIError as exc:
            if not lost_race(exc):
                raise
            result.lost_races += 1
            continue
        if new_version is None:
            result.lost_races += 1
            continue
        await _upsert_link(
            conn,
            cid,
            move.event_key,
            now,
            booking_id=move.booking_id,
            booking_version=new_version,
            pending_write=None,
            pending_since=None,
            **NOT_REFUSED,
        )
        result.bookings_changed.append(move.booking_id)

    for create in plan.create:
        series = series_of.get(create.event_key)
        series_uuid = repeat_series_unique_id(target.calendar_id or "", series) if series else None
        values: dict[str, Any] = {
            "resource_id": target.resource.resource_id,
            "coworker_id": target.coworker_id,
            "from_time": create.start,
            "to_time": create.end,
            "tentative": create.tentative,
            "repeat_series_unique_id": series_uuid,
            "source": target.provider,
            "version": 1,
            EVENT_ID_COLUMN[target.provider]: create.event_key,
            "unique_id": uuid.uuid4(),
            "created_on": now,
            "updated_on": now,
            "updated_by": None,
        }
        if target.provider == "google":
            values["google_calendar_id"] = target.calendar_id
        try:
            async with conn.begin_nested():
                booking_id = await conn.scalar(
                    insert(Booking).values(**values).returning(Booking.id)
                )
        except DBAPIError as exc:
            if not lost_race(exc):
                raise
            result.lost_races += 1
            continue
        assert booking_id is not None
        await _upsert_link(
            conn,
            cid,
            create.event_key,
            now,
            booking_id=booking_id,
            booking_version=1,
            series_key=series,
            **NOT_REFUSED,
        )
        result.bookings_changed.append(booking_id)

    for mark in plan.mark_refused:
        t = mark.refused_time
        await _upsert_link(
            conn,
            cid,
            mark.event_key,
            now,
            pending_write={"kind": "mark", **_text(mark.text)},
            pending_since=now,
            **_refused(t.start, t.end, t.all_day, mark.refusal.message),
        )
    for back in plan.put_back:
        t = back.refused_time
        await _upsert_link(
            conn,
            cid,
            back.event_key,
            now,
            pending_write={
                "kind": "put_back",
                "start": back.start.isoformat(),
                "end": back.end.isoformat(),
                **_text(back.text),
            },
            pending_since=now,
            **_refused(t.start, t.end, t.all_day, back.refusal.message),
        )
    for unmark in plan.remove_marks:
        await _upsert_link(
            conn,
            cid,
            unmark.event_key,
            now,
            pending_write={"kind": "unmark", **_text(unmark.text)},
            pending_since=now,
        )
    await _forget(conn, cid, plan.forget)

    for booking_id in result.bookings_changed:
        await notify_booking_changed(conn, booking_id, except_connection=cid)
    return result


async def _forget(conn: AsyncConnection, connection_id: int, keys: Iterable[str]) -> None:
    keys = list(keys)
    if not keys:
        return
    await conn.execute(
        delete(EventLink).where(
            and_(
                EventLink.connection_id == connection_id,
                EventLink.event_key.in_(keys),
                EventLink.booking_id.is_(None),
            )
        )
    )
    await conn.execute(
        update(EventLink)
        .where(EventLink.connection_id == connection_id, EventLink.event_key.in_(keys))
        .values(**NOT_REFUSED)
    )


async def store_cursor(
    conn: AsyncConnection, target: SyncTarget, cursor: str, now: datetime
) -> None:
    """The new sync token / delta link, only after the whole change set is committed."""
    column = "event_sync_token" if target.provider == "google" else "delta_link"
    await conn.execute(
        update(Connection)
        .where(Connection.id == target.connection_id)
        .values({column: cursor, "last_sync_at": now})
    )


async def linked_keys(conn: AsyncConnection, connection_id: int) -> set[str]:
    rows = await conn.scalars(
        select(EventLink.event_key).where(EventLink.connection_id == connection_id)
    )
    return set(rows)
