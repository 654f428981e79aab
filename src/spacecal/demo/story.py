"""The demo's live narration: what a member does in her calendar, and what spacecal
did about it, with the measured delay.

The member acts on the emulator objects directly (same event loop), exactly as the
sync tests' members do: that is an edit made "in Google Calendar's own UI", which
queues a push notification to spacecal's webhook over real HTTP. The delay printed
is measured from just before that edit to the moment the committed booking is
visible in the database (polled every few milliseconds, so it is an honest upper
bound, not the worker's own bookkeeping).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx2
from sqlalchemy import select

from spacecal import clock
from spacecal.db.models import Booking, EventLink
from spacecal.demo.browser import DemoSetupError
from spacecal.demo.space import ZONE, Space
from spacecal.demo.stack import Stack
from spacecal.emulators.google import ops as google_ops
from spacecal.emulators.microsoft.render import event_json

T = TypeVar("T")
LONDON = ZoneInfo(ZONE)
POLL_SECONDS = 0.005
WAIT_SECONDS = 30.0


def tomorrow_at(hour: int, minute: int = 0) -> datetime:
    day = clock.now().astimezone(LONDON).date() + timedelta(days=1)
    return datetime.combine(day, clock_time(hour, minute), tzinfo=LONDON)


def span(start: datetime, end: datetime) -> str:
    """ "tomorrow (Sun 22 Nov) 10:00–11:00" in the business's zone."""
    local_start, local_end = start.astimezone(LONDON), end.astimezone(LONDON)
    return f"tomorrow ({local_start:%a %d %b}) {local_start:%H:%M}–{local_end:%H:%M}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def until(what: str, probe: Callable[[], Awaitable[T | None]]) -> tuple[T, float]:
    """Poll `probe` until it gives a value; the value and the milliseconds it took."""
    started = time.perf_counter()
    deadline = started + WAIT_SECONDS
    while True:
        value = await probe()
        if value is not None:
            return value, (time.perf_counter() - started) * 1000
        if time.perf_counter() > deadline:
            raise DemoSetupError(f"{what} did not happen within {WAIT_SECONDS:.0f} s")
        await asyncio.sleep(POLL_SECONDS)


