"""What outbound webhooks cost a booking write, and how fast deliveries go out.

    DATABASE_URL=postgresql://... uv run python bench/outbound.py [--writes 2000]

In a fresh database on DATABASE_URL's server (dropped afterwards): N single-row
booking writes (INSERT, one transaction each, as the API and the sync commit do)
with the triggers disabled (baseline), enabled with no webhook, and enabled with one
and with five active BookingCreate webhooks (one delivery job each). Prints writes/s
and the ratio to the baseline. Then delivers the jobs of the last pass with the real
worker (concurrency 4) to a loopback receiver and prints deliveries/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import uvicorn
from cryptography.fernet import Fernet
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from spacecal.config import Settings
from spacecal.db.engine import open_database
from spacecal.db.url import to_libpq
from spacecal.providers.base import CalendarProvider
from spacecal.runner import run_worker
from spacecal.sync.runtime import SyncRuntime


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _no_provider(name: str) -> CalendarProvider:
    raise RuntimeError("no provider in this benchmark")


def _writes(url: str, n: int, offset: int) -> float:
    """Seconds for n booking inserts, one transaction each."""
    start = datetime(2030, 1, 1, tzinfo=UTC) + timedelta(days=offset)
    with psycopg.connect(url, autocommit=True) as conn:
        began = time.perf_counter()
        for i in range(n):
            at = start + timedelta(hours=i)
            conn.execute(
                "INSERT INTO bookings (resource_id, from_time, to_time, tentative, source,"
                " version, unique_id, created_on, updated_on)"
                " VALUES (1, %s, %s, false, 'api', 1, %s, %s, %s)",
                (at, at + timedelta(minutes=30), uuid.uuid4(), at, at),
            )
        return time.perf_counter() - began


def _hooks(url: str, count: int, target: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM webhooks")
        for i in range(count):
            conn.execute(
                "INSERT INTO webhooks (unique_id, created_on, updated_on, name, action, url,"
                " active, error_count) VALUES (%s, now(), now(), %s, 'BookingCreate', %s,"
                " true, 0)",
                (uuid.uuid4(), f"bench {i}", target),
            )
        conn.execute("DELETE FROM procrastinate_jobs")
        conn.execute("DELETE FROM job_outbox")


async def _deliver(settings: Settings, target_port: int) -> tuple[int, float]:
    received = 0

    async def hook(request: Request) -> Response:
        nonlocal received
        await request.body()
        received += 1
        return Response(status_code=204)

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=target_port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.02)
    db = await open_database(settings)
    try:
        rt = SyncRuntime(settings=settings, db=db, provider_for=_no_provider)
        began = time.perf_counter()
        await run_worker(rt, wait=False, periodic=False, concurrency=4)
        elapsed = time.perf_counter() - began
    finally:
        await db.dispose()
        server.should_exit = True
        await task
    return received, elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--writes", type=int, default=2000)
    args = parser.parse_args()
    server = os.environ.get("DATABASE_URL")
    if not server:
        raise SystemExit("set DATABASE_URL to a PostgreSQL server (a database is made in it)")
    name = f"bench_outbound_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(to_libpq(server), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = to_libpq(server).rsplit("/", 1)[0] + "/" + name
    settings = Settings(
        database_url=url, secret_keys=Fernet.generate_key().decode(), log_level="WARNING"
    )
    try:
        asyncio.run(_setup(settings))
        port = _free_port()
        target = f"http://127.0.0.1:{port}/hook"
        n = args.writes
        rows = []
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ALTER TABLE bookings DISABLE TRIGGER USER")
        base = _writes(url, n, 0)
        rows.append(("triggers off (baseline)", base))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ALTER TABLE bookings ENABLE TRIGGER USER")
        for offset, hooks in ((400, 0), (800, 1), (1200, 5)):
            _hooks(url, hooks, target)
            label = f"triggers on, {hooks} active webhook(s)"
            rows.append((label, _writes(url, n, offset)))
        print(f"{n} booking inserts, one transaction each")
        for label, seconds in rows:
            print(f"  {label:<34} {n / seconds:8.0f} writes/s   x{base / seconds:.2f} of baseline")
        jobs = n * 5
        received, elapsed = asyncio.run(_deliver(settings, port))
        print(f"delivered {received}/{jobs} to a loopback receiver (worker, concurrency 4):")
        print(f"  {received / elapsed:.0f} deliveries/s")
    finally:
        with psycopg.connect(to_libpq(server), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _setup(settings: Settings) -> None:
    """Migrate, and one business and resource for the bookings."""
    db = await open_database(settings)
    await db.dispose()
    url = to_libpq(settings.database_url or "")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO businesses (name, time_zone, max_booking_days_ahead, unique_id,"
            " created_on, updated_on) VALUES ('B', 'UTC', 90, %s, now(), now())",
            (uuid.uuid4(),),
        )
        conn.execute(
            "INSERT INTO resources (business_id, name, resource_type, visible, bookable,"
            " all_day_bookable, slot_step_minutes, unique_id, created_on, updated_on)"
            " VALUES (1, 'R', 'room', true, true, false, 15, %s, now(), now())",
            (uuid.uuid4(),),
        )


if __name__ == "__main__":
    main()
