"""The sync core end to end, once per provider: a member's calendar and the booking
store kept true to each other, through push, pull, decisions and write-back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.support.bookings import live_bookings, tomorrow_at
from tests.support.environments import PROVIDERS, SyncEnv


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_event_becomes_a_booking(sync_env: SyncEnv, provider: str) -> None:
    member = await sync_env.connect(provider)
    start = tomorrow_at(10)
    event_id = member.create("Team sync", start, start + timedelta(hours=1))
    await sync_env.settle()
    bookings = await live_bookings(sync_env)
    assert len(bookings) == 1
    booking = bookings[0]
    assert booking.from_time == start and booking.to_time == start + timedelta(hours=1)
    assert booking.source == provider
    assert booking.coworker_id == sync_env.env.space.alice
    column = "google_event_id" if provider == "google" else "office365_event_id"
    assert getattr(booking, column) == event_id
    [seen] = member.events()
    assert seen.title == "Team sync"  # not marked


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_moving_and_deleting_the_event_moves_and_cancels_the_booking(
    sync_env: SyncEnv, provider: str
) -> None:
    member = await sync_env.connect(provider)
    start = tomorrow_at(10)
    event_id = member.create("Planning", start, start + timedelta(hours=1))
    await sync_env.settle()
    member.move(event_id, start + timedelta(hours=2), start + timedelta(hours=4))
    await sync_env.settle()
    [booking] = await live_bookings(sync_env)
    assert (booking.from_time, booking.to_time) == (
        start + timedelta(hours=2),
        start + timedelta(hours=4),
    )
    assert booking.version == 2
    member.delete(event_id)
    await sync_env.settle()
    assert await live_bookings(sync_env) == []


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_refused_event_stays_and_says_why(sync_env: SyncEnv, provider: str) -> None:
    member = await sync_env.connect(provider)
    start = tomorrow_at(10, 10)  # the room books on a 30-minute step
    member.create("Off the grid", start, start + timedelta(hours=1))
    await sync_env.settle()
    assert await live_bookings(sync_env) == []
    [seen] = member.events()
    assert seen.title.startswith("⚠ Not booked: ")
    assert "Off the grid" in seen.title
    assert "30 minutes" in seen.title + seen.description
    # The mark's own echo is not a member's edit: settling again writes nothing more.
    writes_before = _writes(sync_env, provider)
    await sync_env.settle()
    assert _writes(sync_env, provider) == writes_before


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_refused_move_is_put_back_with_a_note(sync_env: SyncEnv, provider: str) -> None:
    member = await sync_env.connect(provider)
    start = tomorrow_at(10)
    event_id = member.create("Review", start, start + timedelta(hours=1))
    await sync_env.settle()
    member.move(event_id, start + timedelta(minutes=5), start + timedelta(minutes=65))
    await sync_env.settle()
    [booking] = await live_bookings(sync_env)
    assert booking.from_time == start
    [seen] = [e for e in member.events() if e.id == event_id]
    assert (seen.start, seen.end) == (start, start + timedelta(hours=1))
    assert "Not moved" in seen.title + seen.description


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_two_members_racing_for_one_slot_get_one_booking(
    sync_env: SyncEnv, provider: str
) -> None:
    alice = await sync_env.connect(provider, "alice")
    bob = await sync_env.connect(provider, "bob")
    start = tomorrow_at(14)
    alice.create("Alice's meeting", start, start + timedelta(hours=1))
    bob.create("Bob's meeting", start + timedelta(minutes=30), start + timedelta(minutes=90))
    await sync_env.settle()
    bookings = await live_bookings(sync_env)
    assert len(bookings) == 1
    winner = bookings[0].coworker_id
    loser = bob if winner == sync_env.env.space.alice else alice
    # The loser sees the winner's booking as a block beside its refused event.
    [marked] = [e for e in loser.events() if e.title != "Booked"]
    assert [e.title for e in loser.events() if e.title == "Booked"] == ["Booked"]
    assert marked.title.startswith("⚠ Not booked: ")
    assert "Meeting Room A is taken" in marked.title + marked.description


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_recurring_series_books_each_instance(sync_env: SyncEnv, provider: str) -> None:
    member = await sync_env.connect(provider)
    first = tomorrow_at(9)
    series = member.series("Daily stand-up", first, first + timedelta(minutes=30), days=4)
    await sync_env.settle()
    bookings = await live_bookings(sync_env)
    assert len(bookings) == 4
    assert len({b.repeat_series_unique_id for b in bookings}) == 1
    assert bookings[0].repeat_series_unique_id is not None
    member.move_instance(
        series,
        first + timedelta(days=1),
        first + timedelta(days=1, hours=2),
        first + timedelta(days=1, hours=2, minutes=30),
    )
    member.cancel_instance(series, first + timedelta(days=2))
    await sync_env.settle()
    starts = [b.from_time for b in await live_bookings(sync_env)]
    assert starts == [first, first + timedelta(days=1, hours=2), first + timedelta(days=3)]


def _writes(s: SyncEnv, provider: str) -> int:
    """Event writes spacecal made in the provider (creates, patches, deletes)."""
    calls = (
        s.env.google.calls()
        if provider == "google"
        else [r.as_dict() for r in s.env.microsoft.calls.list()]
    )
    return sum(
        1
        for call in calls
        if call["method"] in ("POST", "PATCH", "PUT", "DELETE")
        and "/events" in call["path"]
        and not call["path"].endswith("/watch")
    )


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_api_bookings_appear_move_and_vanish_without_duplicates(
    sync_env: SyncEnv, provider: str
) -> None:
    member = await sync_env.connect(provider)
    api = sync_env.env.api
    start = tomorrow_at(11)
    made = await api.post(
        "/api/spaces/bookings",
        json={
            "ResourceId": sync_env.env.space.room_id,
            "CoworkerId": sync_env.env.space.alice,
            "FromTime": start.isoformat(),
            "ToTime": (start + timedelta(hours=1)).isoformat(),
        },
    )
    assert made.status_code == 200, made.text
    booking_id = made.json()["Value"]["Id"]
    await sync_env.settle()
    [seen] = member.events()
    assert (seen.start, seen.title) == (start, "Meeting Room A")
    record = (await api.get(f"/api/spaces/bookings/{booking_id}")).json()
    column = "GoogleEventId" if provider == "google" else "Office365EventId"
    assert record[column] == seen.id

    # More triggers change nothing: no second event, no extra write.
    writes = _writes(sync_env, provider)
    async with sync_env.engine.begin() as conn:
        from spacecal import bookings

        await bookings.calendars_owe(conn, [booking_id])
    await sync_env.settle()
    assert len(member.events()) == 1 and _writes(sync_env, provider) == writes

    moved = await api.put(
        "/api/spaces/bookings",
        json={
            **{k: record[k] for k in ("ResourceId", "CoworkerId")},
            "Id": booking_id,
            "FromTime": (start + timedelta(hours=3)).isoformat(),
            "ToTime": (start + timedelta(hours=4)).isoformat(),
        },
    )
    assert moved.status_code == 200, moved.text
    await sync_env.settle()
    [seen] = member.events()
    assert seen.start == start + timedelta(hours=3)

    assert (await api.delete(f"/api/spaces/bookings/{booking_id}")).status_code == 200
    await sync_env.settle()
    assert member.events() == []


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_reset_with_a_deletion_in_the_gap_cancels_the_booking(
    sync_env: SyncEnv, provider: str
) -> None:
    member = await sync_env.connect(provider)
    start = tomorrow_at(15)
    keep = member.create("Keep", start, start + timedelta(hours=1))
    gone = member.create("Gone", start + timedelta(hours=2), start + timedelta(hours=3))
    await sync_env.settle()
    assert len(await live_bookings(sync_env)) == 2
    if provider == "google":
        sync_env.env.google.expire_sync_tokens(member.calendar_id)
    else:
        sync_env.env.microsoft.reset_delta(member.email)
    member.delete(gone)
    await sync_env.settle()
    [left] = await live_bookings(sync_env)
    column = "google_event_id" if provider == "google" else "office365_event_id"
    assert getattr(left, column) == keep
