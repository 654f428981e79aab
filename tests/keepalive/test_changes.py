"""Changes made elsewhere reach the members' calendars: a resource made unbookable or
deleted disconnects its connections (calendars kept, with a note saying so), and a
deleted member's connections are disconnected with their push stopped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from tests.support.bookings import live_bookings, tomorrow_at
from tests.support.environments import PROVIDERS, KeepEnv
from tests.support.keepalive import GOOGLE, MICROSOFT, add_resource, put_record

from spacecal.db.models import DetachedCalendar, SubscriptionGeneration

RECORDS = {"google": "coworkergooglecalendars", "microsoft": "coworkermsofficecalendars"}


@dataclass(frozen=True)
class Shown:
    """A calendar as the member sees it in their calendar app."""

    id: str
    name: str
    description: str | None  # Graph calendars have none


def calendars(k: KeepEnv, provider: str, email: str) -> list[Shown]:
    if provider == "google":
        return [
            Shown(c["id"], c["summary"], c.get("description"))
            for c in k.env.google.calendars(email)
            if not c["deleted"] and c["id"] != email  # not the primary calendar
        ]
    return [
        Shown(c["id"], c["name"], None)
        for c in k.env.microsoft.calendars(email)
        if not c["isDefaultCalendar"]
    ]


def shown(k: KeepEnv, provider: str, email: str, calendar_id: str) -> Shown:
    [cal] = [c for c in calendars(k, provider, email) if c.id == calendar_id]
    return cal


def assert_noted(cal: Shown, provider: str, name: str, why: str) -> None:
    """The calendar says spacecal no longer syncs it, the way each provider can."""
    if provider == "google":
        assert cal.name == name
        assert cal.description is not None
        assert "spacecal no longer syncs this calendar" in cal.description
        assert why in cal.description
    else:
        assert cal.name == f"{name} (no longer synced)"


async def owed_notes(k: KeepEnv) -> int:
    async with k.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(DetachedCalendar)) or 0)


async def open_generations(k: KeepEnv) -> list[Any]:
    async with k.engine.connect() as conn:
        return list(
            (
                await conn.execute(
                    select(SubscriptionGeneration).where(
                        SubscriptionGeneration.status.in_(["live", "stopping"])
                    )
                )
            ).all()
        )


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_resource_made_unbookable_disconnects_and_notes_the_calendar(
    keep_env: KeepEnv, provider: str
) -> None:
    k = keep_env
    member = await k.connect(provider)
    await k.settle()
    name = shown(k, provider, member.email, member.calendar_id).name
    start = tomorrow_at(10)
    member.create("Stand-up", start, start + timedelta(hours=1))
    await k.settle()
    [booking] = await live_bookings(k)

    room = k.env.space.room_id
    await put_record(k, "resources", room, Bookable=False)
    await k.settle()
    # Disconnected: no record, nothing watched any more (stopped, not left to lapse).
    assert await k.env.records(RECORDS[provider]) == []
    assert k.live_at_provider(provider, member.calendar_id) == []
    assert await open_generations(k) == []
    # The calendar and its event are kept, and the calendar says why it went quiet.
    assert_noted(
        shown(k, provider, member.email, member.calendar_id), provider, name, "made unbookable"
    )
    assert [e.start for e in member.events()] == [start]
    assert await owed_notes(k) == 0
    # The booking stays; an event added now books nothing.
    later = tomorrow_at(15)
    member.create("Not synced", later, later + timedelta(hours=1))
    await k.advance(timedelta(hours=3), sweep_too=True)
    assert [b.id for b in await live_bookings(k)] == [booking.id]

    # Bookable again and added again from the portal: synced again, without the note.
    await put_record(k, "resources", room, Bookable=True)
    await add_resource(k, provider, room)
    await k.settle()
    [record] = await k.env.records(RECORDS[provider])
    if provider == "google":  # same name: the kept calendar is adopted, its note taken away
        assert record["CalendarId"] == member.calendar_id
        again = shown(k, provider, member.email, member.calendar_id)
        assert again.name == name and not again.description
    else:  # the noted name no longer matches: a new calendar; the old one keeps its note
        assert record["CalendarId"] != member.calendar_id
        assert shown(k, provider, member.email, record["CalendarId"]).name == name
        assert_noted(shown(k, provider, member.email, member.calendar_id), provider, name, "")
    assert k.live_at_provider(provider, record["CalendarId"]) == [record["SubscriptionId"]]
    await k.settle()
    now_shown = type(member)(member.emu, member.email, record["CalendarId"])  # type: ignore[attr-defined]
    booked = [(b.from_time, b.to_time) for b in await live_bookings(k)]
    events = [(e.start, e.end) for e in now_shown.events()]
    if provider == "google":
        # The adopted calendar's events are known again, not copied a second time; the
        # event added while nothing synced is decided now (the room is free: booked).
        assert (
            booked
            == events
            == [(start, start + timedelta(hours=1)), (later, later + timedelta(hours=1))]
        )
    else:
        assert booked == events == [(start, start + timedelta(hours=1))]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_deleted_resource_disconnects_and_notes_the_calendar(
    keep_env: KeepEnv, provider: str
) -> None:
    k = keep_env
    member = await k.connect(provider, resource="desk")
    await k.settle()
    name = shown(k, provider, member.email, member.calendar_id).name
    answer = await k.env.api.delete(f"/api/spaces/resources/{k.env.space.desk_id}")
    assert answer.status_code == 200, answer.text
    await k.settle()
    assert await k.env.records(RECORDS[provider]) == []
    assert k.live_at_provider(provider, member.calendar_id) == []
    assert await open_generations(k) == []
    assert_noted(shown(k, provider, member.email, member.calendar_id), provider, name, "removed")
    assert await owed_notes(k) == 0


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_note_that_cannot_be_written_is_retried_with_backoff(
    keep_env: KeepEnv, provider: str
) -> None:
    k = keep_env
    member = await k.connect(provider)
    await k.settle()
    name = shown(k, provider, member.email, member.calendar_id).name
    if provider == "google":
        base, rule = GOOGLE, {"method": "PATCH", "path": "/calendar/v3/calendars/*"}
    else:
        base, rule = MICROSOFT, {"method": "PATCH", "path": "/v1.0/me/calendars/*"}
    await k.env.fault(base, {"kind": "http_5xx", "match": rule, "times": 2})
    await put_record(k, "resources", k.env.space.room_id, Bookable=False)
    await k.settle()
    async with k.engine.connect() as conn:
        [row] = (await conn.execute(select(DetachedCalendar))).all()
    assert row.attempts == 1 and row.last_error and "500" in row.last_error
    assert shown(k, provider, member.email, member.calendar_id).name == name
    await k.advance(timedelta(minutes=50))  # inside the first wait (1 h here)
    assert await owed_notes(k) == 1
    await k.advance(timedelta(minutes=11))  # second try fails: the wait doubles
    async with k.engine.connect() as conn:
        [row] = (await conn.execute(select(DetachedCalendar))).all()
    assert row.attempts == 2
    await k.advance(timedelta(hours=1, minutes=30))
    assert await owed_notes(k) == 1
    await k.advance(timedelta(minutes=31))  # third try succeeds
    assert await owed_notes(k) == 0
    assert_noted(
        shown(k, provider, member.email, member.calendar_id), provider, name, "made unbookable"
    )


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_deleted_member_is_disconnected_and_their_push_stopped(
    keep_env: KeepEnv, provider: str
) -> None:
    k = keep_env
    member = await k.connect(provider)
    await k.settle()
    assert k.live_at_provider(provider, member.calendar_id) != []
    answer = await k.env.api.delete(f"/api/spaces/coworkers/{k.env.space.alice}")
    assert answer.status_code == 200, answer.text
    await k.settle()
    assert await k.env.records(RECORDS[provider]) == []
    # Stopped at the provider while the member's account could still be used.
    assert k.live_at_provider(provider, member.calendar_id) == []
    assert await open_generations(k) == []
    async with k.engine.connect() as conn:
        accounts = await conn.scalar(text("SELECT count(*) FROM provider_accounts"))
    assert accounts == 0
    # Nothing is left for the periodic work to try: a day passes without a call.
    emu = k.env.google if provider == "google" else k.env.microsoft
    before = len(emu.core.calls.list())
    await k.advance(timedelta(days=1), sweep_too=True)
    assert len(emu.core.calls.list()) == before
