"""Writes: idempotent create, full update, partial patch (also of one instance of a
series), delete of an already-gone event, the opaque marker property and blocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.providers.harness import NOW, WINDOW, Env

from spacecal.domain import EventStatus, EventTime
from spacecal.providers.base import EventWrite
from spacecal.providers.google import MARKER_PROPERTY
from spacecal.providers.microsoft import MARKER_PROPERTY_ID

START = NOW + timedelta(days=2, hours=1)


def booking(key: str = "b42-c7", **kw: object) -> EventWrite:
    values: dict[str, object] = {
        "idempotency_key": key,
        "title": "Meeting Room A (booked)",
        "description": "Booked through spacecal",
        "start": START,
        "end": START + timedelta(hours=1),
        "time_zone": "Europe/Paris",
        "marker": "opaque-7f3a",
    }
    values.update(kw)
    return EventWrite(**values)  # type: ignore[arg-type]


async def test_create_is_idempotent(env: Env) -> None:
    first = await env.provider.create_event(env.access, env.calendar_id, booking())
    second = await env.provider.create_event(env.access, env.calendar_id, booking())
    assert first.event_id == second.event_id
    live = await env.live_events()
    assert [e["id"] for e in live] == [first.event_id]
    raw = await env.raw_event(first.event_id, MARKER_PROPERTY_ID)
    if env.name == "google":
        assert raw["extendedProperties"]["private"][MARKER_PROPERTY] == "opaque-7f3a"
        assert raw["start"]["timeZone"] == "Europe/Paris"
    else:
        assert raw["singleValueExtendedProperties"] == [
            {"id": MARKER_PROPERTY_ID, "value": "opaque-7f3a"}
        ]
    # The etag we wrote is what the next pull reports: our own echo is recognisable.
    pulled = await env.provider.pull(env.access, env.calendar_id, None, WINDOW)
    assert pulled.etags[first.event_id] == second.etag
    (event,) = pulled.events
    assert event.time == EventTime.timed(START, START + timedelta(hours=1))
    assert event.title == "Meeting Room A (booked)"
    assert event.description == "Booked through spacecal"


async def test_create_tentative_and_different_keys(env: Env) -> None:
    a = await env.provider.create_event(env.access, env.calendar_id, booking("k-a"))
    b = await env.provider.create_event(env.access, env.calendar_id, booking("k-b", tentative=True))
    assert a.event_id != b.event_id
    pulled = await env.provider.pull(env.access, env.calendar_id, None, WINDOW)
    status = {e.key: e.status for e in pulled.events}
    assert status == {a.event_id: EventStatus.CONFIRMED, b.event_id: EventStatus.TENTATIVE}


async def test_google_recreate_after_member_deleted_restores_it() -> None:
    from tests.providers.harness import close_env, google_env

    env = google_env()
    try:
        env.calendar_id = (await env.provider.create_calendar(env.access, "Room", "UTC")).id
        made = await env.provider.create_event(env.access, env.calendar_id, booking())
        env.delete_event(made.event_id)
        again = await env.provider.create_event(env.access, env.calendar_id, booking())
        assert again.event_id == made.event_id
        assert [e["id"] for e in await env.live_events()] == [made.event_id]
    finally:
        await close_env(env)


async def test_update_patch_delete(env: Env) -> None:
    made = await env.provider.create_event(env.access, env.calendar_id, booking())
    later = START + timedelta(hours=3)
    updated = await env.provider.update_event(
        env.access,
        env.calendar_id,
        made.event_id,
        booking(start=later, end=later + timedelta(hours=2), title="Moved", tentative=True),
    )
    assert updated.event_id == made.event_id and updated.etag != made.etag
    patched = await env.provider.patch_event(
        env.access, env.calendar_id, made.event_id, title="⚠ Not booked: Moved"
    )
    assert patched.etag != updated.etag
    pulled = await env.provider.pull(env.access, env.calendar_id, None, WINDOW)
    (event,) = pulled.events
    assert event.title == "⚠ Not booked: Moved"
    assert event.time == EventTime.timed(later, later + timedelta(hours=2))  # untouched
    assert event.status is EventStatus.TENTATIVE
    assert pulled.etags[made.event_id] == patched.etag

    await env.provider.delete_event(env.access, env.calendar_id, made.event_id)
    await env.provider.delete_event(env.access, env.calendar_id, made.event_id)  # gone: done
    assert await env.live_events() == []


async def test_patch_one_instance_of_a_member_series(env: Env) -> None:
    first = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    series = env.create_weekly("Team sync", first, hours=1, count=3)
    full = await env.provider.pull(env.access, env.calendar_id, None, WINDOW)
    second = first + timedelta(weeks=1)
    key = env.instance_key(series, second)
    # Put a refused move back and note why: time and text of that one instance.
    await env.provider.patch_event(
        env.access,
        env.calendar_id,
        key,
        description="[spacecal] Moved back: the room is taken then.",
        start=second + timedelta(hours=2),
        end=second + timedelta(hours=3),
        time_zone="Europe/Paris",
    )
    inc = await env.provider.pull(env.access, env.calendar_id, full.cursor, WINDOW)
    by_key = {e.key: e for e in inc.events}
    assert set(by_key) == {key}
    event = by_key[key]
    assert event.time == EventTime.timed(second + timedelta(hours=2), second + timedelta(hours=3))
    assert event.description == "[spacecal] Moved back: the room is taken then."
    assert event.series_id == series and event.title == "Team sync"


async def test_idempotency_keys_map_deterministically() -> None:
    from spacecal.providers.google import event_id_for
    from spacecal.providers.microsoft import transaction_id_for

    ident = event_id_for("booking-42:connection-7")
    assert ident == event_id_for("booking-42:connection-7")
    assert set(ident) <= set("0123456789abcdefghijklmnopqrstuv") and 5 <= len(ident) <= 1024
    assert 5 <= len(event_id_for("a")) <= 1024 and 5 <= len(event_id_for("x" * 5000)) <= 1024
    assert event_id_for("a") != event_id_for("b")
    uid = "0b6c7d1e-2f3a-4b5c-8d9e-0f1a2b3c4d5e"
    assert transaction_id_for(uid) == uid
    assert transaction_id_for("k-1") == transaction_id_for("k-1") != transaction_id_for("k-2")


async def test_block_is_busy_silent_and_marked(env: Env) -> None:
    """A block: busy, no reminders, no attendees, the marker only; a member's "free"
    is read back as not busy (put-backs compare busy status)."""
    made = await env.provider.create_event(
        env.access,
        env.calendar_id,
        booking("blk-1", title="Booked", description="", marker="m-1", block=True),
    )
    raw = await env.raw_event(made.event_id, MARKER_PROPERTY_ID)
    if env.name == "google":
        assert raw["extendedProperties"]["private"] == {MARKER_PROPERTY: "m-1"}
        assert raw["transparency"] == "opaque"
        assert raw["reminders"] == {"useDefault": False}
    else:
        assert raw["singleValueExtendedProperties"] == [{"id": MARKER_PROPERTY_ID, "value": "m-1"}]
        assert raw["showAs"] == "busy"
        assert raw["isReminderOn"] is False
    assert not raw.get("attendees")
    assert raw.get("description", "") == "" or env.name == "microsoft"
    (event,) = (await env.provider.pull(env.access, env.calendar_id, None, WINDOW)).events
    assert event.busy and event.title == "Booked"
