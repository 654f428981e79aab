"""Polling CalDAV calendars (issue 20): what one unchanged poll costs spacecal, beside a
bare loop of the same REPORT, and how long a change takes to become a booking.

    uv run python bench/caldav_poll.py [--calendars 1000] [--concurrency 4]
                                       [--rounds 2] [--samples 40] [--profile FILE]

One Radicale (tests/support/caldav_servers.py: a subprocess on loopback, plain http,
one user) holds N calendars, each connected for its own member in a fresh database
(DATABASE_URL's server, or the embedded one). After one warm-up round (the full pull
that stores each sync-token):

- **spacecal**: `reconcile()` of every connection, `--concurrency` at a time, as the
  worker runs it for a poll: the first read (target, account, "owes nothing"), one
  sync-collection REPORT (nothing changed), one UPDATE recording the poll and
  scheduling the next.
- **bare**: the same REPORT with the same token for every calendar, on one httpx2
  client with the same concurrency: nothing else.

Rounds alternate (bare, spacecal, spacecal, bare, ...) so load on the shared machine
falls on both. polls/s = N / wall time; CPU per poll = this process's CPU time / N
(Radicale's own CPU is not counted on either side). The ratio spacecal / bare of polls/s
is the target (>= 0.5: the server should be the limit, not spacecal).

**Delay**: SPACECAL_CALDAV_POLL_SECONDS shrunk to 5 (max 900): the N calendars are
quiet (next polls spread over 900 s) except 10 recently active ones (interval 5 s).
A worker runs (procrastinate, concurrency 4) and the sweep runs every 0.5 s, as the
periodic task would with SPACECAL_SWEEP_EVERY_SECONDS below a second. Each sample
PUTs a new event into the active calendar with the shortest interval (the one last
written to: SPACECAL_CALDAV_POLL_ACTIVE_POLLS quiet polls keep it at 5 s) and waits
for its booking to be committed; the delay is from before the PUT to the booking
seen. `--samples 0` skips this part; `--profile FILE` writes a cProfile of one more
spacecal round.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx2  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402
from sqlalchemy import insert, select, text, update  # noqa: E402
from tests.support.caldav_servers import start_radicale, stop  # noqa: E402

from bench.api import drop_database, fresh_database, server_url  # noqa: E402
from spacecal import clock  # noqa: E402
from spacecal.config import Settings  # noqa: E402
from spacecal.db.models import (  # noqa: E402
    Booking,
    Business,
    Connection,
    Coworker,
    ProviderAccount,
    Resource,
)
from spacecal.jobs.reconcile import host_bucket_lock  # noqa: E402
from spacecal.providers.caldav import (  # noqa: E402
    CalDavProvider,
    caldav_http_client,
    connect_account,
)
from spacecal.providers.caldav import xml as davxml  # noqa: E402
from spacecal.providers.registry import ProviderCache  # noqa: E402
from spacecal.runner import run_worker  # noqa: E402
from spacecal.sync.reconcile.task import reconcile  # noqa: E402
from spacecal.sync.runtime import SyncRuntime  # noqa: E402
from spacecal.sync.upkeep.sweep import sweep  # noqa: E402

ACTIVE = 10


def _record() -> dict[str, Any]:
    now = clock.now()
    return {"unique_id": uuid.uuid4(), "created_on": now, "updated_on": now}


async def make_calendars(provider: CalDavProvider, secret: str, n: int) -> list[str]:
    gate = asyncio.Semaphore(8)

    async def one(i: int) -> str:
        async with gate:
            made = await provider.create_calendar(secret, f"Bench {i} · Riverside", "UTC")
            return made.id

    return list(await asyncio.gather(*(one(i) for i in range(n))))


async def seed(db: Any, settings: Settings, secret: str, calendars: list[str], url: str) -> None:
    now = clock.now()
    host = url.split("//", 1)[1].split("/", 1)[0].split(":")[0]
    async with db.engine.begin() as conn:
        business = await conn.scalar(
            insert(Business)
            .values(name="Riverside", time_zone="UTC", max_booking_days_ahead=90, **_record())
            .returning(Business.id)
        )
        enc = db.cipher.encrypt(secret)
        for i, calendar in enumerate(calendars):
            # A resource per calendar: a booking in one calendar would otherwise owe
            # every other calendar of its resource an availability block (issue 19's
            # fan-out, bench/availability.py), and the delay measured here would be
            # that fan-out's queue instead of the poll.
            resource = await conn.scalar(
                insert(Resource)
                .values(business_id=business, name=f"Room {i}", slot_step_minutes=5, **_record())
                .returning(Resource.id)
            )
            member = await conn.scalar(
                insert(Coworker)
                .values(
                    business_id=business,
                    full_name=f"Member {i}",
                    email=f"m{i}@example.com",
                    **_record(),
                )
                .returning(Coworker.id)
            )
            account = await conn.scalar(
                insert(ProviderAccount)
                .values(
                    coworker_id=member,
                    provider="caldav",
                    email="ann",
                    subject=f"bench-{i}",
                    refresh_token_enc=enc,
                    access_token_enc=enc,
                    access_token_expires_at=datetime(9999, 1, 1, tzinfo=UTC),
                    scopes=[],
                    status="active",
                    server_url=url,
                    username="ann",
                    created_at=now,
                    updated_at=now,
                )
                .returning(ProviderAccount.id)
            )
            assert account is not None
            await conn.execute(
                update(ProviderAccount)
                .where(ProviderAccount.id == account)
                .values(job_lock=host_bucket_lock(host, int(account), settings.caldav_host_locks))
            )
            await conn.execute(
                insert(Connection).values(
                    provider="caldav",
                    resource_id=resource,
                    coworker_id=member,
                    name=f"Bench {i} · Riverside",
                    calendar_id=calendar,
                    verified_calendar_id=calendar,
                    verified_account_id=account,
                    provider_account_id=account,
                    push_supported=False,
                    server_url=url,
                    username="ann",
                    health="healthy",
                    **_record(),
                )
            )


async def spacecal_round(rt: SyncRuntime, ids: list[int], concurrency: int) -> tuple[float, float]:
    gate = asyncio.Semaphore(concurrency)

    async def one(connection_id: int) -> None:
        async with gate:
            outcome = await reconcile(rt, connection_id)
            assert outcome.status == "ok", outcome

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(i) for i in ids))
    return time.perf_counter() - wall, time.process_time() - cpu


async def bare_round(
    http: httpx2.AsyncClient, targets: list[tuple[str, str]], concurrency: int
) -> tuple[float, float]:
    gate = asyncio.Semaphore(concurrency)

    async def one(url: str, token: str) -> None:
        async with gate:
            answer = await http.request(
                "REPORT",
                url,
                content=davxml.sync_collection(token),
                headers={"Depth": "1", "Content-Type": "application/xml; charset=utf-8"},
            )
            assert answer.status_code == 207, answer.text
            davxml.multistatus(answer.content)  # read it, as a client would

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(u, t) for u, t in targets))
    return time.perf_counter() - wall, time.process_time() - cpu


async def delay_samples(rt: SyncRuntime, http: httpx2.AsyncClient, samples: int) -> list[float]:
    """Seconds from a member's PUT to the committed booking, for active calendars."""
    engine = rt.db.engine
    now = clock.now()
    async with engine.begin() as conn:
        ids = list((await conn.scalars(select(Connection.id).order_by(Connection.id))).all())
        rng = random.Random(1)
        for cid in ids:  # quiet: spread over the maximum interval
            await conn.execute(
                update(Connection)
                .where(Connection.id == cid)
                .values(
                    poll_interval_seconds=900,
                    poll_next_at=now + timedelta(seconds=rng.uniform(0, 900)),
                )
            )
        await conn.execute(
            update(Connection)
            .where(Connection.id.in_(ids[:ACTIVE]))
            .values(poll_interval_seconds=5, poll_next_at=now)
        )
    worker = asyncio.create_task(run_worker(rt, concurrency=4, periodic=False))
    stop_sweep = asyncio.Event()

    async def sweeping() -> None:
        while not stop_sweep.is_set():
            await sweep(rt)
            await asyncio.sleep(0.5)

    sweeper = asyncio.create_task(sweeping())
    delays: list[float] = []
    intervals: list[int] = []
    by_interval: dict[int, list[float]] = {}
    try:
        await asyncio.sleep(6)  # the active calendars' first polls
        day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        for i in range(samples):
            async with engine.connect() as conn:
                active = (
                    await conn.execute(
                        select(Connection.calendar_id, Connection.poll_interval_seconds)
                        .where(Connection.id.in_(ids[:ACTIVE]))
                        .order_by(Connection.poll_interval_seconds, Connection.poll_next_at)
                    )
                ).all()
            # The most recently active calendar (the shortest interval: 5 s after a
            # change, 10 s after one quiet poll).
            calendar, interval = active[0]
            intervals.append(int(interval))
            uid = f"bench-{uuid.uuid4().hex}"
            start = day + timedelta(days=2 + i // 20, hours=i % 20, minutes=0)
            stamp = "%Y%m%dT%H%M%SZ"
            ics = (
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\n"
                f"UID:{uid}\r\nDTSTAMP:{start.strftime(stamp)}\r\n"
                f"DTSTART:{start.strftime(stamp)}\r\n"
                f"DTEND:{(start + timedelta(minutes=30)).strftime(stamp)}\r\n"
                "SUMMARY:Bench\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
            )
            began = time.perf_counter()
            answer = await http.put(
                f"{calendar}{uid}.ics", content=ics.encode(), headers={"If-None-Match": "*"}
            )
            assert answer.status_code in (201, 204), answer.text
            while True:
                async with engine.connect() as conn:
                    found = await conn.scalar(
                        select(Booking.id).where(Booking.caldav_event_id.like(f"%{uid}%"))
                    )
                if found is not None:
                    break
                if time.perf_counter() - began > 60:
                    async with engine.connect() as conn:
                        jobs = (
                            await conn.execute(
                                text(
                                    "SELECT status, count(*) FROM procrastinate_jobs"
                                    " GROUP BY status"
                                )
                            )
                        ).all()
                        rows = (
                            await conn.execute(
                                select(
                                    Connection.id,
                                    Connection.health,
                                    Connection.last_error,
                                    Connection.poll_next_at,
                                    Connection.last_poll_at,
                                ).where(Connection.calendar_id == calendar)
                            )
                        ).all()
                        keys = (await conn.scalars(select(Booking.caldav_event_id).limit(3))).all()
                    raise AssertionError(f"no booking for {uid} within 60 s: {jobs} {rows} {keys}")
                await asyncio.sleep(0.02)
            delays.append(time.perf_counter() - began)
            by_interval.setdefault(int(interval), []).append(delays[-1])
            await asyncio.sleep(random.uniform(0.2, 1.0))
    finally:
        stop_sweep.set()
        await sweeper
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
    print(f"intervals of the calendars written to: {sorted(set(intervals))} s")
    for interval, found in sorted(by_interval.items()):
        found.sort()
        p95 = found[max(0, int(len(found) * 0.95) - 1)]
        print(
            f"  interval {interval} s: {len(found)} samples, p50 "
            f"{statistics.median(found):.2f} s, p95 {p95:.2f} s"
        )
    return delays


async def main(
    n: int, concurrency: int, rounds: int, samples: int, profile: str | None = None
) -> None:
    from spacecal.db.engine import open_database

    server = start_radicale()
    tmp = Path(tempfile.mkdtemp(prefix="spacecal-bench-caldav-"))
    pg = server_url(tmp)
    url = fresh_database(pg)
    settings = Settings(
        database_url=url,
        secret_keys=Fernet.generate_key().decode(),
        allow_private_targets=True,
        caldav_poll_seconds=5.0,
        caldav_poll_max_seconds=900.0,
        db_pool_size=max(concurrency + 4, 8),
    )
    db = await open_database(settings)
    http = caldav_http_client(settings)
    try:
        credentials, _ = await connect_account(
            http, server.url, server.username, server.password, settings=settings
        )
        secret = credentials.to_secret()
        provider = CalDavProvider(settings, http)
        began = time.perf_counter()
        calendars = await make_calendars(provider, secret, n)
        print(f"{n} calendars made on Radicale in {time.perf_counter() - began:.1f} s")
        await seed(db, settings, secret, calendars, server.url)
        rt = SyncRuntime(settings, db, ProviderCache(settings, http))
        async with db.engine.connect() as conn:
            ids = list((await conn.scalars(select(Connection.id).order_by(Connection.id))).all())
        await spacecal_round(rt, ids, concurrency)  # warm-up: the full pulls
        async with db.engine.connect() as conn:
            targets = [
                (r.calendar_id, r.event_sync_token)
                for r in (
                    await conn.execute(
                        select(Connection.calendar_id, Connection.event_sync_token).order_by(
                            Connection.id
                        )
                    )
                ).all()
            ]
        bare = httpx2.AsyncClient(auth=(server.username, server.password), timeout=30)
        results: dict[str, list[tuple[float, float]]] = {"bare": [], "spacecal": []}
        for r in range(rounds):
            order = ("bare", "spacecal") if r % 2 == 0 else ("spacecal", "bare")
            for name in order:
                if name == "bare":
                    results[name].append(await bare_round(bare, targets, concurrency))
                else:
                    results[name].append(await spacecal_round(rt, ids, concurrency))
        await bare.aclose()
        print(f"\nUnchanged polls of {n} calendars, concurrency {concurrency}, {rounds} rounds:")
        print(f"{'':<10} {'polls/s':>9} {'CPU ms/poll':>12}")
        summary = {}
        for name, runs in results.items():
            rate = statistics.median(n / wall for wall, _ in runs)
            cpu = statistics.median(c * 1000 / n for _, c in runs)
            summary[name] = rate
            print(f"{name:<10} {rate:>9.0f} {cpu:>12.2f}")
        print(f"ratio spacecal / bare (polls/s): {summary['spacecal'] / summary['bare']:.2f}")
        if profile:
            # One more spacecal round under cProfile (not counted above).
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
            await spacecal_round(rt, ids, concurrency)
            profiler.disable()
            profiler.dump_stats(profile)
            print(f"profile of one spacecal round written to {profile}")
        if samples <= 0:
            return

        async with bare_client(server) as member_app:
            delays = await delay_samples(rt, member_app, samples)
        delays.sort()
        p95 = delays[max(0, int(len(delays) * 0.95) - 1)]
        print(
            f"\nChange to booking, interval 5 s, {ACTIVE} active of {n}: "
            f"{len(delays)} samples, p50 {statistics.median(delays):.2f} s, "
            f"p95 {p95:.2f} s, max {delays[-1]:.2f} s"
        )
    finally:
        await http.aclose()
        await db.dispose()
        drop_database(pg, url)
        stop(server)


def bare_client(server: Any) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(auth=(server.username, server.password), timeout=30)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calendars", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--samples", type=int, default=40, help="0: no delay measurement")
    parser.add_argument("--profile", help="write a cProfile of one more spacecal round here")
    args = parser.parse_args()
    asyncio.run(main(args.calendars, args.concurrency, args.rounds, args.samples, args.profile))
