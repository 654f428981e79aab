"""A CalendarId set through the records API is synced only once spacecal has verified
that it made that calendar for that account (issue 17, item 1).

The attack it stops: a CalendarId pointed at the member's main calendar (by id, or
by `..`, which the HTTP client collapsed into `/me/calendarView/delta`) made the
member's private events bookings, renamed one "⚠ Not booked: …", and deleting the
booking deleted the private event."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from tests.support.bookings import live_bookings, tomorrow_at
from tests.support.environments import PROVIDERS, SyncEnv

from spacecal.db.models import Connection
from spacecal.emulators.microsoft.model import Calendar
from spacecal.providers.microsoft.marker import MARKER_PROPERTY_ID
from spacecal.sync.reconcile.task import reconcile
from spacecal.sync.reconcile.verify import mark_calendars

PATHS = {"google": "coworkergooglecalendars", "microsoft": "coworkermsofficecalendars"}


def _main_calendar(s: SyncEnv, provider: str, email: str) -> str:
    if provider == "google":
        s.env.google.create_account(email)  # makes the primary calendar if missing
        return email  # a Google account's primary calendar id is its address
    return s.env.microsoft.mailbox(email).default_calendar.id


def _private_event(s: SyncEnv, provider: str, email: str, calendar_id: str) -> str:
    start = tomorrow_at(10)
    if provider == "google":
        body = {
            "summary": "Doctor (private)",
            "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": (start + timedelta(hours=1)).isoformat()},
        }
        return str(s.env.google.create_event(calendar_id, body)["id"])
    made = s.env.microsoft.create_event(
        email, calendar_id, "Doctor (private)", start, start + timedelta(hours=1)
    )
    return str(made["id"])


def _private_title(s: SyncEnv, provider: str, email: str, calendar_id: str, event: str) -> str:
    if provider == "google":
        cal = s.env.google._calendar(calendar_id)
        return str(cal.events[event].body.get("summary", ""))
    return str(s.env.microsoft.mailbox(email).events[event].subject)


async def _connection(s: SyncEnv, provider: str) -> Any:
    async with s.engine.connect() as conn:
        return (await conn.execute(select(Connection).where(Connection.provider == provider))).one()


async def _put_calendar_id(s: SyncEnv, provider: str, record_id: int, calendar_id: str) -> None:
    """A full administrator's repair through the records API."""
    answer = await s.env.api.get(f"/api/spaces/{PATHS[provider]}/{record_id}")
    record = {**answer.json(), "CalendarId": calendar_id}
    answer = await s.env.api.put(f"/api/spaces/{PATHS[provider]}", json=record)
    assert answer.status_code == 200, answer.text


async def _record(s: SyncEnv, provider: str, record_id: int) -> dict[str, Any]:
    answer = await s.env.api.get(f"/api/spaces/{PATHS[provider]}/{record_id}")
    assert answer.status_code == 200, answer.text
    record: dict[str, Any] = answer.json()
    return record


@pytest.mark.parametrize("hostile", ["main", "..", "a/../..", "%2e%2e", "."])
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_admin_set_calendar_id_does_not_sync_the_main_calendar(
    sync_env: SyncEnv, provider: str, hostile: str
) -> None:
    member = await sync_env.connect(provider)
    main = _main_calendar(sync_env, provider, member.email)
    private = _private_event(sync_env, provider, member.email, main)
    row = await _connection(sync_env, provider)
    target = main if hostile == "main" else hostile
    await _put_calendar_id(sync_env, provider, row.id, target)

    outcome = await reconcile(sync_env.rt, row.id)
    await sync_env.settle()

    assert outcome.status == "failed"
    assert await live_bookings(sync_env) == []
    assert _private_title(sync_env, provider, member.email, main, private) == "Doctor (private)"
    record = await _record(sync_env, provider, row.id)
    assert record["CalendarId"] == target  # stored as sent
    assert record["Health"] == "unverified"
    assert "did not verify the calendar in CalendarId" in record["LastError"]

    # Put back to the calendar spacecal made: verified already, synced again.
    await _put_calendar_id(sync_env, provider, row.id, member.calendar_id)
    start = tomorrow_at(14)
    member.create("Team sync", start, start + timedelta(hours=1))
    outcome = await reconcile(sync_env.rt, row.id)
    assert outcome.status == "ok", outcome.error
    [booking] = await live_bookings(sync_env)
    assert booking.from_time == start


