"""A space on a `Fleet` (tests/support/procs.py), set up and checked over the wire.

Seeding goes through the doors an operator and a member use: the records API for the
business, rooms and members, the portal (a one-time sign-in link, the emulators'
consent pages) to connect each member's Google and Microsoft accounts and add rooms.
Members then act in their calendars through the emulators' control APIs, and the
final state is read back through the providers' own APIs (with tokens the emulators
issue for spacecal's client), so the checks see what a member would see.

`check_converged` is the invariant of issue 10: every event in a resource calendar
is exactly one live booking (same times) or visibly marked as refused; every live
booking of a connected member has exactly one event in each of their calendars for
that resource; no two live bookings of a resource overlap; no duplicate event.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import httpx2
import psycopg
from tests.support.procs import GOOGLE_CLIENT, MICROSOFT_CLIENT, Fleet
from tests.support.timing import fleet_now

from spacecal import clock
from spacecal.config import Settings
from spacecal.demo.browser import Browser
from spacecal.domain.marks import TITLE_PREFIX

ZONE = ZoneInfo("Europe/London")
OPEN_ALL_WEEK = {d: [["08:00", "20:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
ADMIN = ("admin@loopback.example", "loopback admin password")
PROVIDERS = ("google", "microsoft")


@dataclass(frozen=True)
class Seat:
    """One connection: a member's calendar for one room at one provider."""

    connection_id: int
    provider: str
    account: str
    calendar_id: str
    coworker_id: int
    resource_id: int


@dataclass
class Space:
    api: str
    token: str
    business_id: int
    rooms: list[int]
    members: list[tuple[int, str]]  # (coworker id, portal email)
    seats: list[Seat] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def fleet_time(zone: tzinfo) -> datetime:
    """What the fleet's processes read as now (tests/support/timing.py `fleet_now`),
    in `zone`."""
    return fleet_now().astimezone(zone)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def slot(day: int, half_hour: int, length: int = 1) -> tuple[datetime, datetime]:
    """A slot on the rooms' 30-minute grid: `day` days ahead, `half_hour` halves after
    08:00 London time (0..23), `length` halves long."""
    base = fleet_time(ZONE).date() + timedelta(days=day)
    start = datetime(base.year, base.month, base.day, 8, tzinfo=ZONE) + timedelta(
        minutes=30 * half_hour
    )
    return start, start + timedelta(minutes=30 * length)


def random_slot(rng: random.Random, days: int = 20) -> tuple[datetime, datetime]:
    length = rng.choice((1, 2))
    return slot(rng.randint(1, days), rng.randint(0, 24 - length), length)


async def _create(api: httpx2.AsyncClient, path: str, body: dict[str, Any]) -> int:
    answer = await api.post(f"/api/spaces/{path}", json=body)
    assert answer.status_code == 200 and answer.json().get("WasSuccessful"), answer.text
    return int(answer.json()["Value"]["Id"])


