"""Series instances beyond the booking horizon: remembered, decided when it reaches them.

`decide_changes` defers an unlinked instance of a member's recurring series beyond
`MaxBookingDaysAhead` (no booking, no mark: the member made a series, not a mistake).
A pull returns such an instance once, when it is made or changed; nothing would
return it again on the day the horizon reaches it (a Google sync token never does,
Graph's only on a window roll, CalDAV and invitations have no window at all). So the
reconcile that deferred it stores what the pull said (`deferred_instances`, migration
0017), in the same transaction as the plan, and:

- every reconcile hands the stored instances the horizon now reaches to the decision,
  as if pulled again (a pulled version of the same instance wins: it is newer);
- the sweep (sync/upkeep/sweep.py, `due_connections` here) queues a reconcile for
  every connection holding such an instance, so its day is not missed when the
  calendar is quiet; level-triggered: the row stays until a reconcile has decided it;
- a row goes when its instance is decided (booked or refused: a link replaces it),
  cancelled (or its whole series), or missing from a full pull that covered its time.

Safe to run twice: a decided instance has a link and is never deferred again; a
reconcile that lost a race keeps every row (its cursor is kept too and it runs again).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal.db.conditions import AccountStatus
from spacecal.db.models import Business, Connection, DeferredInstance, ProviderAccount, Resource
from spacecal.domain import (
    BusinessRules,
    CalendarEvent,
    EventStatus,
    EventTime,
    Plan,
    beyond_horizon,
    latest_versions,
)


def _event(row: Any) -> CalendarEvent:
    return CalendarEvent(
        row.event_key,
        EventStatus.TENTATIVE if row.tentative else EventStatus.CONFIRMED,
        EventTime(row.start_time, row.end_time, row.all_day),
        series_id=row.series_key,
        original_start=row.original_start,
        title=row.title,
        description=row.description,
        changed_at=row.changed_at,
    )


async def load_deferred(
    conn: AsyncConnection,
    connection_id: int,
    *,
    everything: bool,
    before: datetime,
    series: Iterable[str] = (),
) -> dict[str, CalendarEvent]:
    """The instances this connection holds deferred that a reconcile needs, as the
    pull that deferred them said: every one after a full pull (those it did not
    return are gone); otherwise those starting `before` (the horizon's reach, a
    superset: the exact test is `due_now`'s) and those of `series` (ids a pull
    reported cancelled: a deleted series may come as its id alone). A later pulled
    version of any other one replaces its row by key (`settle_deferred`)."""
    query = select(*DeferredInstance.__table__.columns).where(
        DeferredInstance.connection_id == connection_id
    )
    if not everything:
        query = query.where(
            or_(
                DeferredInstance.start_time < before,
                DeferredInstance.series_key.in_(sorted(set(series))),
            )
        )
    rows = (await conn.execute(query)).all()
    return {row.event_key: _event(row) for row in rows}


def due_now(
    deferred: dict[str, CalendarEvent],
    pulled: Iterable[str],
    business: BusinessRules,
    now: datetime,
) -> list[CalendarEvent]:
    """The stored instances the horizon reaches at `now` that this pull did not return."""
    seen = set(pulled)
    return [
        event
        for key, event in sorted(deferred.items())
        if key not in seen
        and event.time is not None
        and not beyond_horizon(event.time, business, now)
    ]


async def settle_deferred(
    conn: AsyncConnection,
    connection_id: int,
    events: Sequence[CalendarEvent],
    plan: Plan,
    now: datetime,
    *,
    lost_races: bool,
) -> None:
    """After the plan's commit, in its transaction: store what it deferred, and drop
    what it decided (unless it lost a race: then everything is decided again)."""
    keep = set(plan.deferred)
    if not lost_races:
        decided = sorted({e.key for e in events} - keep)
        if decided:
            await conn.execute(
                delete(DeferredInstance).where(
                    DeferredInstance.connection_id == connection_id,
                    DeferredInstance.event_key.in_(decided),
                )
            )
    latest = latest_versions(events)
    rows = []
    for key in sorted(keep):
        event = latest[key]
        if event.time is None or event.series_id is None:
            continue  # decide defers only live series instances
        rows.append(
            {
                "connection_id": connection_id,
                "event_key": key,
                "series_key": event.series_id,
                "start_time": event.time.start,
                "end_time": event.time.end,
                "all_day": event.time.all_day,
                "tentative": event.tentative,
                "original_start": event.original_start,
                "title": event.title,
                "description": event.description,
                "changed_at": event.changed_at,
                "updated_at": now,
            }
        )
    if rows:
        stmt = insert(DeferredInstance).values(rows)
        columns = {c: stmt.excluded[c] for c in rows[0] if c not in ("connection_id", "event_key")}
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[DeferredInstance.connection_id, DeferredInstance.event_key],
                set_=columns,
            )
        )


async def due_connections(conn: AsyncConnection, now: datetime) -> list[tuple[int, int | None]]:
    """(connection, account) of every active connection, not waiting out a failure's
    backoff, holding a deferred instance the horizon reaches at `now`: the same test
    the decision applies (`beyond_horizon`), so a connection is not queued for an
    instance its reconcile would defer again. SQL narrows to instances starting
    within their business's horizon plus two days (local days, DST; the start index
    first, by the longest horizon of any business); the exact test runs here."""
    widest = await conn.scalar(select(func.max(Business.max_booking_days_ahead)))
    if widest is None:
        return []
    rows = (
        await conn.execute(
            select(
                DeferredInstance.connection_id,
                Connection.provider_account_id,
                Business.name,
                Business.time_zone,
                Business.max_booking_days_ahead,
                DeferredInstance.start_time,
                DeferredInstance.end_time,
                DeferredInstance.all_day,
            )
            .join(Connection, Connection.id == DeferredInstance.connection_id)
            .join(ProviderAccount, ProviderAccount.id == Connection.provider_account_id)
            .join(Resource, Resource.id == Connection.resource_id)
            .join(Business, Business.id == Resource.business_id)
            .where(
                DeferredInstance.start_time < now + timedelta(days=widest + 2),
                DeferredInstance.start_time
                < now
                + timedelta(days=2)
                + func.make_interval(0, 0, 0, Business.max_booking_days_ahead),
                ProviderAccount.status == AccountStatus.ACTIVE,
                Connection.calendar_id.is_not(None),
                # A failing calendar waits out its backoff (the sweep's own rule).
                or_(Connection.retry_at.is_(None), Connection.retry_at <= now),
            )
        )
    ).all()
    due: dict[int, int | None] = {}
    for row in rows:
        if row.connection_id in due:
            continue
        business = BusinessRules(row.name, row.time_zone, row.max_booking_days_ahead)
        when = EventTime(row.start_time, row.end_time, row.all_day)
        if not beyond_horizon(when, business, now):
            due[row.connection_id] = row.provider_account_id
    return sorted(due.items())
