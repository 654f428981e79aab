"""Committing a plan in sets: what one statement per kind must keep from the row-at-a-
time commit (races lost to concurrent bookings are counted and leave no link; the
winners are booked and linked), and the activity counts committed with the changes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from tests.support.bookings import live_bookings, tomorrow_at
from tests.support.environments import PROVIDERS, SyncEnv

from spacecal import activity, clock
from spacecal.db.models import ActivityHourly, Booking, Connection, EventLink
from spacecal.domain import CreateBooking, EventText, MoveBooking, Plan, RemoveMark
from spacecal.sync.reconcile.commit import commit_plan
from spacecal.sync.reconcile.target import load_target


async def _counted(s: SyncEnv, kind: str) -> int:
    async with s.engine.connect() as conn:
        value = await conn.scalar(
            select(func.coalesce(func.sum(ActivityHourly.count), 0)).where(
                ActivityHourly.kind == kind
            )
        )
    return int(value or 0)


async def _api_booking(s: SyncEnv, hour: int) -> None:
    start = tomorrow_at(hour)
    made = await s.env.api.post(
        "/api/spaces/bookings",
        json={
            "ResourceId": s.env.space.room_id,
            "CoworkerId": s.env.space.bob,
            "FromTime": start.isoformat(),
            "ToTime": (start + timedelta(hours=1)).isoformat(),
        },
    )
    assert made.status_code == 200 and made.json()["WasSuccessful"], made.text


async def _links(s: SyncEnv, connection_id: int) -> dict[str, tuple[int | None, int | None]]:
    async with s.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(EventLink.event_key, EventLink.booking_id, EventLink.booking_version).where(
                    EventLink.connection_id == connection_id
                )
            )
        ).all()
    return {r.event_key: (r.booking_id, r.booking_version) for r in rows}


async def test_races_lost_inside_a_batch_are_counted_and_the_rest_commit(
    sync_env: SyncEnv,
) -> None:
    await sync_env.connect("google")
    await sync_env.settle()
    async with sync_env.engine.connect() as conn:
        connection_id = await conn.scalar(select(Connection.id))
        target = await load_target(conn, connection_id)
    assert target is not None
    # Bob books 10:00-11:00 after Alice's pull was decided (the plan cannot know).
    await _api_booking(sync_env, 10)
    booked_before = await _counted(sync_env, activity.BOOKING_FROM_CALENDAR)

    def create(key: str, hour: int, minute: int = 0) -> CreateBooking:
        start = tomorrow_at(hour, minute)
        return CreateBooking(key, start, start + timedelta(hours=1), False, None)

    plan = Plan(create=(create("ev-a", 8), create("ev-b", 10, 30), create("ev-c", 12)))
    async with sync_env.engine.begin() as conn:
        result = await commit_plan(conn, target, plan, now=clock.now(), series_of={})
    assert result.lost_races == 1
    links = await _links(sync_env, target.connection_id)
    assert set(links) == {"ev-a", "ev-c"}
    assert all(version == 1 for _, version in links.values())
    async with sync_env.engine.connect() as conn:
        by_event = dict(
            (
                await conn.execute(
                    select(Booking.google_event_id, Booking.id).where(
                        Booking.google_event_id.is_not(None)
                    )
                )
            ).all()
        )
    assert by_event == {"ev-a": links["ev-a"][0], "ev-c": links["ev-c"][0]}
    assert await _counted(sync_env, activity.BOOKING_FROM_CALENDAR) == booked_before + 2

    # Moves: one into Bob's slot (lost), one decided against an old version (lost),
    # one that takes; only the last changes its booking and its link.
    a, c = links["ev-a"][0], links["ev-c"][0]
    assert a is not None and c is not None
    moves = Plan(
        move=(
            MoveBooking("ev-a", a, 1, tomorrow_at(10, 30), tomorrow_at(11, 30), False),
            MoveBooking("ev-c", c, 1, tomorrow_at(13), tomorrow_at(14), False),
        )
    )
    stale = Plan(move=(MoveBooking("ev-c", c, 1, tomorrow_at(15), tomorrow_at(16), False),))
    async with sync_env.engine.begin() as conn:
        result = await commit_plan(conn, target, moves, now=clock.now(), series_of={})
        again = await commit_plan(conn, target, stale, now=clock.now(), series_of={})
    assert (result.lost_races, again.lost_races) == (1, 1)
    assert result.bookings_changed == [c]
    links = await _links(sync_env, target.connection_id)
    assert links == {"ev-a": (a, 1), "ev-c": (c, 2)}
    spans = {(b.id, b.from_time, b.to_time) for b in await live_bookings(sync_env)}
    assert (c, tomorrow_at(13), tomorrow_at(14)) in spans
    assert (a, tomorrow_at(8), tomorrow_at(9)) in spans


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_bookings_and_refusals_from_calendars_are_counted(
    sync_env: SyncEnv, provider: str
) -> None:
    member = await sync_env.connect(provider)
    await sync_env.settle()
    booked = await _counted(sync_env, activity.BOOKING_FROM_CALENDAR)
    refused = await _counted(sync_env, activity.REFUSAL)
    start = tomorrow_at(9)
    member.create("Bookable", start, start + timedelta(hours=1))
    member.create("Off the grid", tomorrow_at(11, 10), tomorrow_at(12, 10))
    await sync_env.settle()
    assert len(await live_bookings(sync_env)) == 1
    assert await _counted(sync_env, activity.BOOKING_FROM_CALENDAR) == booked + 1
    assert await _counted(sync_env, activity.REFUSAL) == refused + 1
    # The mark's echo and a further settle refuse nothing again.
    await sync_env.settle()
    assert await _counted(sync_env, activity.REFUSAL) == refused + 1


async def test_a_mark_stays_on_an_event_whose_booking_lost_the_race(sync_env: SyncEnv) -> None:
    """Chaos seed 10: a refused event moved to a free-looking slot was unmarked though
    its booking lost the slot; the unmark's echo then hid the event from the re-pull,
    leaving it unmarked and unbooked for good."""
    await sync_env.connect("google")
    await sync_env.settle()
    async with sync_env.engine.connect() as conn:
        connection_id = await conn.scalar(select(Connection.id))
        target = await load_target(conn, connection_id)
    assert target is not None
    await _api_booking(sync_env, 10)  # Bob takes 10:00-11:00 meanwhile

    def create(key: str, hour: int) -> CreateBooking:
        start = tomorrow_at(hour)
        return CreateBooking(key, start, start + timedelta(hours=1), False, None)

    plan = Plan(
        create=(create("ev-lost", 10), create("ev-won", 12)),
        remove_marks=(
            RemoveMark("ev-lost", EventText("Lost", "")),
            RemoveMark("ev-won", EventText("Won", "")),
        ),
    )
    async with sync_env.engine.begin() as conn:
        result = await commit_plan(conn, target, plan, now=clock.now(), series_of={})
    assert result.lost_races == 1
    async with sync_env.engine.connect() as conn:
        owed = dict(
            (
                await conn.execute(
                    select(EventLink.event_key, EventLink.pending_write).where(
                        EventLink.connection_id == target.connection_id
                    )
                )
            ).all()
        )
    assert owed == {"ev-won": {"kind": "unmark", "title": "Won", "description": ""}}