async def seed(
    fleet: Fleet, *, members: int, rooms: int, providers: tuple[str, ...] = PROVIDERS
) -> Space:
    """A business with `rooms` rooms and `members` members, each member with every
    provider connected and every room added: members × providers × rooms seats."""
    from spacecal.api.users import create_user
    from spacecal.db.engine import open_database
    from spacecal.portal.members import issue_sign_in_link

    api_url = fleet.api_urls[0]
    settings = Settings(
        database_url=fleet.database_url,
        secret_keys=fleet.secret_key,
        public_url=fleet.public_url,
        data_dir=fleet.root / "data",
    )
    db = await open_database(settings)
    # What this process writes for the fleet (sign-in links, their expiry) is read by
    # processes on the real clock: spacecal's clock here follows it while seeding.
    clock.clock.set(fleet_time(UTC))
    try:
        await create_user(db.engine, ADMIN[0], ADMIN[1], [], True)
        async with httpx2.AsyncClient(base_url=api_url, timeout=60) as http:
            answer = await http.post(
                "/api/token",
                data={"grant_type": "password", "username": ADMIN[0], "password": ADMIN[1]},
            )
            assert answer.status_code == 200, answer.text
            token = str(answer.json()["access_token"])
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx2.AsyncClient(base_url=api_url, headers=headers, timeout=60) as api:
            business = await _create(
                api,
                "businesses",
                {"Name": "Loopback", "TimeZone": "Europe/London", "MaxBookingDaysAhead": 60},
            )
            room_ids = [
                await _create(
                    api,
                    "resources",
                    {
                        "BusinessId": business,
                        "Name": f"Room {i + 1}",
                        "ResourceType": "room",
                        "TimeSlotStep": 30,
                        "OpeningHours": OPEN_ALL_WEEK,
                    },
                )
                for i in range(rooms)
            ]
            people = []
            for i in range(members):
                email = f"m{i}@loopback.example"
                people.append(
                    (
                        await _create(
                            api,
                            "coworkers",
                            {"FullName": f"Member {i}", "Email": email, "BusinessId": business},
                        ),
                        email,
                    )
                )
        space = Space(api_url, token, business, room_ids, people)
        gate = asyncio.Semaphore(4)

        async def connect(index: int, coworker: int) -> None:
            async with gate:
                link, _ = await issue_sign_in_link(db.engine, settings, coworker)
                browser = Browser(api_url)
                try:
                    page = await browser.get(link.replace(fleet.public_url, api_url))
                    assert page.status_code == 200
                    await browser.post_form("/portal/signin/link/")
                    for provider in providers:
                        await browser.connect(provider, account_email(provider, index))
                        for room in room_ids:
                            await browser.add_resource(room, provider)
                finally:
                    await browser.aclose()

        await asyncio.gather(*(connect(i, c) for i, (c, _) in enumerate(people)))
    finally:
        clock.clock.reset()
        await db.dispose()
    space.seats = load_seats(fleet.database_url)
    expected = members * rooms * len(providers)
    assert len(space.seats) == expected, f"{len(space.seats)} connections, not {expected}"
    return space


def account_email(provider: str, index: int) -> str:
    return f"m{index}@{'gmail' if provider == 'google' else 'outlook'}.test"


def load_seats(database_url: str) -> list[Seat]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT c.id, c.provider, a.email, c.calendar_id, c.coworker_id, c.resource_id"
            " FROM connections c JOIN provider_accounts a ON a.id = c.provider_account_id"
            " WHERE c.calendar_id IS NOT NULL ORDER BY c.id"
        ).fetchall()
    return [Seat(*row) for row in rows]


# -- members acting in their calendars (the emulators' control APIs) -------------------


