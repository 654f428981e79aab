"""Availability fan-out on real processes (issue 19, item 4): one room, many calendars.

    uv run python bench/availability.py [--members 200] [--workers 2] [--concurrency 4]
        [--apis 1] [--fill-bookings 300] [--idle 30] [--moves 10]

Starts a deployment on loopback (tests/support/procs.py): both emulators with the
providers' quotas on (Google 600 requests per minute per user, 403
userRateLimitExceeded; Graph 4 concurrent requests per mailbox, 429 + Retry-After),
`--apis` `spacecal serve --no-worker` and `--workers` `spacecal worker --concurrency
N` processes against a fresh database (DATABASE_URL's server, else an embedded one).
`--members` members connect one room each through the portal, half Google, half
Microsoft. Then, each figure printed beside its target:

1. fan-out: one booking made through the records API; per calendar, the time from
   the request (the commit is inside it) to the first event write the emulator logged
   for that calendar's account: p50, p95, max over the other members' calendars
   (target p95 ≤ 3 s), and how many calendars got one at all;
2. writes per calendar per change, once settled (target 1);
3. the same booking moved `--moves` times within a second: writes per calendar
   (target ≤ 2) once settled;
4. a second room holding `--fill-bookings` bookings (made by members not connected
   to it); a new member connects it (Google, then Microsoft): the seconds from the
   portal's "add" to the calendar holding them all (target ≤ 5 s);
5. idle: after settling, `--idle` seconds with no change: provider writes and reads
   (target 0 and 0: no echo loop).

The event write calls are read from the emulators' call logs (`/_control/calls`),
on the emulators' clock, which runs with the fleet's (tests/support/timing.py).
Benchmarks are not tests: bounded in count and time, loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx2  # noqa: E402
import psycopg  # noqa: E402

WRITES = ("POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class Member:
    coworker: int
    provider: str
    account: str
    calendar: str = ""


def _event_write(call: dict[str, Any]) -> bool:
    """An event written into a calendar (not a subscription, watch or token)."""
    path = str(call["path"])
    if call["method"] not in WRITES or int(call["status"]) >= 400:
        return False
    if path.startswith("/calendar/v3/"):
        return "/events" in path and not path.endswith(("/watch", "/channels/stop"))
    if path.startswith("/v1.0/"):
        return "/events" in path or path.endswith("/$batch")
    return False


def _api_call(call: dict[str, Any]) -> bool:
    path = str(call["path"])
    return path.startswith(("/calendar/v3/", "/v1.0/"))


def _when(call: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(call["time"]))


class Logs:
    """Both emulators' call logs."""

    def __init__(self, fleet: Any) -> None:
        self.bases = {p: fleet.emulators[p].base for p in ("google", "microsoft")}
        self.http = httpx2.AsyncClient(timeout=120)

    async def clear(self) -> None:
        for base in self.bases.values():
            (await self.http.delete(base + "/_control/calls")).raise_for_status()

    async def calls(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for provider, base in self.bases.items():
            answer = await self.http.get(base + "/_control/calls")
            answer.raise_for_status()
            out.extend({**c, "provider": provider} for c in answer.json())
        return out

    async def aclose(self) -> None:
        await self.http.aclose()


def _quotas(fleet: Any) -> None:
    google, microsoft = fleet.emulators["google"].base, fleet.emulators["microsoft"].base
    with httpx2.Client(timeout=10) as http:
        http.post(google + "/_control/limits", json={"requests_per_minute": 600}).raise_for_status()
        http.post(
            microsoft + "/_control/microsoft/throttle", json={"limit": 4, "retry_after": 1}
        ).raise_for_status()


async def _seed(fleet: Any, members: int, fill_bookings: int) -> dict[str, Any]:
    """A business with two rooms; `members` members (alternately Google and Microsoft)
    connected to the first room through the portal; `fill_bookings` bookings of the
    second room by those members (nobody connected to it)."""
    from tests.support.loopback import ADMIN, OPEN_ALL_WEEK, _create, account_email
    from tests.support.timing import fleet_now

    from spacecal import clock
    from spacecal.api.users import create_user
    from spacecal.config import Settings
    from spacecal.db.engine import open_database
    from spacecal.demo.browser import Browser
    from spacecal.portal.members import issue_sign_in_link

    api_url = fleet.api_urls[0]
    settings = Settings(
        database_url=fleet.database_url,
        secret_keys=fleet.secret_key,
        public_url=fleet.public_url,
        data_dir=fleet.root / "data",
    )
    db = await open_database(settings)
    clock.clock.set(fleet_now())
    try:
        await create_user(db.engine, ADMIN[0], ADMIN[1], [], True)
        async with httpx2.AsyncClient(base_url=api_url, timeout=60) as http:
            answer = await http.post(
                "/api/token",
                data={"grant_type": "password", "username": ADMIN[0], "password": ADMIN[1]},
            )
            answer.raise_for_status()
            token = str(answer.json()["access_token"])
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx2.AsyncClient(base_url=api_url, headers=headers, timeout=60) as api:
            business = await _create(
                api,
                "businesses",
                {"Name": "Availability", "TimeZone": "Europe/London", "MaxBookingDaysAhead": 60},
            )
            rooms = [
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
                for i in range(2)
            ]
            people: list[Member] = []
            for i in range(members + 2):  # two more: the late joiners of the fill
                provider = "google" if i % 2 == 0 else "microsoft"
                coworker = await _create(
                    api,
                    "coworkers",
                    {
                        "FullName": f"Member {i}",
                        "Email": f"m{i}@availability.example",
                        "BusinessId": business,
                    },
                )
                people.append(Member(coworker, provider, account_email(provider, i)))

        async def browser_for(member: Member) -> Any:
            link, _ = await issue_sign_in_link(db.engine, settings, member.coworker)
            browser = Browser(api_url)
            page = await browser.get(link.replace(fleet.public_url, api_url))
            assert page.status_code == 200
            await browser.post_form("/portal/signin/link/")
            await browser.connect(member.provider, member.account)
            return browser

        gate = asyncio.Semaphore(6)

        retried: list[str] = []

        async def connect(member: Member) -> None:
            async with gate:
                browser = await browser_for(member)
                try:
                    for attempt in range(3):
                        try:
                            await browser.add_resource(rooms[0], member.provider)
                            return
                        except Exception as exc:  # noted and tried again, like a member
                            retried.append(f"{member.account}: {str(exc)[:80]}")
                            if attempt == 2:
                                raise
                            await asyncio.sleep(2)
                finally:
                    await browser.aclose()

        began = time.monotonic()
        await asyncio.gather(*(connect(m) for m in people[:members]))
        print(
            f"seeded {members} members on room 1 through the portal in "
            f"{time.monotonic() - began:.0f} s ({len(retried)} adds tried again: "
            f"{retried[:3]})",
            flush=True,
        )
        late = []
        for member in people[members:]:
            late.append((member, await browser_for(member)))
    finally:
        clock.clock.reset()
        await db.dispose()
    return {
        "api": api_url,
        "headers": headers,
        "business": business,
        "rooms": rooms,
        "members": people[:members],
        "late": late,
        "fill_bookings": fill_bookings,
    }


def _calendars(db_url: str) -> dict[int, tuple[str, str, str]]:
    """coworker → (provider, account, calendar) of room-1 connections."""
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT c.coworker_id, c.provider, a.email, c.calendar_id FROM connections c"
            " JOIN provider_accounts a ON a.id = c.provider_account_id"
            " WHERE c.calendar_id IS NOT NULL"
        ).fetchall()
    return {int(r[0]): (str(r[1]), str(r[2]), str(r[3])) for r in rows}