async def test_another_spacecal_looking_calendar_is_not_verified_by_its_name(
    sync_env: SyncEnv,
) -> None:
    """A calendar the member made with spacecal's name carries no marker."""
    member = await sync_env.connect("microsoft")
    row = await _connection(sync_env, "microsoft")
    twin = sync_env.env.microsoft.create_calendar(member.email, row.name + " (copy)")
    _private_event(sync_env, "microsoft", member.email, twin["id"])
    await _put_calendar_id(sync_env, "microsoft", row.id, twin["id"])
    outcome = await reconcile(sync_env.rt, row.id)
    assert outcome.status == "failed"
    assert "marker" in (outcome.error or "")
    assert await live_bookings(sync_env) == []


def _spacecal_calendar(s: SyncEnv, email: str, calendar_id: str) -> Calendar:
    cal: Calendar = s.env.microsoft.mailbox(email).calendar(calendar_id)
    return cal


async def _as_before_markers(s: SyncEnv, email: str, row: Any, calendar_id: str) -> None:
    """What migration 0014 finds: an unmarked calendar, an unverified row."""
    _spacecal_calendar(s, email, calendar_id).extended.clear()
    async with s.engine.begin() as conn:
        await conn.execute(
            update(Connection)
            .where(Connection.id == row.id)
            .values(
                calendar_id=calendar_id,
                verified_calendar_id=None,
                verified_account_id=None,
                marker_pending=True,
            )
        )


async def test_the_mark_job_marks_calendars_made_before_markers(sync_env: SyncEnv) -> None:
    member = await sync_env.connect("microsoft")
    row = await _connection(sync_env, "microsoft")
    await _as_before_markers(sync_env, member.email, row, member.calendar_id)
    start = tomorrow_at(10)
    member.create("Team sync", start, start + timedelta(hours=1))

    # The first reconcile waits for the job (and queues it); the job marks, verifies
    # and queues the reconcile that books.
    outcome = await reconcile(sync_env.rt, row.id)
    assert outcome.status == "failed"
    assert "checking this calendar" in (outcome.error or "")
    assert await live_bookings(sync_env) == []
    await sync_env.settle()

    cal = _spacecal_calendar(sync_env, member.email, member.calendar_id)
    assert MARKER_PROPERTY_ID in cal.extended
    [booking] = await live_bookings(sync_env)
    assert booking.from_time == start
    after = await _connection(sync_env, "microsoft")
    assert after.verified_calendar_id == member.calendar_id and not after.marker_pending


async def test_the_mark_job_leaves_a_calendar_spacecal_did_not_name(sync_env: SyncEnv) -> None:
    member = await sync_env.connect("microsoft")
    row = await _connection(sync_env, "microsoft")
    other = sync_env.env.microsoft.create_calendar(member.email, "Family")
    _private_event(sync_env, "microsoft", member.email, other["id"])
    await _as_before_markers(sync_env, member.email, row, other["id"])

    assert await mark_calendars(sync_env.rt, row.provider_account_id) == 0
    assert _spacecal_calendar(sync_env, member.email, other["id"]).extended == {}
    after = await _connection(sync_env, "microsoft")
    assert after.verified_calendar_id is None and not after.marker_pending
    outcome = await reconcile(sync_env.rt, row.id)
    assert outcome.status == "failed"
    assert await live_bookings(sync_env) == []


@pytest.mark.parametrize("name", ["{name} (copy)", "Family"])
async def test_the_mark_job_leaves_a_look_alike_or_a_repointed_calendar(
    sync_env: SyncEnv, name: str
) -> None:
    """A member's own "(copy)" is not spacecal's; and a CalendarId an administrator
    changes after the upgrade must carry the marker already (no longer pending)."""
    member = await sync_env.connect("microsoft")
    row = await _connection(sync_env, "microsoft")
    look_alike = sync_env.env.microsoft.create_calendar(member.email, name.format(name=row.name))
    await _as_before_markers(sync_env, member.email, row, look_alike["id"])
    assert await mark_calendars(sync_env.rt, row.provider_account_id) == 0
    assert _spacecal_calendar(sync_env, member.email, look_alike["id"]).extended == {}

    # Pending again, on the calendar spacecal made; then an administrator repoints it.
    await _as_before_markers(sync_env, member.email, row, member.calendar_id)
    twin = sync_env.env.microsoft.create_calendar(member.email, f"{row.name} (no longer synced)")
    await _put_calendar_id(sync_env, "microsoft", row.id, twin["id"])
    assert not (await _connection(sync_env, "microsoft")).marker_pending
    assert await mark_calendars(sync_env.rt, row.provider_account_id) == 0
    outcome = await reconcile(sync_env.rt, row.id)
    assert outcome.status == "failed" and "marker" in (outcome.error or "")
