"""The in-process parts of bench/sync.py: notification-to-booking latency and the
initial sync of a large calendar, on the demo's stack (embedded database, both
emulators and spacecal on loopback ports, one process).

Latency is measured like the demo narrates it: from just before the member's edit in
the emulator to the moment the committed booking is visible in the database (polled
every 2 ms), so it includes the push over HTTP, intake, the job queue, the pull, the
decision and the commit.

Initial sync: a fresh connection whose calendar already holds N events (push muted
in the emulator while they are made, so only the measured reconcile works), then one
`reconcile()` timed: pull all pages, decide every event, commit. Once with every
event bookable (no calendar writes), once with every event refused (one mark written
back per event).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text, update

from spacecal import clock
from spacecal.db.models import Booking, Business, Connection, EventLink
from spacecal.demo.browser import Browser
from spacecal.demo.space import OPEN_EVERY_DAY, Space, seed
from spacecal.demo.stack import Stack, new_data_dir, start
from spacecal.providers.registry import production_providers
from spacecal.sync.reconcile.task import reconcile
from spacecal.sync.runtime import SyncRuntime

LONDON = ZoneInfo("Europe/London")


def _quiet(line: str) -> None:
    pass


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _day(days: int, hour: int, minute: int) -> datetime:
    base = clock.now().astimezone(LONDON).date() + timedelta(days=days)
    return datetime.combine(base, clock_time(hour, minute), tzinfo=LONDON)


async def _booking(stack: Stack, provider: str, event_id: str) -> int | None:
    column = Booking.google_event_id if provider == "google" else Booking.office365_event_id
    async with stack.database.engine.connect() as conn:
        found = await conn.scalar(select(Booking.id).where(column == event_id))
    return None if found is None else int(found)


async def latency(samples: int) -> dict[str, list[float]]:
    """Milliseconds from the member's edit to the committed booking, per provider."""
    stack = Stack(data_dir=new_data_dir(), keep=False)
    out: dict[str, list[float]] = {"google": [], "microsoft": []}
    try:
        await start(stack, 0, _quiet)
        space = await seed(stack, _quiet)
        assert stack.google is not None and stack.microsoft is not None
        for i in range(samples):
            provider = "google" if i % 2 == 0 else "microsoft"
            start_at = _day(1 + i // 12, 8 + i % 12, 0)
            end_at = start_at + timedelta(minutes=30)
            began = time.perf_counter()
            if provider == "google":
                made = stack.google.create_event(
                    space.google_calendar,
                    {
                        "summary": f"Bench {i}",
                        "start": {"dateTime": _iso(start_at)},
                        "end": {"dateTime": _iso(end_at)},
                    },
                )
            else:
                made = stack.microsoft.create_event(
                    space.member_microsoft, space.microsoft_calendar, f"Bench {i}", start_at, end_at
                )
            event_id = str(made["id"])
            deadline = began + 30
            while await _booking(stack, provider, event_id) is None:
                if time.perf_counter() > deadline:
                    raise SystemExit(f"event {i} ({provider}) was not booked within 30 s")
                await asyncio.sleep(0.002)
            out[provider].append((time.perf_counter() - began) * 1000)
            # Let the copy into the other calendar and its echo finish, so each sample
            # starts from a quiet system (as a member's next edit usually does).
            await asyncio.sleep(0.4)
    finally:
        await stack.stop(_quiet)
    return out


async def _bench_room(stack: Stack, space: Space, name: str, step: int) -> tuple[int, str]:
    """A room on the `step`-minute grid added to Alice's Google calendar; push muted."""
    import httpx2

    async with httpx2.AsyncClient(
        base_url=stack.spacecal_url, headers=space.admin_headers, timeout=30
    ) as api:
        answer = await api.post(
            "/api/spaces/resources",
            json={
                "BusinessId": space.business_id,
                "Name": name,
                "ResourceType": "room",
                "TimeSlotStep": step,
                "OpeningHours": OPEN_EVERY_DAY,
            },
        )
        assert answer.status_code == 200 and answer.json()["WasSuccessful"], answer.text
        room = int(answer.json()["Value"]["Id"])
    browser = Browser(stack.spacecal_url)
    try:
        await browser.sign_in(space.member_email, space.member_password)
        await browser.add_resource(room, "google")
    finally:
        await browser.aclose()
    async with stack.database.engine.connect() as conn:
        row = (
            await conn.execute(
                select(Connection.id, Connection.calendar_id).where(
                    Connection.resource_id == room, Connection.provider == "google"
                )
            )
        ).one()
    assert stack.google is not None
    for channel in stack.google.store.channels.values():
        if channel.calendar_id == row.calendar_id:
            channel.stopped = True  # the events below must not trigger syncs of their own
    return int(row.id), str(row.calendar_id)


async def initial_sync(events: int, refused_events: int) -> dict[str, Any]:
    """Events/s of one reconcile of a calendar holding N events: `events` all
    bookable, then `refused_events` all refused (off the room's 30-minute grid)."""
    stack = Stack(data_dir=new_data_dir(), keep=False)
    results: dict[str, Any] = {}
    try:
        await start(stack, 0, _quiet, worker=False)
        space = await seed(stack, _quiet)
        assert stack.google is not None and stack.settings is not None
        async with stack.database.engine.begin() as conn:
            await conn.execute(update(Business).values(max_booking_days_ahead=3650))
        provider_for, client = production_providers(stack.settings)
        rt = SyncRuntime(settings=stack.settings, db=stack.database, provider_for=provider_for)
        try:
            cases = (("bookable", 15, 0, events), ("refused", 30, 10, refused_events))
            for case, step, minute, count in cases:
                if count <= 0:
                    continue
                connection, calendar = await _bench_room(stack, space, f"Bench {case}", step)
                made = time.perf_counter()
                for i in range(count):
                    # 48 quarter-hours a day between 08:00 and 20:00, day after day.
                    start_at = _day(1 + i // 48, 8 + (i % 48) // 4, (i % 4) * 15)
                    if minute:
                        start_at = _day(1 + i // 44, 8 + (i % 44) // 4, minute + (i % 4) * 15)
                    stack.google.create_event(
                        calendar,
                        {
                            "summary": f"Event {i}",
                            "start": {"dateTime": _iso(start_at)},
                            "end": {"dateTime": _iso(start_at + timedelta(minutes=15))},
                        },
                    )
                created_in = time.perf_counter() - made
                async with stack.database.engine.begin() as conn:
                    await conn.execute(text("DELETE FROM procrastinate_jobs"))
                began = time.perf_counter()
                outcome = await reconcile(rt, connection)
                seconds = time.perf_counter() - began
                async with stack.database.engine.connect() as conn:
                    booked = await conn.scalar(
                        select(func.count())
                        .select_from(Booking)
                        .where(
                            Booking.resource_id.in_(
                                select(Connection.resource_id).where(Connection.id == connection)
                            )
                        )
                    )
                    marked = await conn.scalar(
                        select(func.count())
                        .select_from(EventLink)
                        .where(
                            EventLink.connection_id == connection,
                            EventLink.refused_reason.is_not(None),
                            EventLink.pending_write.is_(None),
                        )
                    )
                results[case] = {
                    "events": count,
                    "seconds": seconds,
                    "rate": count / seconds,
                    "booked": int(booked or 0),
                    "marked": int(marked or 0),
                    "status": outcome.status,
                    "emulator_fill_seconds": created_in,
                }
        finally:
            await client.aclose()
    finally:
        await stack.stop(_quiet)
    return results


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> str:
    return (
        f"p50 {statistics.median(values):.0f} ms, p95 {pct(values, 0.95):.0f} ms, "
        f"max {max(values):.0f} ms (n={len(values)})"
    )