def _busy(db_url: str) -> int:
    """Work still queued or running: due reconcile jobs, undispatched marks and
    (when the blocks' outbox exists) unexpanded booking changes."""
    with psycopg.connect(db_url) as conn:
        jobs = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing'"
            " OR (status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now()"
            " + interval '5 seconds'))"
        ).fetchone()
        marks = conn.execute(
            "SELECT count(*) FROM connections WHERE sync_requested_at IS NOT NULL"
        ).fetchone()
        outbox = 0
        exists = conn.execute("SELECT to_regclass('booking_changes')").fetchone()
        if exists and exists[0]:
            row = conn.execute("SELECT count(*) FROM booking_changes").fetchone()
            outbox = int(row[0]) if row else 0
    return int(jobs[0] if jobs else 0) + int(marks[0] if marks else 0) + outbox


async def _settle(db_url: str, logs: Logs, within: float, quiet: float = 3.0) -> float:
    """Until nothing is queued and the emulators logged no call for `quiet` seconds."""
    began = time.monotonic()
    last_count, still_since = -1, time.monotonic()
    while time.monotonic() - began < within:
        count = len(await logs.calls())
        if count != last_count or _busy(db_url):
            last_count, still_since = count, time.monotonic()
        elif time.monotonic() - still_since >= quiet:
            return time.monotonic() - began
        await asyncio.sleep(0.5)
    print(f"  (not settled within {within:.0f} s)", flush=True)
    return time.monotonic() - began


