"""Recovering what was missed: a reconnected account resyncs in full, and the sweep
finds calendars whose copy of the bookings is behind after a lost trigger."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, text, update
from tests.support.bookings import live_bookings, tomorrow_at
from tests.support.environments import PROVIDERS, KeepEnv
from tests.support.member import Member

from spacecal.db.models import Connection, ProviderAccount, SyncRun
from spacecal.sync.upkeep.sweep import sweep

RECORDS = {"google": "coworkergooglecalendars", "microsoft": "coworkermsofficecalendars"}


async def agree(k: KeepEnv, member: Member) -> list[tuple[datetime, datetime]]:
    """Bookings of the resource and events in its calendar are the same spans."""
    booked = sorted((b.from_time, b.to_time) for b in await live_bookings(k))
    shown = sorted((e.start, e.end) for e in member.events())
    assert shown == booked
    return booked


async def full_syncs(k: KeepEnv) -> int:
    async with k.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).where(SyncRun.full_sync)) or 0)


async def book_through_api(k: KeepEnv, start: datetime) -> int:
    made = await k.env.api.post(
        "/api/spaces/bookings",
        json={
            "ResourceId": k.env.space.room_id,
            "CoworkerId": k.env.space.alice,
            "FromTime": start.isoformat(),
            "ToTime": (start + timedelta(hours=1)).isoformat(),
        },
    )
    assert made.status_code == 200, made.text
    return int(made.json()["Value"]["Id"])


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_reconnecting_clears_needs_reconnect_and_resyncs_in_full(
    keep_env: KeepEnv, provider: str
) -> None:
    k = keep_env
    member = await k.connect(provider)
    await k.settle()
    first = tomorrow_at(10)
    first_event = member.create("Before", first, first + timedelta(hours=1))
    await k.settle()
    (k.env.google if provider == "google" else k.env.microsoft).revoke_consent(member.email)
    await k.advance(timedelta(hours=4), sweep_too=True)
    [record] = await k.env.records(RECORDS[provider])
    assert record["NeedsReconnect"] is True

    # Meanwhile, on both sides: the member deletes one event and makes another; a
    # booking is made through the API. Nothing reaches the other side yet.
    member.delete(first_event)
    second = tomorrow_at(14)
    member.create("While away", second, second + timedelta(hours=1))
    # Computed once: after the clock moves past midnight "tomorrow" is another day.
    third = tomorrow_at(16)
    await book_through_api(k, third)
    await k.advance(timedelta(hours=1), sweep_too=True)
    assert [b.from_time for b in await live_bookings(k)] == [first, third]
    assert [e.start for e in member.events()] == [second]
    syncs = await full_syncs(k)

    member = await k.connect(provider)  # the consent page again, same account
    await k.settle()
    async with k.engine.connect() as conn:
        account = (await conn.execute(select(ProviderAccount))).one()
        connection = (await conn.execute(select(Connection))).one()
    assert account.status == "active" and account.status_reason is None
    assert connection.health == "healthy" and connection.last_error is None
    [record] = await k.env.records(RECORDS[provider])
    assert record["NeedsReconnect"] is False
    assert await full_syncs(k) > syncs
    assert await agree(k, member) == [
        (second, second + timedelta(hours=1)),
        (third, third + timedelta(hours=1)),
    ]


async def lose_triggers(k: KeepEnv) -> None:
    """A booking's trigger never ran: its queued reconcile (and any intake mark) gone."""
    async with k.engine.begin() as conn:
        await conn.execute(
            text(
                "DELETE FROM procrastinate_jobs WHERE status = 'todo'"
                " AND task_name = 'spacecal.reconcile'"
            )
        )
        await conn.execute(
            update(Connection).values(sync_requested_at=None, notifications_pending=0)
        )


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_the_sweep_brings_a_calendar_behind_on_bookings_up_to_date(
    keep_env: KeepEnv, provider: str
) -> None:
    k = keep_env
    member = await k.connect(provider)
    await k.settle()
    await k.advance(timedelta(minutes=10))
    api = k.env.api
    start = tomorrow_at(11)

    # Made, trigger lost: the calendar lacks it until the next sweep (well inside the
    # quiet span, 2 h here: it is the booking debt that selects the connection).
    booking_id = await book_through_api(k, start)
    await lose_triggers(k)
    await k.settle()
    assert member.events() == []
    await k.advance(timedelta(minutes=1), sweep_too=True)
    assert [e.start for e in member.events()] == [start]

    # Moved, trigger lost.
    record = (await api.get(f"/api/spaces/bookings/{booking_id}")).json()
    moved = await api.put(
        "/api/spaces/bookings",
        json={
            "Id": booking_id,
            "ResourceId": record["ResourceId"],
            "CoworkerId": record["CoworkerId"],
            "FromTime": (start + timedelta(hours=2)).isoformat(),
            "ToTime": (start + timedelta(hours=3)).isoformat(),
        },
    )
    assert moved.status_code == 200, moved.text
    await lose_triggers(k)
    await k.settle()
    assert [e.start for e in member.events()] == [start]
    await k.advance(timedelta(minutes=1), sweep_too=True)
    assert [e.start for e in member.events()] == [start + timedelta(hours=2)]

    # Cancelled, trigger lost.
    assert (await api.delete(f"/api/spaces/bookings/{booking_id}")).status_code == 200
    await lose_triggers(k)
    await k.settle()
    assert len(member.events()) == 1
    await k.advance(timedelta(minutes=1), sweep_too=True)
    assert member.events() == []

    # Caught up: the sweep selects nothing more (no reconcile every minute for nothing).
    await k.advance(timedelta(minutes=1))
    assert await sweep(k.rt) == 0
