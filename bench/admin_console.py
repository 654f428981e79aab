"""Admin console: how long its pages take with many connections.

Seeds a fresh database (DATABASE_URL's server, or the embedded one) with N
connections over 10 businesses, one calendar account per member and provider, a mix
of healths (2% failing, ~1% needs reconnect, 1% expiring, 1% with a queued reconcile)
and N finished jobs in procrastinate's table (what a week of syncs leaves before
pruning). Then times, median of 5 after a warm-up: the list's queries (first page,
filtered by health, searched), the summary, one connection, and the whole pages
through the app (ASGI, signed in as a full admin).

    uv run python -m bench.admin_console --connections 100000
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
import psycopg
from cryptography.fernet import Fernet

from bench.api import fresh_database, server_url


def seed(url: str, n: int) -> None:
    from spacecal.db.migrate import upgrade

    upgrade(url)
    members = max(1, n // 2)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO businesses (name, time_zone, max_booking_days_ahead, unique_id,"
            " created_on, updated_on) SELECT 'Location ' || g, 'Europe/London', 90,"
            " gen_random_uuid(), now(), now() FROM generate_series(1, 10) g"
        )
        conn.execute(
            "INSERT INTO resources (business_id, name, resource_type, visible, bookable,"
            " all_day_bookable, slot_step_minutes, unique_id, created_on, updated_on)"
            " SELECT 1 + g % 10, 'Room ' || g, 'room', true, true, false, 15,"
            " gen_random_uuid(), now(), now() FROM generate_series(1, 500) g"
        )
        conn.execute(
            "INSERT INTO coworkers (business_id, full_name, email, unique_id, created_on,"
            " updated_on) SELECT 1 + g %% 10, 'Member ' || g, 'm' || g || '@example.com',"
            " gen_random_uuid(), now(), now() FROM generate_series(1, %s) g",
            (members,),
        )
        # Account 2c-1 is member c's Google account, 2c their Microsoft one.
        conn.execute(
            "INSERT INTO provider_accounts (coworker_id, provider, email, status, scopes,"
            " created_at, updated_at) SELECT c, p, 'm' || c || '@' || p || '.test',"
            " CASE WHEN c %% 97 = 0 THEN 'needs_reconnect' ELSE 'active' END, '{}', now(),"
            " now() FROM generate_series(1, %s) c, unnest(ARRAY['google', 'microsoft']) p"
            " ORDER BY c, p",
            (members,),
        )
        conn.execute(
            "INSERT INTO connections (provider, resource_id, coworker_id, name,"
            " subscription_id, calendar_id, subscription_expire_date, provider_account_id,"
            " health, last_error, push_supported, last_sync_at, last_notification_at,"
            " unique_id, created_on, updated_on)"
            " SELECT p, 1 + g %% 500, c, 'Room ' || (1 + g %% 500) || ' · ' || g,"
            " 'chan-' || g, 'cal-' || g, now() + CASE WHEN g %% 100 = 1 THEN interval '1 hour'"
            " ELSE interval '3 days' END, 2 * c - CASE WHEN p = 'google' THEN 1 ELSE 0 END,"
            " CASE WHEN g %% 50 = 0 THEN 'failing' ELSE 'healthy' END,"
            " CASE WHEN g %% 50 = 0 THEN 'GraphUnavailable: 503' END, true,"
            " now() - interval '5 minutes', now() - interval '6 minutes',"
            " gen_random_uuid(), now(), now()"
            " FROM (SELECT g, 1 + (g - 1) %% %s AS c, CASE WHEN g <= %s THEN 'google'"
            " ELSE 'microsoft' END AS p FROM generate_series(1, %s) g) s",
            (members, members, n),
        )
        conn.execute(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, lock, queueing_lock,"
            " args, status, attempts) SELECT 'sync', 'spacecal.reconcile',"
            " 'account:' || provider_account_id, 'reconcile:' || id,"
            " jsonb_build_object('connection_id', id),"
            " CASE WHEN id % 100 = 7 THEN 'todo' ELSE 'succeeded' END"
            "::procrastinate_job_status, 1 FROM connections"
        )
        conn.execute("ANALYZE")


async def timed(label: str, call: Callable[[], Awaitable[Any]], rounds: int = 5) -> float:
    await call()  # warm-up
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    median = statistics.median(samples)
    print(f"  {label:<44} {median:8.1f} ms  (min {min(samples):.1f}, max {max(samples):.1f})")
    return median


async def measure(url: str, n: int) -> None:
    from spacecal import clock
    from spacecal.admin import data
    from spacecal.api.users import create_user
    from spacecal.app import create_app
    from spacecal.config import Settings
    from spacecal.db.engine import open_database

    settings = Settings(
        database_url=url,
        secret_keys=Fernet.generate_key().decode(),
        data_dir=Path(tempfile.mkdtemp(prefix="spacecal-bench-admin-")),
    )
    db = await open_database(settings)
    try:
        await create_user(db.engine, "ops@example.com", "bench password", [], True)
        now, soon = clock.now(), timedelta(hours=6)
        both = ("google", "microsoft")
        print(f"{n} connections, {n} finished jobs")

        def page(**kw: Any) -> Callable[[], Awaitable[Any]]:
            filters = data.Filters(providers=both, **kw)
            return lambda: data.list_connections(
                db.reads, filters, now=now, soon=soon, page=1, size=25
            )

        await timed("list, first page (count + rows)", page())
        await timed("list, health=failing", page(state="failing"))
        await timed("list, health=syncing", page(state="syncing"))
        await timed("list, search 'Member 4242'", page(search="Member 4242"))
        await timed(
            "summary (per business, provider, health)",
            lambda: data.summary(db.reads, both, now=now, soon=soon),
        )
        await timed(
            "one connection with history",
            lambda: data.connection_detail(db.reads, 4242, now=now, soon=soon, history=20),
        )
        app = create_app(settings, db)
        async with httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=app), base_url="http://bench", follow_redirects=True
        ) as http:
            form = await http.get("/admin/signin")
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert token is not None
            await http.post(
                "/admin/signin",
                data={
                    "csrf_token": token.group(1),
                    "email": "ops@example.com",
                    "password": "bench password",
                },
            )

            def get(path: str) -> Callable[[], Awaitable[Any]]:
                async def call() -> None:
                    answer = await http.get(path)
                    assert answer.status_code == 200, answer.text[:300]

                return call

            await timed("page /admin/connections", get("/admin/connections"))
            await timed(
                "page /admin/connections?health=failing", get("/admin/connections?health=failing")
            )
            await timed("page /admin/connections/4242", get("/admin/connections/4242"))
            await timed("page /admin/activity", get("/admin/activity"))
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="spacecal-bench-") as tmp:
        server = server_url(Path(tmp))
        url = fresh_database(server)
        try:
            started = time.perf_counter()
            seed(url, args.connections)
            print(f"seeded in {time.perf_counter() - started:.1f} s")
            asyncio.run(measure(url, args.connections))
        finally:
            from spacecal.db.url import to_libpq

            with psycopg.connect(to_libpq(server), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


if __name__ == "__main__":
    main()