def _writes_by_account(calls: list[dict[str, Any]]) -> Counter[str]:
    return Counter(str(c["account"]) for c in calls if _event_write(c))


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _slot(days: int, half_hour: int) -> tuple[datetime, datetime]:
    from tests.support.loopback import slot

    return slot(days, half_hour)


async def _book(seeded: dict[str, Any], coworker: int, room: int, days: int, half: int) -> int:
    from tests.support.loopback import iso

    start, end = _slot(days, half)
    async with httpx2.AsyncClient(timeout=60) as http:
        answer = await http.post(
            f"{seeded['api']}/api/spaces/bookings",
            headers=seeded["headers"],
            json={
                "ResourceId": room,
                "CoworkerId": coworker,
                "FromTime": iso(start),
                "ToTime": iso(end),
            },
        )
    assert answer.status_code == 200 and answer.json()["WasSuccessful"], answer.text
    return int(answer.json()["Value"]["Id"])


async def fan_out(
    seeded: dict[str, Any], logs: Logs, db_url: str, round_: int = 0
) -> dict[str, Any]:
    from tests.support.timing import fleet_now

    members: list[Member] = seeded["members"]
    calendars = _calendars(db_url)
    booker = members[0]
    others = {calendars[m.coworker][1] for m in members[1:] if m.coworker in calendars}
    own = calendars[booker.coworker][1]
    await logs.clear()
    sent = fleet_now()
    # Each round its own slot (an hour apart), so no round's booking is refused.
    booking = await _book(seeded, booker.coworker, seeded["rooms"][0], 2, 4 + 2 * round_)
    answered = fleet_now()
    first: dict[str, datetime] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(first) < len(others) + 1:
        for call in await logs.calls():
            account = str(call["account"])
            if _event_write(call) and account not in first:
                first[account] = _when(call)
        await asyncio.sleep(0.25)
    latencies = [(first[a] - sent).total_seconds() for a in others if a in first]
    settled_in = await _settle(db_url, logs, 120)
    writes = _writes_by_account(await logs.calls())
    per_calendar = [writes.get(a, 0) for a in others]
    return {
        "booking": booking,
        "others": len(others),
        "reached": len(latencies),
        "api_seconds": (answered - sent).total_seconds(),
        "own_seconds": (first[own] - sent).total_seconds() if own in first else None,
        "p50": statistics.median(latencies) if latencies else None,
        "p95": _pct(latencies, 0.95) if latencies else None,
        "max": max(latencies) if latencies else None,
        "writes_per_calendar": statistics.mean(per_calendar) if per_calendar else 0.0,
        "writes_max": max(per_calendar) if per_calendar else 0,
        "own_writes": writes.get(own, 0),
        "settled_in": settled_in,
    }