class Calendars:
    """Member actions and provider reads against the emulator processes."""

    def __init__(self, fleet: Fleet) -> None:
        self.google = fleet.emulators["google"].base
        self.microsoft = fleet.emulators["microsoft"].base
        self.http = httpx2.AsyncClient(timeout=60)
        self._tokens: dict[tuple[str, str], str] = {}

    async def aclose(self) -> None:
        await self.http.aclose()

    async def create(self, seat: Seat, title: str, start: datetime, end: datetime) -> str:
        if seat.provider == "google":
            answer = await self.http.post(
                f"{self.google}/_control/calendars/{seat.calendar_id}/events",
                json={
                    "summary": title,
                    "start": {"dateTime": iso(start)},
                    "end": {"dateTime": iso(end)},
                },
            )
        else:
            answer = await self.http.post(
                f"{self.microsoft}/_control/microsoft/accounts/{seat.account}/events",
                json={
                    "calendar_id": seat.calendar_id,
                    "subject": title,
                    "start": iso(start),
                    "end": iso(end),
                },
            )
        assert answer.status_code in (200, 201), answer.text
        return str(answer.json()["id"])

    async def delete(self, seat: Seat, event_id: str) -> None:
        if seat.provider == "google":
            url = f"{self.google}/_control/calendars/{seat.calendar_id}/events/{event_id}"
        else:
            url = f"{self.microsoft}/_control/microsoft/accounts/{seat.account}/events/{event_id}"
        answer = await self.http.delete(url)
        assert answer.status_code in (200, 204, 404, 410), answer.text

    async def _token(self, seat: Seat) -> str:
        key = (seat.provider, seat.account)
        if key not in self._tokens:
            base = self.google if seat.provider == "google" else self.microsoft
            client = GOOGLE_CLIENT[0] if seat.provider == "google" else MICROSOFT_CLIENT[0]
            body: dict[str, Any] = {"client_id": client}
            if seat.provider == "microsoft":
                body["scopes"] = "openid email offline_access User.Read Calendars.ReadWrite"
            answer = await self.http.post(
                f"{base}/_control/accounts/{seat.account}/tokens", json=body
            )
            assert answer.status_code == 200, answer.text
            self._tokens[key] = str(answer.json()["access_token"])
        return self._tokens[key]

    async def events(self, seat: Seat) -> list[tuple[str, str, datetime, datetime]]:
        """(id, title, start, end) of every live event, as the provider's API lists them."""
        headers = {"Authorization": f"Bearer {await self._token(seat)}"}
        out: list[tuple[str, str, datetime, datetime]] = []
        if seat.provider == "google":
            url: str | None = f"{self.google}/calendar/v3/calendars/{seat.calendar_id}/events"
            params: dict[str, str] | None = {"singleEvents": "true", "maxResults": "2500"}
            while url:
                page = await self.http.get(url, params=params, headers=headers)
                assert page.status_code == 200, page.text
                body = page.json()
                for item in body.get("items", []):
                    if item.get("status") != "cancelled":
                        out.append(
                            (
                                item["id"],
                                item.get("summary", ""),
                                _parse(item["start"]["dateTime"]),
                                _parse(item["end"]["dateTime"]),
                            )
                        )
                token = body.get("nextPageToken")
                params = {**(params or {}), "pageToken": token} if token else None
                url = url if token else None
            return out
        now = fleet_time(UTC)
        url = f"{self.microsoft}/v1.0/me/calendars/{seat.calendar_id}/calendarView"
        params = {
            "startDateTime": iso(now - timedelta(days=2)),
            "endDateTime": iso(now + timedelta(days=400)),
            "$top": "1000",
        }
        while url:
            page = await self.http.get(url, params=params, headers=headers)
            assert page.status_code == 200, page.text
            body = page.json()
            for item in body.get("value", []):
                out.append(
                    (
                        item["id"],
                        item.get("subject", ""),
                        _parse(item["start"]["dateTime"]),
                        _parse(item["end"]["dateTime"]),
                    )
                )
            url, params = body.get("@odata.nextLink"), None
        return out

    async def control(self, provider: str, method: str, path: str, **kw: Any) -> Any:
        base = self.google if provider == "google" else self.microsoft
        answer = await self.http.request(method, f"{base}/_control{path}", **kw)
        assert answer.status_code < 300, answer.text
        return answer.json() if answer.content else None