class Story:
    def __init__(self, stack: Stack, space: Space, say: Callable[[str], None]) -> None:
        self.stack, self.space, self.say = stack, space, say
        assert stack.google is not None and stack.microsoft is not None
        self.google, self.microsoft = stack.google, stack.microsoft

    # -- what the database and the calendars show -----------------------------------

    async def _booking_for(self, provider: str, event_id: str) -> int | None:
        column = Booking.google_event_id if provider == "google" else Booking.office365_event_id
        async with self.stack.database.engine.connect() as conn:
            found = await conn.scalar(
                select(Booking.id).where(column == event_id, Booking.cancelled_at.is_(None))
            )
        return int(found) if found is not None else None

    async def _event_for(self, connection_id: int, booking_id: int) -> str | None:
        async with self.stack.database.engine.connect() as conn:
            found = await conn.scalar(
                select(EventLink.event_key).where(
                    EventLink.connection_id == connection_id,
                    EventLink.booking_id == booking_id,
                    # A create's intent is recorded first under a placeholder key.
                    EventLink.event_key.not_like("pending:%"),
                    EventLink.kind == "booking",
                )
            )
        return str(found) if found is not None else None

    def _seen(self, provider: str, event_id: str) -> tuple[str, str]:
        """(title, description) of an event as the member sees it."""
        if provider == "google":
            cal = self.google.store.calendars[self.space.google_calendar]
            item = google_ops.get_event(self.google.ctx, cal, event_id)
            return str(item.get("summary", "")), str(item.get("description", ""))
        box = self.microsoft.mailbox(self.space.member_microsoft)
        event = box.events.get(event_id)
        if event is None:
            return "", ""
        graph = event_json(event, "UTC")
        return str(graph.get("subject", "")), str(graph.get("body", {}).get("content", ""))

    def _create(self, provider: str, title: str, start: datetime, end: datetime) -> str:
        if provider == "google":
            body = {
                "summary": title,
                "start": {"dateTime": _iso(start)},
                "end": {"dateTime": _iso(end)},
            }
            return str(self.google.create_event(self.space.google_calendar, body)["id"])
        made = self.microsoft.create_event(
            self.space.member_microsoft, self.space.microsoft_calendar, title, start, end
        )
        return str(made["id"])

    # -- the scenes --------------------------------------------------------------------

    async def member_books(self, provider: str, title: str, start: datetime, end: datetime) -> int:
        label = "Google" if provider == "google" else "Microsoft"
        self.say(
            f"Alice creates {title!r} {span(start, end)} in her {label} calendar "
            f"'{self.space.calendar_name}'…"
        )
        event_id = self._create(provider, title, start, end)
        booking, ms = await until(
            f"the booking of {title!r}", lambda: self._booking_for(provider, event_id)
        )
        self.say(f"  …booked (booking {booking}) {ms:.0f} ms after her change (via {label}).")
        other, other_connection = (
            ("Microsoft", self.space.microsoft_connection)
            if provider == "google"
            else ("Google", self.space.google_connection)
        )
        copy, more = await until(
            f"the copy in her {other} calendar",
            lambda: self._event_for(other_connection, booking),
        )
        self.say(
            f"  …and spacecal wrote it into her {other} calendar too "
            f"(event {copy}), {ms + more:.0f} ms after her change."
        )
        return booking

    async def api_booking(
        self, coworker: int, start: datetime, end: datetime, notes: str
    ) -> dict[str, Any]:
        async with httpx2.AsyncClient(
            base_url=self.stack.spacecal_url, headers=self.space.admin_headers, timeout=30
        ) as api:
            answer = await api.post(
                "/api/spaces/bookings",
                json={
                    "ResourceId": self.space.room_id,
                    "CoworkerId": coworker,
                    "FromTime": _iso(start),
                    "ToTime": _iso(end),
                    "Notes": notes,
                },
            )
        payload: dict[str, Any] = answer.json()
        if answer.status_code != 200 or not payload.get("WasSuccessful"):
            raise DemoSetupError(f"the API refused the booking: {answer.text[:300]}")
        return payload

    async def refused(self, start: datetime, end: datetime) -> None:
        bob_start, bob_end = start - timedelta(minutes=30), end - timedelta(minutes=30)
        made = await self.api_booking(self.space.bob_id, bob_start, bob_end, "Front desk")
        self.say(
            f"Bob books Meeting Room A {span(bob_start, bob_end)} at the front desk "
            f"(API, booking {made['Value']['Id']})."
        )
        title = "Design review"
        self.say(
            f"Alice creates {title!r} {span(start, end)} in her Google calendar "
            f"'{self.space.calendar_name}'…"
        )
        event_id = self._create("google", title, start, end)

        async def marked() -> tuple[str, str] | None:
            seen = self._seen("google", event_id)
            return seen if seen[0] != title else None

        (shown, description), ms = await until("the refusal mark", marked)
        async with self.stack.database.engine.connect() as conn:
            reason = await conn.scalar(
                select(EventLink.refused_reason).where(
                    EventLink.connection_id == self.space.google_connection,
                    EventLink.event_key == event_id,
                )
            )
        self.say(f"  …refused and marked, {ms:.0f} ms after her change. Reason: {reason}")
        self.say(f"  Alice now sees the title: {shown}")
        first_line = description.strip().splitlines()[0] if description.strip() else ""
        if first_line:
            self.say(f"  and the note: {first_line}")

    async def booking_everywhere(self, start: datetime, end: datetime) -> None:
        self.say(f"The front desk books Meeting Room A for Alice {span(start, end)} (API)…")
        started = time.perf_counter()
        made = await self.api_booking(self.space.alice_id, start, end, "Booked for Alice")
        booking = int(made["Value"]["Id"])
        google_event, _ = await until(
            "the Google copy", lambda: self._event_for(self.space.google_connection, booking)
        )
        microsoft_event, _ = await until(
            "the Microsoft copy", lambda: self._event_for(self.space.microsoft_connection, booking)
        )
        ms = (time.perf_counter() - started) * 1000
        google_title, _ = self._seen("google", google_event)
        microsoft_title, _ = self._seen("microsoft", microsoft_event)
        self.say(
            f"  …booking {booking} is in both of her calendars, {ms:.0f} ms after the request:"
        )
        self.say(f"     Google event    {google_event}  {google_title!r}")
        self.say(f"     Microsoft event {microsoft_event}  {microsoft_title!r}")

    async def tell(self) -> None:
        await self.member_books("google", "Team sync", tomorrow_at(10), tomorrow_at(11))
        await self.member_books("microsoft", "Client call", tomorrow_at(12), tomorrow_at(13))
        await self.refused(tomorrow_at(15, 30), tomorrow_at(16, 30))
        await self.booking_everywhere(tomorrow_at(17), tomorrow_at(18))
