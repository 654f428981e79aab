"""Availability blocks (issue 19), once per provider: every other live booking of a
resource shows as a busy "Booked" block in each member's calendar of it; blocks stay
true (moves, cancellations, the feature switched off, the horizon roll, a new
connection's fill); a member touching a block gets it put back (at most a few times
an hour) and never changes a booking; the markers are opaque."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from tests.support.bookings import live_bookings, tomorrow_at
from tests.support.environments import PROVIDERS, SyncEnv, move_clocks
from tests.support.member import Member, Seen

from spacecal.db.models import Booking, BookingChange, Business, Connection, EventLink
from spacecal.providers.google import MARKER_PROPERTY
from spacecal.providers.google.wire import event_id_for
from spacecal.providers.microsoft import MARKER_PROPERTY_ID
from spacecal.providers.microsoft.wire import transaction_id_for
from spacecal.sync.upkeep.sweep import sweep


def _writes(s: SyncEnv, provider: str) -> int:
    """Event writes spacecal made in the provider (creates, updates, deletes)."""
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


def blocks(member: Member) -> list[Seen]:
    return [e for e in member.events() if e.title == "Booked"]


async def book(s: SyncEnv, coworker: int, start: datetime, hours: int = 1) -> int:
    made = await s.env.api.post(
        "/api/spaces/bookings",
        json={
            "ResourceId": s.env.space.room_id,
            "CoworkerId": coworker,
            "FromTime": start.isoformat(),
            "ToTime": (start + timedelta(hours=hours)).isoformat(),
            "Notes": "Board meeting: acquisition of Acme",
        },
    )
    assert made.status_code == 200, made.text
    return int(made.json()["Value"]["Id"])


async def move(s: SyncEnv, booking_id: int, start: datetime) -> None:
    record = (await s.env.api.get(f"/api/spaces/bookings/{booking_id}")).json()
    moved = await s.env.api.put(
        "/api/spaces/bookings",
        json={
            "Id": booking_id,
            "ResourceId": record["ResourceId"],
            "CoworkerId": record["CoworkerId"],
            "FromTime": start.isoformat(),
            "ToTime": (start + timedelta(hours=1)).isoformat(),
        },
    )
    assert moved.status_code == 200, moved.text


async def raw_event(s: SyncEnv, member: Member, event_id: str) -> dict[str, Any]:
    """The event as any API client of the calendar's owner reads it."""
    settings = s.env.rt.settings
    if member.provider == "google":
        token = s.env.google.issue_tokens(member.email)["access_token"]
        url = f"{settings.google_api_base}/calendars/{member.calendar_id}/events/{event_id}"
        answer = await s.env.control.get(url, headers={"Authorization": f"Bearer {token}"})
    else:
        token = s.env.microsoft.issue_tokens(member.email)["access_token"]
        answer = await s.env.control.get(
            f"{settings.microsoft_graph_base}/me/events/{event_id}",
            params={
                "$expand": f"singleValueExtendedProperties($filter=id eq '{MARKER_PROPERTY_ID}')"
            },
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def marker_of(raw: dict[str, Any]) -> str:
    if "extendedProperties" in raw:
        return str(raw["extendedProperties"]["private"][MARKER_PROPERTY])
    [prop] = raw["singleValueExtendedProperties"]
    return str(prop["value"])


async def bookings_snapshot(s: SyncEnv) -> list[tuple[Any, ...]]:
    async with s.engine.connect() as conn:
        rows = await conn.execute(
            select(
                Booking.id,
                Booking.from_time,
                Booking.to_time,
                Booking.version,
                Booking.cancelled_at,
            ).order_by(Booking.id)
        )
        return [tuple(r) for r in rows]


async def set_business(s: SyncEnv, **values: Any) -> None:
    record = (await s.env.api.get(f"/api/spaces/businesses/{s.env.space.business_id}")).json()
    answer = await s.env.api.put(
        "/api/spaces/businesses",
        json={**{k: record[k] for k in ("Id", "Name", "TimeZone")}, **values},
    )
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_booking_shows_as_an_opaque_block_in_other_calendars(
    sync_env: SyncEnv, provider: str
) -> None:
    alice = await sync_env.connect(provider, "alice")
    bob = await sync_env.connect(provider, "bob")
    space = sync_env.env.space
    start = tomorrow_at(10)
    booking_id = await book(sync_env, space.bob, start)
    await sync_env.settle()
    [block] = alice.events()
    assert (block.title, block.description) == ("Booked", "")
    assert (block.start, block.end) == (start, start + timedelta(hours=1))
    [own] = bob.events()
    assert own.title == "Meeting Room A"  # bob's own booking, as today
    raw = await raw_event(sync_env, alice, block.id)
    own_raw = await raw_event(sync_env, bob, own.id)
    # The marker is the random value kept on the link, nothing derived from the booking.
    async with sync_env.engine.connect() as conn:
        stored = dict((await conn.execute(select(EventLink.event_key, EventLink.marker))).all())
    for event_id, marker in ((block.id, marker_of(raw)), (own.id, marker_of(own_raw))):
        assert marker == stored[event_id] and len(marker) == 32, marker
        assert marker not in (str(booking_id), str(space.bob), "Bob Member")
    assert marker_of(raw) != marker_of(own_raw)
    assert "Acme" not in json.dumps(raw) and "Bob" not in json.dumps(raw)
    # Nor is the block's id (Google) or transactionId (Graph), which the member reads
    # back: a hash of the sequential booking id would be reversed by trying them all.
    guessable = {
        hashlib.sha256(f"spacecal:block:{booking_id}:{alice.calendar_id}:{g}".encode()).digest()
        for g in range(3)
    }
    readable = raw["id"] if provider == "google" else raw["transactionId"]
    for digest in guessable:
        as_id = base64.b32hexencode(digest[:20]).decode().lower().rstrip("=")
        assert readable not in (event_id_for(as_id), transaction_id_for(as_id))
    if provider == "google":
        assert raw["transparency"] == "opaque"
        assert raw["reminders"] == {"useDefault": False}
    else:
        assert raw["showAs"] == "busy" and raw["isReminderOn"] is False
    assert not raw.get("attendees")
    # Settled means settled: the block's echo starts nothing.
    writes = _writes(sync_env, provider)
    assert await sync_env.settle() == 0
    assert _writes(sync_env, provider) == writes
    # Names only when the business says so (the sweep finds the retitle).
    await set_business(sync_env, AvailabilityShowsNames=True)
    await sweep(sync_env.rt)
    await sync_env.settle()
    assert [e.title for e in alice.events()] == ["Bob Member"]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_blocks_follow_moves_and_cancellations(sync_env: SyncEnv, provider: str) -> None:
    alice = await sync_env.connect(provider, "alice")
    await sync_env.connect(provider, "bob")
    start = tomorrow_at(10)
    booking_id = await book(sync_env, sync_env.env.space.bob, start)
    await sync_env.settle()
    await move(sync_env, booking_id, start + timedelta(hours=3))
    await sync_env.settle()
    [block] = blocks(alice)
    assert block.start == start + timedelta(hours=3)
    assert (await sync_env.env.api.delete(f"/api/spaces/bookings/{booking_id}")).status_code == 200
    await sync_env.settle()
    assert alice.events() == []


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_three_moves_cost_each_calendar_one_write(sync_env: SyncEnv, provider: str) -> None:
    await sync_env.connect(provider, "alice")
    await sync_env.connect(provider, "bob")
    start = tomorrow_at(10)
    booking_id = await book(sync_env, sync_env.env.space.bob, start)
    await sync_env.settle()
    writes = _writes(sync_env, provider)
    for hours in (1, 2, 3):  # within one second: no worker ran in between
        await move(sync_env, booking_id, start + timedelta(hours=hours))
    async with sync_env.engine.connect() as conn:
        changes = await conn.scalar(select(Booking.version).where(Booking.id == booking_id))
    assert changes == 4
    await sync_env.settle()
    # bob's own event moved once, alice's block moved once.
    assert _writes(sync_env, provider) - writes == 2


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_touched_block_is_put_back_and_no_booking_changes(
    sync_env: SyncEnv, provider: str
) -> None:
    alice = await sync_env.connect(provider, "alice")
    await sync_env.connect(provider, "bob")
    start = tomorrow_at(10)
    await book(sync_env, sync_env.env.space.bob, start)
    await sync_env.settle()
    before = await bookings_snapshot(sync_env)
    [block] = blocks(alice)
    alice.move(block.id, start + timedelta(hours=4), start + timedelta(hours=5))
    await sync_env.settle()
    [block] = alice.events()
    assert (block.title, block.start) == ("Booked", start)
    alice.retitle(block.id, "Mine now")
    await sync_env.settle()
    assert [(e.title, e.id) for e in alice.events()] == [("Booked", block.id)]
    alice.delete(block.id)
    await sync_env.settle()
    [again] = alice.events()
    assert (again.title, again.start) == ("Booked", start)
    assert again.id != block.id  # a new generation, a new key
    async with sync_env.engine.connect() as conn:
        generation = await conn.scalar(
            select(EventLink.generation).where(EventLink.event_key == again.id)
        )
    assert generation == 1
    assert await bookings_snapshot(sync_env) == before


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_put_backs_are_limited_per_hour(sync_env: SyncEnv, provider: str) -> None:
    alice = await sync_env.connect(provider, "alice")
    await sync_env.connect(provider, "bob")
    start = tomorrow_at(10)
    await book(sync_env, sync_env.env.space.bob, start)
    await sync_env.settle()
    limit = sync_env.rt.settings.block_put_backs_per_hour
    [block] = blocks(alice)
    for _ in range(limit):
        alice.move(block.id, start + timedelta(hours=4), start + timedelta(hours=5))
        await sync_env.settle()
        assert alice.events()[0].start == start
    alice.move(block.id, start + timedelta(hours=4), start + timedelta(hours=5))
    await sync_env.settle()
    assert alice.events()[0].start == start + timedelta(hours=4)  # left alone this hour
    await sweep(sync_env.rt)
    await sync_env.settle()
    assert alice.events()[0].start == start + timedelta(hours=4)
    move_clocks(sync_env.env, timedelta(hours=1, minutes=1))
    await sweep(sync_env.rt)
    await sync_env.settle()
    assert alice.events()[0].start == start


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_event_over_a_block_is_refused(sync_env: SyncEnv, provider: str) -> None:
    alice = await sync_env.connect(provider, "alice")
    await sync_env.connect(provider, "bob")
    start = tomorrow_at(10)
    await book(sync_env, sync_env.env.space.bob, start)
    await sync_env.settle()
    alice.create("Mine", start + timedelta(minutes=30), start + timedelta(minutes=90))
    await sync_env.settle()
    [theirs] = await live_bookings(sync_env)
    assert theirs.coworker_id == sync_env.env.space.bob
    titles = sorted(e.title for e in alice.events())
    assert titles[0] == "Booked" and titles[1].startswith("⚠ Not booked: ")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_switching_off_removes_blocks(sync_env: SyncEnv, provider: str) -> None:
    alice = await sync_env.connect(provider, "alice")
    await sync_env.connect(provider, "bob")
    await book(sync_env, sync_env.env.space.bob, tomorrow_at(10))
    await sync_env.settle()
    assert len(blocks(alice)) == 1
    # The business write itself queues the change (no sweep needed)...
    await set_business(sync_env, AvailabilityDaysAhead=0)
    await sync_env.settle()
    assert alice.events() == []
    await set_business(sync_env, AvailabilityDaysAhead=14)
    await sync_env.settle()
    assert len(blocks(alice)) == 1
    # ...and the sweep finds a switch-off whose trigger was lost.
    async with sync_env.engine.begin() as conn:
        await conn.execute(update(Business).values(availability_days_ahead=0))
    await sync_env.settle()
    assert len(blocks(alice)) == 1
    await sweep(sync_env.rt)
    await sync_env.settle()
    assert alice.events() == []


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_the_horizon_rolls_and_a_new_connection_fills_it(
    sync_env: SyncEnv, provider: str
) -> None:
    await sync_env.connect(provider, "bob")
    bob = sync_env.env.space.bob
    await book(sync_env, bob, tomorrow_at(10))
    await book(sync_env, bob, tomorrow_at(10, days=5))
    far = tomorrow_at(9, days=15)  # starts past now + 14 days (now: 10:00)
    await book(sync_env, bob, far)
    await sync_env.settle()
    alice = await sync_env.connect(provider, "alice")
    await sync_env.settle()
    assert len(blocks(alice)) == 2  # the new connection's fill
    move_clocks(sync_env.env, timedelta(days=1))
    await sweep(sync_env.rt)
    await sync_env.settle()
    shown = blocks(alice)
    assert len(shown) == 3 and shown[-1].start == far
    # A block whose time passed stays.
    move_clocks(sync_env.env, timedelta(days=2))
    await sweep(sync_env.rt)
    await sync_env.settle()
    assert len(blocks(alice)) == 3


async def test_both_providers_of_one_member_and_a_booking_without_member(
    sync_env: SyncEnv,
) -> None:
    """A member's own bookings never show as blocks in their other calendar; a booking
    nobody owns shows everywhere."""
    google = await sync_env.connect("google", "alice")
    microsoft = await sync_env.connect("microsoft", "alice")
    start = tomorrow_at(10)
    await book(sync_env, sync_env.env.space.alice, start)
    made = await sync_env.env.api.post(
        "/api/spaces/bookings",
        json={
            "ResourceId": sync_env.env.space.room_id,
            "FromTime": (start + timedelta(hours=2)).isoformat(),
            "ToTime": (start + timedelta(hours=3)).isoformat(),
        },
    )
    assert made.status_code == 200, made.text
    await sync_env.settle()
    for member in (google, microsoft):
        assert [e.title for e in member.events()] == ["Meeting Room A", "Booked"]


async def test_the_business_record_carries_the_settings(sync_env: SyncEnv) -> None:
    api = sync_env.env.api
    record = (await api.get(f"/api/spaces/businesses/{sync_env.env.space.business_id}")).json()
    assert (record["AvailabilityDaysAhead"], record["AvailabilityShowsNames"]) == (14, False)
    await set_business(sync_env, AvailabilityDaysAhead=0, AvailabilityShowsNames=True)
    async with sync_env.engine.connect() as conn:
        row = (
            await conn.execute(
                select(Business.availability_days_ahead, Business.availability_shows_names)
            )
        ).one()
    assert tuple(row) == (0, True)
    record = (await api.get(f"/api/spaces/businesses/{sync_env.env.space.business_id}")).json()
    bad = await api.put(
        "/api/spaces/businesses",
        json={**{k: record[k] for k in ("Id", "Name", "TimeZone")}, "AvailabilityDaysAhead": -1},
    )
    assert bad.status_code == 400 and "AvailabilityDaysAhead" in bad.text


async def test_one_outbox_row_per_change_expanded_outside_the_booking(
    sync_env: SyncEnv,
) -> None:
    """The booking's transaction writes one `booking_changes` row and touches no other
    connection row; the dispatcher turns it into a mark (then a job) per calendar."""
    alice = await sync_env.connect("google", "alice")
    await sync_env.connect("microsoft", "bob")
    await sync_env.settle()
    await book(sync_env, sync_env.env.space.bob, tomorrow_at(10))
    async with sync_env.engine.connect() as conn:
        changes = await conn.scalar(select(func.count()).select_from(BookingChange))
        marked = await conn.scalar(
            select(func.count()).where(Connection.sync_requested_at.is_not(None))
        )
    assert (changes, marked) == (1, 0)
    await sync_env.dispatch()
    async with sync_env.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(BookingChange)) == 0
    # bob's own calendar was queued by the write path; alice's by the dispatcher.
    assert await sync_env.runnable_jobs() == 2
    await sync_env.settle()
    assert len(blocks(alice)) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_only_time_title_and_busy_status_are_put_back(
    sync_env: SyncEnv, provider: str
) -> None:
    """A colour the member's app adds is left alone (no write); marking the block free
    is put back."""
    alice = await sync_env.connect(provider, "alice")
    await sync_env.connect(provider, "bob")
    await book(sync_env, sync_env.env.space.bob, tomorrow_at(10))
    await sync_env.settle()
    [block] = blocks(alice)
    google, microsoft = sync_env.env.google, sync_env.env.microsoft

    def edit(google_fields: dict[str, Any], graph_fields: dict[str, Any]) -> None:
        if provider == "google":
            google.update_event(alice.calendar_id, block.id, google_fields)
        else:
            microsoft.edit_event(alice.email, block.id, graph_fields)

    writes = _writes(sync_env, provider)
    edit({"colorId": "5"}, {"categories": ["Red category"]})
    await sync_env.settle()
    assert _writes(sync_env, provider) == writes
    edit({"transparency": "transparent"}, {"showAs": "free"})
    await sync_env.settle()
    assert _writes(sync_env, provider) == writes + 1
    raw = await raw_event(sync_env, alice, block.id)
    assert raw.get("transparency", "opaque") == "opaque" and raw.get("showAs", "busy") == "busy"