async def moves(
    seeded: dict[str, Any], logs: Logs, db_url: str, booking: int, count: int
) -> dict[str, Any]:
    from tests.support.loopback import iso

    members: list[Member] = seeded["members"]
    calendars = _calendars(db_url)
    others = {calendars[m.coworker][1] for m in members[1:] if m.coworker in calendars}
    await logs.clear()
    url = f"{seeded['api']}/api/spaces/bookings"
    async with httpx2.AsyncClient(timeout=60, headers=seeded["headers"]) as http:
        record = (await http.get(f"{url}/{booking}")).json()
        began = time.monotonic()
        for i in range(count):
            start, end = _slot(3, 1 + i)
            record = {**record, "FromTime": iso(start), "ToTime": iso(end)}
            answer = await http.put(url, json=record)
            assert answer.status_code == 200, answer.text
            record = (await http.get(f"{url}/{booking}")).json()
        took = time.monotonic() - began
    await _settle(db_url, logs, 120)
    writes = _writes_by_account(await logs.calls())
    per_calendar = [writes.get(a, 0) for a in others]
    return {
        "moves": count,
        "seconds": took,
        "writes_per_calendar": statistics.mean(per_calendar) if per_calendar else 0.0,
        "writes_max": max(per_calendar) if per_calendar else 0,
        "calendars_written": sum(1 for w in per_calendar if w),
    }


async def fill(seeded: dict[str, Any], logs: Logs, db_url: str) -> list[dict[str, Any]]:
    """Bookings of room 2 by the seeded members, then each late member adds room 2."""
    members: list[Member] = seeded["members"]
    room = seeded["rooms"][1]
    count = seeded["fill_bookings"]
    made = 0
    for i in range(count):  # 22 half-hours a day (08:00-19:00), over the next 14 days
        day, half = 1 + i // 22, i % 22
        if day > 13:
            break
        await _book(seeded, members[i % len(members)].coworker, room, day, half)
        made += 1
    await _settle(db_url, logs, 120)
    out = []
    for member, browser in seeded["late"]:
        await logs.clear()
        began = time.monotonic()
        try:
            await browser.add_resource(room, member.provider)
        except Exception as exc:  # the figure says so; the other parts go on
            print(f"  fill ({member.provider}): adding the room failed: {exc}", flush=True)
        added = time.monotonic() - began
        account = member.account
        held = 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            calls = await logs.calls()
            held = sum(1 for c in calls if c["account"] == account and _event_write(c))
            if held >= made:
                break
            await asyncio.sleep(0.1)
        out.append(
            {
                "provider": member.provider,
                "bookings": made,
                "written": held,
                "portal_seconds": added,
                "seconds": time.monotonic() - began,
            }
        )
        await browser.aclose()
    return out


async def idle(logs: Logs, db_url: str, seconds: float) -> dict[str, Any]:
    await _settle(db_url, logs, 180)
    await logs.clear()
    await asyncio.sleep(seconds)
    calls = [c for c in await logs.calls() if _api_call(c)]
    return {
        "seconds": seconds,
        "writes": sum(1 for c in calls if _event_write(c)),
        "reads": sum(1 for c in calls if c["method"] == "GET"),
    }


async def _limit_answers(logs: Logs) -> dict[str, int]:
    calls = await logs.calls()
    return {
        "google_403": sum(1 for c in calls if c["provider"] == "google" and c["status"] == 403),
        "microsoft_429": sum(
            1 for c in calls if c["provider"] == "microsoft" and c["status"] == 429
        ),
    }


async def run(args: argparse.Namespace, fleet: Any, db_url: str) -> None:
    seeded = await _seed(fleet, args.members, args.fill_bookings)
    logs = Logs(fleet)
    try:
        print(f"  settled after seeding in {await _settle(db_url, logs, 600):.0f} s", flush=True)
        rounds = []
        for round_ in range(args.rounds):
            rounds.append(await _fan_out_round(seeded, logs, db_url, round_))
        if len(rounds) > 1:
            p95s = sorted(r["p95"] or 0.0 for r in rounds)
            print(
                f"fan-out over {len(rounds)} rounds: p95 median {statistics.median(p95s):.2f} s, "
                f"best {p95s[0]:.2f} s, worst {p95s[-1]:.2f} s; p50 median "
                f"{statistics.median(r['p50'] or 0.0 for r in rounds):.2f} s",
                flush=True,
            )
        m = await moves(seeded, logs, db_url, rounds[0]["booking"], args.moves)
        print(
            f"moves: {m['moves']} moves in {m['seconds']:.2f} s → writes per calendar "
            f"{m['writes_per_calendar']:.2f} on average, at most {m['writes_max']} "
            f"(target ≤ 2); calendars written {m['calendars_written']}",
            flush=True,
        )
        for f in await fill(seeded, logs, db_url):
            print(
                f"fill ({f['provider']}): {f['written']}/{f['bookings']} events written "
                f"{f['seconds']:.2f} s after 'add' (target ≤ 5 s; the portal answered in "
                f"{f['portal_seconds']:.2f} s)",
                flush=True,
            )
        i = await idle(logs, db_url, args.idle)
        print(
            f"idle {i['seconds']:.0f} s after settling: {i['writes']} provider writes, "
            f"{i['reads']} reads (target 0 and 0)",
            flush=True,
        )
        print(f"  quota answers over the run: {await _limit_answers(logs)}", flush=True)
    finally:
        await logs.aclose()