def _parse(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def book_through_api(
    http: httpx2.AsyncClient, space: Space, coworker: int, room: int, start: datetime, end: datetime
) -> int | None:
    """A booking made by an operator (the records API); None when it was refused."""
    answer = await http.post(
        f"{space.api}/api/spaces/bookings",
        headers=space.headers,
        json={
            "ResourceId": room,
            "CoworkerId": coworker,
            "FromTime": iso(start),
            "ToTime": iso(end),
        },
    )
    if answer.status_code != 200:
        return None  # refused (taken slot) or the database is down
    payload = answer.json()
    return int(payload["Value"]["Id"]) if payload.get("WasSuccessful") else None


# -- the invariants -----------------------------------------------------------------


@dataclass
class Verdict:
    problems: list[str]
    events: int
    bookings: int
    refused: int

    @property
    def ok(self) -> bool:
        return not self.problems


async def check_converged(calendars: Calendars, space: Space, database_url: str) -> Verdict:
    """Compare every seat's calendar (read from the provider) with the booking store."""
    with psycopg.connect(database_url) as conn:
        bookings = conn.execute(
            "SELECT id, coworker_id, resource_id, from_time, to_time FROM bookings"
            " WHERE cancelled_at IS NULL AND to_time > now()"
        ).fetchall()
        links = conn.execute(
            "SELECT connection_id, event_key, booking_id, refused_reason FROM event_links"
        ).fetchall()
        overlaps = conn.execute(
            "SELECT a.id, b.id FROM bookings a JOIN bookings b ON a.resource_id = b.resource_id"
            " AND a.id < b.id AND a.from_time < b.to_time AND b.from_time < a.to_time"
            " WHERE a.cancelled_at IS NULL AND b.cancelled_at IS NULL"
        ).fetchall()
    problems = [f"live bookings {a} and {b} overlap" for a, b in overlaps]
    live = {b[0]: b for b in bookings}
    link_of = {(c, key): (booking, reason) for c, key, booking, reason in links}
    total_events = refused = 0
    for seat in space.seats:
        events = await calendars.events(seat)
        total_events += len(events)
        seen: dict[int, list[str]] = {}
        for event_id, title, start, end in events:
            booking_id, reason = link_of.get((seat.connection_id, event_id), (None, None))
            if title.startswith(TITLE_PREFIX):
                refused += 1
                continue
            if booking_id is None or booking_id not in live:
                why = "unlinked" if booking_id is None else f"linked to dead booking {booking_id}"
                problems.append(
                    f"{seat.provider} seat {seat.connection_id}: event {event_id} "
                    f"{title!r} {why}, not marked refused ({reason})"
                )
                continue
            _, _, _, b_start, b_end = live[booking_id]
            if (start, end) != (b_start, b_end):
                problems.append(
                    f"seat {seat.connection_id}: event {event_id} at {start}-{end}, booking "
                    f"{booking_id} at {b_start}-{b_end}"
                )
            seen.setdefault(booking_id, []).append(event_id)
        for booking_id, ids in seen.items():
            if len(ids) > 1:
                problems.append(f"seat {seat.connection_id}: booking {booking_id} has events {ids}")
        for booking_id, coworker, resource, _, _ in bookings:
            if (coworker, resource) == (
                seat.coworker_id,
                seat.resource_id,
            ) and booking_id not in seen:
                problems.append(f"seat {seat.connection_id}: booking {booking_id} has no event")
    return Verdict(problems, total_events, len(bookings), refused)


async def wait_converged(
    calendars: Calendars, space: Space, database_url: str, within: float
) -> tuple[Verdict, float]:
    """Check until converged and no sync job is queued or running, or `timeout`;
    the last verdict and the seconds it took."""
    began = asyncio.get_running_loop().time()
    while True:
        idle = jobs_idle(database_url)
        verdict = await check_converged(calendars, space, database_url)
        elapsed = asyncio.get_running_loop().time() - began
        if (verdict.ok and idle) or elapsed > within:
            return verdict, elapsed
        await asyncio.sleep(1.0)


def jobs_idle(database_url: str) -> bool:
    """No reconcile queued (due now) or running."""
    with psycopg.connect(database_url) as conn:
        busy = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'spacecal.reconcile'"
            " AND (status = 'doing' OR (status = 'todo' AND"
            " (scheduled_at IS NULL OR scheduled_at <= now())))"
        ).fetchone()
    return bool(busy) and busy[0] == 0


def stuck_jobs(database_url: str, older_than: float = 30.0) -> list[tuple[int, str, str]]:
    """Jobs stuck (id, task, status): running for over `older_than` seconds or on a
    worker that stopped beating, or runnable for that long without being picked up."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT j.id, j.task_name, j.status::text FROM procrastinate_jobs j"
            " LEFT JOIN procrastinate_workers w ON w.id = j.worker_id"
            " WHERE (j.status = 'doing' AND (w.id IS NULL"
            "   OR w.last_heartbeat < now() - make_interval(secs => %(s)s)"
            "   OR (SELECT max(e.at) FROM procrastinate_events e WHERE e.job_id = j.id)"
            "      < now() - make_interval(secs => %(s)s)))"
            " OR (j.status = 'todo' AND coalesce(j.scheduled_at, (SELECT min(e.at)"
            "   FROM procrastinate_events e WHERE e.job_id = j.id))"
            "   < now() - make_interval(secs => %(s)s))",
            {"s": older_than},
        ).fetchall()
    return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]


def overlapping_syncs(database_url: str) -> list[tuple[int, int, int]]:
    """Pairs of sync runs of one connection whose intervals overlap: (connection, a, b)."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT a.connection_id, a.id, b.id FROM sync_runs a JOIN sync_runs b"
            " ON a.connection_id = b.connection_id AND a.id < b.id"
            " AND a.started_at < b.finished_at AND b.started_at < a.finished_at"
        ).fetchall()
    return [(int(c), int(a), int(b)) for c, a, b in rows]


def today() -> date:
    return fleet_time(ZONE).date()
