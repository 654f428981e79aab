"""Committing one pull's plan: bookings, event links and the new cursor, in one
transaction (the caller's). Calendar writes the plan asks for are recorded on the
links as `pending_write` and pushed after the commit (writeback.py), so a crash
between the two leaves a write that is visibly owed, not a lost one. The counts the
console charts (bookings made from calendars, refusals) are added in the same
transaction.

Set-based: each kind of change is one statement for the whole plan (an initial sync
of 10,000 events is a handful of round trips, not 50,000). Only when a batch of
moves or creations hits the overlap constraint (a concurrent booking) or a deadlock
does that batch go again one row at a time, each in a savepoint, so exactly the
losing rows are counted as lost races.

Booking updates are conditional on the version decided against; a booking changed
meanwhile (the API, another calendar) is left alone and this connection is queued
again, so the next pull decides against what is true now. A creation or move that
loses a race with a concurrent booking (the exclusion constraint) is handled the
same way: the next pull refuses it with the taken span in words.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal import activity, bookings
from spacecal.db.columns import BOOKING_CALENDAR_COLUMN, BOOKING_EVENT_ID_COLUMN, CURSOR_COLUMN
from spacecal.db.models import Booking, Connection
from spacecal.domain import CreateBooking, EventText, MoveBooking, Plan, repeat_series_unique_id
from spacecal.providers.base import SyncWindow
from spacecal.sync.reconcile.links import (
    NOT_REFUSED,
    Shown,
    drop_links,
    forget,
    mark_rows,
    refused_values,
    upsert_links,
)
from spacecal.sync.reconcile.offers import with_offers
from spacecal.sync.reconcile.target import SyncTarget


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


_CANCEL = text(
    "UPDATE bookings b SET cancelled_at = :now, version = b.version + 1, updated_on = :now"
    " FROM unnest(CAST(:ids AS bigint[]), CAST(:versions AS integer[])) AS c(id, version)"
    " WHERE b.id = c.id AND b.version = c.version AND b.cancelled_at IS NULL"
    " RETURNING b.id"
)
_MOVE = text(
    "UPDATE bookings b SET from_time = m.from_time, to_time = m.to_time,"
    " tentative = m.tentative, version = b.version + 1, updated_on = :now"
    " FROM unnest(CAST(:ids AS bigint[]), CAST(:versions AS integer[]),"
    " CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[]),"
    " CAST(:tentatives AS boolean[])) AS m(id, version, from_time, to_time, tentative)"
    " WHERE b.id = m.id AND b.version = m.version AND b.cancelled_at IS NULL"
    " RETURNING b.id, b.version"
)
# All of a plan's new bookings in one statement (arrays, not a VALUES list per row:
# the statement stays small however many rows), ids handed out in plan order.
_CREATE = text(
    "INSERT INTO bookings (resource_id, coworker_id, from_time, to_time, tentative,"
    " repeat_series_unique_id, source, version, google_calendar_id, google_event_id,"
    " office365_event_id, caldav_event_id, unique_id, created_on, updated_on)"
    " SELECT :resource_id, :coworker_id, r.from_time, r.to_time, r.tentative, r.series,"
    " :source, 1, :calendar_id, r.google_id, r.office_id, r.caldav_id, r.unique_id, :now,"
    " :now"
    " FROM unnest(CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[]),"
    " CAST(:tentatives AS boolean[]), CAST(:series AS uuid[]), CAST(:google_ids AS text[]),"
    " CAST(:office_ids AS text[]), CAST(:caldav_ids AS text[]), CAST(:unique_ids AS uuid[]))"
    " WITH ORDINALITY AS r(from_time, to_time, tentative, series, google_id, office_id,"
    " caldav_id, unique_id, n)"
    " ORDER BY r.n RETURNING id, unique_id"
)


async def commit_plan(
    conn: AsyncConnection,
    target: SyncTarget,
    plan: Plan,
    *,
    now: datetime,
    series_of: dict[str, str | None],
    shown: Mapping[str, Shown] | None = None,
) -> CommitResult:
    """Apply `plan` in `conn`'s transaction. `series_of` maps event keys to their
    provider series id (for RepeatSeriesUniqueId); `shown` what the pull read of each
    event (a refusal mark the event already shows is not written again)."""
    result = CommitResult()
    cid = target.connection_id

    if plan.cancel:
        done = set(
            await conn.scalars(
                _CANCEL,
                {
                    "now": now,
                    "ids": [c.booking_id for c in plan.cancel],
                    "versions": [c.expected_version for c in plan.cancel],
                },
            )
        )
        await drop_links(conn, cid, [c.event_key for c in plan.cancel])
        result.bookings_changed += [c.booking_id for c in plan.cancel if c.booking_id in done]

    moved = await _move(conn, plan.move, now, result)
    await upsert_links(
        conn,
        cid,
        now,
        [
            (
                m.event_key,
                {
                    "booking_id": m.booking_id,
                    "booking_version": version,
                    "pending_write": None,
                    "pending_since": None,
                    **NOT_REFUSED,
                },
            )
            for m, version in moved
        ],
    )
    result.bookings_changed += [m.booking_id for m, _ in moved]

    created = await _create(conn, target, plan.create, now, series_of, result)
    await upsert_links(
        conn,
        cid,
        now,
        [
            (
                c.event_key,
                {
                    "booking_id": booking_id,
                    "booking_version": 1,
                    "series_key": series_of.get(c.event_key),
                    "marker": "",  # the member's own event: no property of ours (scrub.py)
                    **NOT_REFUSED,
                },
            )
            for c, booking_id in created
        ],
    )
    result.bookings_changed += [booking_id for _, booking_id in created]

    marks, backs = await with_offers(conn, target, plan.mark_refused, plan.put_back, now)
    owed, already = mark_rows(marks, shown or {}, now)
    for back in backs:
        t = back.refused_time
        owed.append(
            (
                back.event_key,
                {
                    "pending_write": {
                        "kind": "put_back",
                        "start": back.start.isoformat(),
                        "end": back.end.isoformat(),
                        **_text(back.text),
                    },
                    "pending_since": now,
                    **refused_values(t.start, t.end, t.all_day, back.refusal.message),
                },
            )
        )
    await upsert_links(conn, cid, now, owed)
    await upsert_links(conn, cid, now, already)
    # A mark comes off only with the booking it gave way to: after a lost race the
    # event is decided again, and an unmark written now would make its next pull
    # look like our own echo (skipped), leaving it unmarked and unbooked.
    took = {m.event_key for m, _ in moved} | {c.event_key for c, _ in created}
    await upsert_links(
        conn,
        cid,
        now,
        [
            (
                u.event_key,
                {"pending_write": {"kind": "unmark", **_text(u.text)}, "pending_since": now},
            )
            for u in plan.remove_marks
            if u.event_key in took
        ],
    )
    await forget(conn, cid, plan.forget)

    await bookings.calendars_owe(conn, result.bookings_changed, except_connection=cid)
    await activity.record_activity(
        conn,
        [
            activity.Activity(
                target.business_id, target.provider, activity.BOOKING_FROM_CALENDAR, len(created)
            ),
            activity.Activity(target.business_id, target.provider, activity.REFUSAL, len(owed)),
        ],
        at=now,
    )
    return result


async def _move(
    conn: AsyncConnection, moves: Sequence[MoveBooking], now: datetime, result: CommitResult
) -> list[tuple[MoveBooking, int]]:
    """The moves that took, with each booking's new version; the others (changed
    meanwhile, or the slot taken) are counted as lost races."""
    if not moves:
        return []
    params = {
        "now": now,
        "ids": [m.booking_id for m in moves],
        "versions": [m.expected_version for m in moves],
        "starts": [m.start for m in moves],
        "ends": [m.end for m in moves],
        "tentatives": [m.tentative for m in moves],
    }
    try:
        async with conn.begin_nested():
            versions = {r.id: r.version for r in await conn.execute(_MOVE, params)}
    except DBAPIError as exc:
        if not lost_race(exc):
            raise
        return await _move_one_by_one(conn, moves, now, result)
    done = [(m, versions[m.booking_id]) for m in moves if m.booking_id in versions]
    result.lost_races += len(moves) - len(done)
    return done


async def _move_one_by_one(
    conn: AsyncConnection, moves: Sequence[MoveBooking], now: datetime, result: CommitResult
) -> list[tuple[MoveBooking, int]]:
    done: list[tuple[MoveBooking, int]] = []
    for move in moves:
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
            new_version = None
        if new_version is None:
            result.lost_races += 1
        else:
            done.append((move, new_version))
    return done


def _booking_values(
    target: SyncTarget, create: CreateBooking, now: datetime, series: str | None
) -> dict[str, Any]:
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
        "google_calendar_id": None,
        "google_event_id": None,
        "office365_event_id": None,
        "caldav_event_id": None,
        "unique_id": uuid.uuid4(),
        "created_on": now,
        "updated_on": now,
        "updated_by": None,
    }
    values[BOOKING_EVENT_ID_COLUMN[target.provider]] = create.event_key
    if calendar_column := BOOKING_CALENDAR_COLUMN.get(target.provider):
        values[calendar_column] = target.calendar_id
    return values


async def _create(
    conn: AsyncConnection,
    target: SyncTarget,
    creates: Sequence[CreateBooking],
    now: datetime,
    series_of: dict[str, str | None],
    result: CommitResult,
) -> list[tuple[CreateBooking, int]]:
    """The bookings made, in plan order; creations that lost the slot to a concurrent
    booking are counted as lost races."""
    if not creates:
        return []
    rows = [_booking_values(target, c, now, series_of.get(c.event_key)) for c in creates]
    params = {
        "resource_id": target.resource.resource_id,
        "coworker_id": target.coworker_id,
        "source": target.provider,
        "calendar_id": rows[0]["google_calendar_id"],
        "now": now,
        "starts": [r["from_time"] for r in rows],
        "ends": [r["to_time"] for r in rows],
        "tentatives": [r["tentative"] for r in rows],
        "series": [r["repeat_series_unique_id"] for r in rows],
        "google_ids": [r["google_event_id"] for r in rows],
        "office_ids": [r["office365_event_id"] for r in rows],
        "caldav_ids": [r["caldav_event_id"] for r in rows],
        "unique_ids": [r["unique_id"] for r in rows],
    }
    try:
        async with conn.begin_nested():
            made = {u: i for i, u in (await conn.execute(_CREATE, params)).all()}
    except DBAPIError as exc:
        if not lost_race(exc):
            raise
        return await _create_one_by_one(conn, creates, rows, result)
    return [(c, made[r["unique_id"]]) for c, r in zip(creates, rows, strict=True)]


async def _create_one_by_one(
    conn: AsyncConnection,
    creates: Sequence[CreateBooking],
    rows: Sequence[dict[str, Any]],
    result: CommitResult,
) -> list[tuple[CreateBooking, int]]:
    done: list[tuple[CreateBooking, int]] = []
    for create, values in zip(creates, rows, strict=True):
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
        done.append((create, booking_id))
    return done


async def store_cursor(
    conn: AsyncConnection,
    target: SyncTarget,
    cursor: str,
    now: datetime,
    *,
    window: SyncWindow | None = None,
) -> None:
    """The new sync token / delta link, only after the whole change set is committed;
    with the window a new delta round covers (a full pull of a windowed provider)."""
    values: dict[str, Any] = {CURSOR_COLUMN[target.provider]: cursor, "last_sync_at": now}
    if window is not None:
        values.update(sync_window_start=window.start, sync_window_end=window.end)
    await conn.execute(
        update(Connection).where(Connection.id == target.connection_id).values(values)
    )