async def _fan_out_round(
    seeded: dict[str, Any], logs: Logs, db_url: str, round_: int
) -> dict[str, Any]:
    """One booking's fan-out, measured and printed."""
    r = await fan_out(seeded, logs, db_url, round_)
    limits = await _limit_answers(logs)
    print(
        f"fan-out: 1 booking → {r['reached']}/{r['others']} other calendars written; "
        f"commit→write p50 {r['p50'] or 0:.2f} s, p95 {r['p95'] or 0:.2f} s "
        f"(target ≤ 3 s), max {r['max'] or 0:.2f} s; the API answered in "
        f"{r['api_seconds']:.2f} s; the booker's own calendar "
        f"{r['own_seconds'] if r['own_seconds'] is None else round(r['own_seconds'], 2)} s",
        flush=True,
    )
    print(
        f"  writes per calendar per change: {r['writes_per_calendar']:.2f} on average, "
        f"at most {r['writes_max']} (target 1); the booker's calendar {r['own_writes']}; "
        f"settled in {r['settled_in']:.1f} s; quota answers {limits}",
        flush=True,
    )
    return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--apis", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--fill-bookings", type=int, default=300)
    parser.add_argument("--moves", type=int, default=10)
    parser.add_argument("--idle", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument(
        "--rounds", type=int, default=1, help="fan-outs measured one after another (medians)"
    )
    parser.add_argument(
        "--knob",
        action="append",
        default=[],
        metavar="SPACECAL_NAME=VALUE",
        help="a setting for every spacecal process (config.py), e.g. to compare values",
    )
    args = parser.parse_args()

    from tests.support.procs import EmbeddedServer, fleet

    from spacecal.db.url import to_libpq

    embedded = None
    server = os.environ.get("DATABASE_URL")
    if not server:
        embedded = EmbeddedServer()
        server = embedded.url
    name = f"spacecal_availability_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(to_libpq(server), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db_url = urlsplit(to_libpq(server))._replace(path="/" + name).geturl()
    print(
        f"bench/availability.py on {os.cpu_count()} cores, {datetime.now(UTC):%Y-%m-%d}, "
        f"database: {'DATABASE_URL' if embedded is None else 'embedded'}; {args.apis} API + "
        f"{args.workers} worker processes (concurrency {args.concurrency}); "
        f"{args.members} members (half Google, half Microsoft) on one room; quotas on"
        + "".join(f"; {k}" for k in args.knob),
        flush=True,
    )
    knobs = {"SPACECAL_DB_POOL_SIZE": "10"}
    for knob in args.knob:
        name, sep, value = knob.partition("=")
        if not sep or not name.startswith("SPACECAL_"):
            parser.error(f"--knob {knob!r}: expected SPACECAL_NAME=VALUE")
        knobs[name] = value
    try:
        with fleet(db_url, knobs=knobs, seed=args.seed) as f:
            _quotas(f)
            for _ in range(args.apis):
                f.start_api()
            for _ in range(args.workers):
                f.start_worker(args.concurrency)
            asyncio.run(run(args, f, db_url))
    finally:
        with psycopg.connect(to_libpq(server), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if embedded is not None:
            embedded.close()


if __name__ == "__main__":
    main()
