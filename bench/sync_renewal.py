"""The renewal part of bench/sync.py: N due subscriptions renewed against the emulators.

Setup (not timed): the demo's stack (embedded database, both emulators and spacecal on
loopback); `accounts` members per provider, each with a Google or Microsoft account
whose tokens are stored as after consent; N connections split evenly between the
providers, each with its own calendar and a live push subscription made at the
emulator through spacecal's own adapters (`create_calendar`, `subscribe`; Graph
validates each notification URL against spacecal as it would in production).

Timed: what production does when N subscriptions fall due together: the keep-alive
pass (sync/upkeep/keepalive_pass.py) queues every due connection (the bench raises
`renewal_batch_size` to N; the default queues 500 a minute), then workers run the
keep-alive jobs until the queue is empty: Google gets a new channel and the old one
is stopped; Graph's subscription gets a PATCHed expiry. Renewals are "due" because the
bench's runtime uses a renewal margin longer than the subscriptions' lifetime.

Where the worker runs (`workers`): 0 = in the bench's own process and event loop,
beside the API and both emulators (one core for everything); K >= 1 = K worker
processes (`run_worker`, as `spacecal worker` runs it), while the API and the emulators
stay in the bench's process: production's shape (`spacecal serve --no-worker` and
`spacecal worker` are separate processes; Google and Microsoft are not on our
machine, but here they share its two cores).

Database queries are counted with a SQLAlchemy `before_cursor_execute` hook on
spacecal's engine in every process (counted in shared memory): every statement
spacecal sends, including the keep-alive pass and the intake of the `sync` message
Google sends to each new channel, except the dispatcher's polls (reported apart);
procrastinate's own statements (its pool: fetch and finish per job) are not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import secrets
import time
import uuid
from datetime import timedelta
from typing import Any

import psycopg
from sqlalchemy import event, func, select, text

from spacecal import clock
from spacecal.config import Settings
from spacecal.crypto import load_keys
from spacecal.db.engine import open_database
from spacecal.db.models import Business, SubscriptionGeneration
from spacecal.db.url import to_libpq
from spacecal.demo.space import seed
from spacecal.demo.stack import Stack, new_data_dir, start
from spacecal.providers.registry import production_providers
from spacecal.runner import run_worker
from spacecal.sync.naming import webhook_urls
from spacecal.sync.runtime import SyncRuntime
from spacecal.sync.upkeep.keepalive_pass import keepalive_pass
from spacecal.sync.upkeep.window import current_window

PROVIDERS = ("google", "microsoft")
# The dispatcher's idle probe and its claim (sync/intake/dispatch.py), by their first words.
DISPATCHER_POLLS = (
    "WITH claimed AS",
    "SELECT EXISTS (SELECT 1 FROM connections WHERE sync",
    "WITH taken AS",
)


def _quiet(line: str) -> None:
    pass


async def _accounts(stack: Stack, rt: SyncRuntime, business: int, per_provider: int) -> list[Any]:
    """Members with a consented account each: (provider, coworker id, account id, access)."""
    assert stack.google is not None and stack.microsoft is not None
    now = clock.now()
    made = []
    async with rt.db.engine.begin() as conn:
        for provider in PROVIDERS:
            for i in range(per_provider):
                email = f"renew{i}@{'gmail' if provider == 'google' else 'outlook'}.test"
                if provider == "google":
                    tokens = stack.google.create_account(email)
                else:
                    tokens = stack.microsoft.create_account(email)
                coworker = await conn.scalar(
                    text(
                        "INSERT INTO coworkers (business_id, full_name, email, unique_id,"
                        " created_on, updated_on) VALUES (:b, :n, :e, :u, :now, :now)"
                        " ON CONFLICT DO NOTHING RETURNING id"
                    ),
                    {
                        "b": business,
                        "n": f"Renew {i}",
                        "e": f"renew{i}@example.com",
                        "u": uuid.uuid4(),
                        "now": now,
                    },
                ) or await conn.scalar(
                    text("SELECT id FROM coworkers WHERE email = :e"),
                    {"e": f"renew{i}@example.com"},
                )
                account = await conn.scalar(
                    text(
                        "INSERT INTO provider_accounts (coworker_id, provider, email,"
                        " refresh_token_enc, access_token_enc, access_token_expires_at, scopes,"
                        " status, created_at, updated_at) VALUES (:c, :p, :e, :r, :a,"
                        " :exp, :scopes, 'active', :now, :now) RETURNING id"
                    ),
                    {
                        "c": coworker,
                        "p": provider,
                        "e": email,
                        "r": rt.db.cipher.encrypt(tokens["refresh_token"]),
                        "a": rt.db.cipher.encrypt(tokens["access_token"]),
                        "exp": now + timedelta(hours=1),
                        "scopes": [],
                        "now": now,
                    },
                )
                made.append((provider, coworker, account, tokens["access_token"]))
    return made


async def _provision(
    stack: Stack, rt: SyncRuntime, business: int, accounts: list[Any], n: int
) -> None:
    """n connections over the accounts, each with a calendar and a live subscription."""
    resources_per_account = -(-n // len(accounts))
    now = clock.now()
    async with rt.db.engine.begin() as conn:
        tz, days = (
            await conn.execute(
                select(Business.time_zone, Business.max_booking_days_ahead).where(
                    Business.id == business
                )
            )
        ).one()
        rooms = list(
            await conn.scalars(
                text(
                    "INSERT INTO resources (business_id, name, resource_type, visible, bookable,"
                    " all_day_bookable, slot_step_minutes, unique_id, created_on, updated_on)"
                    " SELECT :b, 'Renewal room ' || g, 'room', true, true, false, 15,"
                    " gen_random_uuid(), :now, :now FROM generate_series(1, :k) g RETURNING id"
                ),
                {"b": business, "k": resources_per_account, "now": now},
            )
        )
    window = current_window(tz, days, rt.settings.sync_window_margin_days, now)
    base = rt.settings.effective_public_url()
    gate = asyncio.Semaphore(16)
    pairs = [(a, room) for a in accounts for room in rooms][:n]

    async def one(account: Any, room: int) -> None:
        provider_name, coworker, account_id, access = account
        provider = rt.provider_for(provider_name)
        notification_url, lifecycle_url = webhook_urls(base, provider.capabilities)
        secret = secrets.token_urlsafe(32)
        async with gate:  # also bounds the database work below (a pool of 10)
            calendar = await provider.create_calendar(access, f"Room {room}", tz)
            sub = await provider.subscribe(
                access,
                calendar.id,
                notification_url=notification_url,
                lifecycle_url=lifecycle_url,
                secret=secret,
                ttl_seconds=rt.settings.subscription_ttl_seconds,
            )
            async with rt.db.engine.begin() as conn:
                connection = await conn.scalar(
                    text(
                        "INSERT INTO connections (provider, resource_id, coworker_id, name,"
                        " subscription_id, calendar_id, subscription_expire_date,"
                        " watch_resource_id,"
                        " provider_account_id, health, push_supported, sync_window_start,"
                        " sync_window_end, last_sync_at, unique_id, created_on, updated_on,"
                        " verified_calendar_id, verified_account_id)"
                        " VALUES (:p, :r, :c, :name, :sub, :cal, :exp, :res, :a, 'healthy', true,"
                        " :ws, :we, :now, :u, :now, :now, :cal, :a) RETURNING id"
                    ),
                    {
                        "p": provider_name,
                        "r": room,
                        "c": coworker,
                        "name": calendar.name,
                        "sub": sub.id,
                        "cal": calendar.id,
                        "exp": sub.expires_at,
                        "res": sub.resource_id,
                        "a": account_id,
                        "ws": window.start,
                        "we": window.end,
                        "now": now,
                        "u": uuid.uuid4(),
                    },
                )
                await conn.execute(
                    text(
                        "INSERT INTO subscription_generations (connection_id, provider_account_id,"
                        " provider, subscription_id, watch_resource_id, secret, expires_at, status,"
                        " created_at) VALUES (:c, :a, :p, :s, :r, :secret, :exp, 'live', :now)"
                    ),
                    {
                        "c": connection,
                        "a": account_id,
                        "p": provider_name,
                        "s": sub.id,
                        "r": sub.resource_id,
                        "secret": sub.secret or secret,
                        "exp": sub.expires_at,
                        "now": now,
                    },
                )

    await asyncio.gather(*(one(a, room) for a, room in pairs))
    async with rt.db.engine.begin() as conn:
        await conn.execute(text("ANALYZE"))


def _counter(counts: Any, slot: int) -> Any:
    """A before_cursor_execute hook counting into counts[2*slot] (spacecal's
    statements) and counts[2*slot+1] (the dispatcher's polls). One slot per process,
    so no two processes write the same cell."""

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith(DISPATCHER_POLLS):
            counts[2 * slot + 1] += 1  # the dispatcher's poll: not renewal work
        else:
            counts[2 * slot] += 1

    return count


def _worker_process(settings: dict[str, Any], counts: Any, slot: int, ready: Any) -> None:
    """A worker process of its own (the way `spacecal worker` runs): its own engine,
    pool, HTTP client and event loop. Sets `ready` once imported and connected (the
    clock starts after that); runs until the bench terminates it."""

    async def run() -> None:
        config = Settings(**settings)
        db = await open_database(config, migrate=False)
        event.listen(db.engine.sync_engine, "before_cursor_execute", _counter(counts, slot))
        provider_for, client = production_providers(config)
        rt = SyncRuntime(settings=config, db=db, provider_for=provider_for)
        ready.set()
        try:
            await run_worker(rt, periodic=False, fetch_job_polling_interval=0.05)
        finally:
            await client.aclose()
            await db.dispose()

    asyncio.run(run())


async def renewal(n: int, accounts_per_provider: int = 50, workers: int = 1) -> dict[str, Any]:
    """Renewals/s and queries per renewal for `n` due subscriptions, with the worker in
    the bench's process (`workers` 0) or in `workers` processes of its own."""
    stack = Stack(data_dir=new_data_dir(), keep=False)
    try:
        await start(stack, 0, _quiet, worker=False)
        space = await seed(stack, _quiet)
        assert stack.settings is not None and stack.database is not None
        settings = stack.settings.model_copy(
            update={
                # Longer than the subscriptions live: every one is due now.
                "google_renewal_margin_seconds": 60 * 86400.0,
                "microsoft_renewal_margin_seconds": 60 * 86400.0,
                "renewal_jitter_seconds": 0.0,
                "renewal_batch_size": n,
            }
        )
        provider_for, client = production_providers(settings)
        rt = SyncRuntime(settings=settings, db=stack.database, provider_for=provider_for)
        try:
            made = time.perf_counter()
            accounts = await _accounts(stack, rt, space.business_id, accounts_per_provider)
            await _provision(stack, rt, space.business_id, accounts, n)
            async with rt.db.engine.begin() as conn:
                await conn.execute(text("DELETE FROM procrastinate_jobs"))
                before = await conn.scalar(select(func.count()).select_from(SubscriptionGeneration))
            setup = time.perf_counter() - made
            before_expiry = await _expiries(rt)
            began_at = clock.now()
            # Slot 0: this process (the pass, the API's intake); 1..workers: workers.
            spawn = multiprocessing.get_context("spawn")
            counts = spawn.RawArray("q", 2 * (workers + 1))
            count = _counter(counts, 0)
            event.listen(rt.db.engine.sync_engine, "before_cursor_execute", count)
            # The worker processes' settings: this database and key, as `spacecal
            # worker` would get them from the environment.
            child = {
                **settings.model_dump(),
                "database_url": rt.db.url,
                "secret_keys": ",".join(load_keys(settings, embedded=True)),
            }
            procs = []
            for slot in range(1, workers + 1):
                ready = spawn.Event()
                proc = spawn.Process(
                    target=_worker_process, args=(child, counts, slot, ready), daemon=True
                )
                proc.start()
                procs.append((proc, ready))
            for proc, ready in procs:  # started and idle before the clock starts
                if not await asyncio.to_thread(ready.wait, 60):
                    raise RuntimeError(f"worker process {proc.pid} did not start")
            counts[:] = [0] * len(counts)  # their idle polls so far are not renewal work
            began = time.perf_counter()
            queued = await keepalive_pass(rt)
            pass_seconds = time.perf_counter() - began
            worker = (
                None
                if workers
                else asyncio.create_task(
                    run_worker(rt, periodic=False, fetch_job_polling_interval=0.05)
                )
            )
            try:
                # Polled on a connection of its own, so the bench's own queries are
                # not counted as spacecal's.
                async with await psycopg.AsyncConnection.connect(
                    to_libpq(rt.db.url), autocommit=True
                ) as watch:
                    while True:
                        if procs and not any(p.is_alive() for p, _ in procs):
                            raise RuntimeError("every worker process stopped")
                        # An index probe (procrastinate's partial index on queued and
                        # running jobs), not a count over the whole queue.
                        cur = await watch.execute(
                            "SELECT EXISTS (SELECT 1 FROM procrastinate_jobs"
                            " WHERE status IN ('todo', 'doing'))"
                        )
                        row = await cur.fetchone()
                        if not row or not row[0]:
                            break
                        await asyncio.sleep(0.1)
            finally:
                if worker is not None:
                    worker.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await worker
                for proc, _ in procs:
                    proc.terminate()
                for proc, _ in procs:
                    await asyncio.to_thread(proc.join, 10)
            seconds = time.perf_counter() - began
            event.remove(rt.db.engine.sync_engine, "before_cursor_execute", count)
            queries = sum(counts[0::2])
            idle_dispatch = sum(counts[1::2])
            renewed = await _renewed(rt, before_expiry, began_at)
            async with rt.db.engine.connect() as conn:
                jobs = await conn.scalar(
                    text(
                        "SELECT count(*) FROM procrastinate_jobs"
                        " WHERE task_name = 'spacecal.keepalive' AND status = 'succeeded'"
                    )
                )
                after = await conn.scalar(select(func.count()).select_from(SubscriptionGeneration))
                failed = await conn.scalar(
                    text("SELECT count(*) FROM connections WHERE renewal_failures > 0")
                )
        finally:
            await client.aclose()
    finally:
        await stack.stop(_quiet)
    return {
        "subscriptions": n,
        "workers": workers,
        "queued": queued,
        "jobs": int(jobs or 0),
        "renewed": renewed,
        "seconds": seconds,
        "pass_seconds": pass_seconds,
        "rate": (renewed["google"] + renewed["microsoft"]) / seconds if seconds else 0.0,
        "queries": queries,
        "dispatcher_polls": idle_dispatch,
        "queries_per_renewal": queries / max(1, renewed["google"] + renewed["microsoft"]),
        "generations_added": int(after or 0) - int(before or 0),
        "failed": int(failed or 0),
        "setup_seconds": setup,
    }


async def _expiries(rt: SyncRuntime) -> dict[int, Any]:
    async with rt.db.engine.connect() as conn:
        rows = await conn.execute(
            select(SubscriptionGeneration.id, SubscriptionGeneration.expires_at).where(
                SubscriptionGeneration.status == "live"
            )
        )
        return {r.id: r.expires_at for r in rows}


async def _renewed(rt: SyncRuntime, before: dict[int, Any], began_at: Any) -> dict[str, int]:
    """Google: live channels made during the run (their predecessors stopped);
    Graph: live subscriptions whose expiry the run pushed out."""
    async with rt.db.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    SubscriptionGeneration.id,
                    SubscriptionGeneration.provider,
                    SubscriptionGeneration.status,
                    SubscriptionGeneration.expires_at,
                    SubscriptionGeneration.created_at,
                )
            )
        ).all()
    out = {"google": 0, "google_old_stopped": 0, "microsoft": 0}
    for r in rows:
        if r.provider == "google" and r.status == "live" and r.created_at >= began_at:
            out["google"] += 1
        elif r.provider == "google" and r.status == "stopped" and r.id in before:
            out["google_old_stopped"] += 1
        elif r.provider == "microsoft" and r.id in before and r.expires_at > before[r.id]:
            out["microsoft"] += 1
    return out
