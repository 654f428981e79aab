"""A refused event's note offers what is free (sync/reconcile/offers.py), once: later
bookings elsewhere never rewrite it."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import insert
from tests.support.bookings import live_bookings, tomorrow_at
from tests.support.environments import PROVIDERS, SyncEnv
from tests.support.portal import OPEN_ALL_WEEK

from spacecal import clock
from spacecal.db.models import Resource


async def _room_b(s: SyncEnv) -> int:
    now = clock.now()
    async with s.engine.begin() as conn:
        rid = await conn.scalar(
            insert(Resource)
            .values(
                business_id=s.env.space.business_id,
                name="Meeting Room B",
                resource_type="room",
                slot_step_minutes=30,
                opening_hours=OPEN_ALL_WEEK,
                unique_id=uuid.uuid4(),
                created_on=now,
                updated_on=now,
            )
            .returning(Resource.id)
        )
    assert rid is not None
    return int(rid)


async def _book(s: SyncEnv, resource_id: int, who: int, hour: int) -> None:
    start = tomorrow_at(hour)
    answer = await s.env.api.post(
        "/api/spaces/bookings",
        json={
            "ResourceId": resource_id,
            "CoworkerId": who,
            "FromTime": start.isoformat(),
            "ToTime": (start + timedelta(hours=1)).isoformat(),
        },
    )
    assert answer.status_code == 200, answer.text


def _writes_to(s: SyncEnv, provider: str, event_id: str) -> int:
    calls = (
        s.env.google.calls()
        if provider == "google"
        else [r.as_dict() for r in s.env.microsoft.calls.list()]
    )
    return sum(
        1
        for call in calls
        if call["method"] in ("PATCH", "PUT", "POST", "DELETE") and event_id in call["path"]
    )


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_refused_event_lists_alternatives_and_keeps_its_note(
    sync_env: SyncEnv, provider: str
) -> None:
    room_b = await _room_b(sync_env)
    space = sync_env.env.space
    await _book(sync_env, space.room_id, space.bob, 10)
    alice = await sync_env.connect(provider)
    start = tomorrow_at(10)
    event_id = alice.create("Team sync", start, start + timedelta(hours=1))
    await sync_env.settle()

    [seen] = [e for e in alice.events() if e.id == event_id]
    assert seen.title == "⚠ Not booked: Team sync"
    assert (
        "Not booked: Meeting Room A is taken 10:00–11:00. Free: 09:00–10:00 here;"
        " 11:00–12:00 here; Meeting Room B 10:00–11:00." in seen.description
    )
    assert [b.coworker_id for b in await live_bookings(sync_env)] == [space.bob]
    writes = _writes_to(sync_env, provider, event_id)
    assert writes == 1  # the mark

    # Everything offered is taken meanwhile; the note stays as written.
    await _book(sync_env, room_b, space.bob, 10)
    await _book(sync_env, space.room_id, space.bob, 11)
    await _book(sync_env, space.room_id, space.bob, 9)
    await sync_env.settle()
    await sync_env.settle()
    assert _writes_to(sync_env, provider, event_id) == writes
    [again] = [e for e in alice.events() if e.id == event_id]
    assert again.description == seen.description

    # The member moves it: decided afresh, with what is free now.
    alice.move(event_id, start + timedelta(hours=2), start + timedelta(hours=3))
    await sync_env.settle()
    [moved] = [e for e in alice.events() if e.id == event_id]
    assert moved.title == "Team sync"
    assert len(await live_bookings(sync_env)) == 5


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_refused_move_put_back_lists_alternatives(sync_env: SyncEnv, provider: str) -> None:
    await _room_b(sync_env)
    space = sync_env.env.space
    alice = await sync_env.connect(provider)
    start = tomorrow_at(10)
    event_id = alice.create("Review", start, start + timedelta(hours=1))
    await sync_env.settle()
    await _book(sync_env, space.room_id, space.bob, 12)
    alice.move(event_id, tomorrow_at(12), tomorrow_at(13))
    await sync_env.settle()

    [seen] = [e for e in alice.events() if e.id == event_id]
    assert (seen.start, seen.title) == (start, "Review")
    day = f"{start:%a} {start.day} {start:%b}"
    assert (
        f"Not moved: Meeting Room A is taken 12:00–13:00. Still booked {day} 10:00–11:00."
        " Free: 11:00–12:00 here; 13:00–14:00 here; Meeting Room B 12:00–13:00." in seen.description
    )
