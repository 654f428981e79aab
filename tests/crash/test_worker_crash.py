"""Crash safety (issue 10 part 2): the worker process is SIGKILLed at chosen points of
a sync, restarted, and afterwards every calendar has converged and no job is stuck.

Real processes on loopback (tests/support/procs.py): both emulators, one API
process, one worker. The kill points are reached through the emulators (seeded):

- mid-pull: the emulator holds the next pull (a `slow` fault); the worker is killed
  while it waits for the page;
- mid-write, before the provider applied it: the same on the next event write;
- just after a write the provider applied (seen in the emulator's call log), before
  spacecal could record it: the idempotent create (Google's client-chosen id, Graph's
  transactionId) must stop a second event when the write is done again;
- at a seeded random moment of a burst of member edits and operator bookings.

Stalled-job recovery must do its part: the killed worker's running job keeps its
account's lock until `recover_stalled` (a periodic task, shrunk to seconds here)
fails it and queues a fresh reconcile; the test checks it ran and that it did.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Callable
from typing import Any

import httpx2
import psycopg
from tests.support import loopback
from tests.support.procs import Fleet, Proc, fleet

#: Replay another run with CRASH_SEED=<n> (the seed is printed with the log).
SEED = int(os.environ.get("CRASH_SEED", "20"))
#: Shrunk time spans: a dead worker is noticed in ~3 s and recovered in ~2 s more.
KNOBS = {
    "SPACECAL_WORKER_HEARTBEAT_SECONDS": "0.5",
    "SPACECAL_STALLED_JOB_SECONDS": "3",
    "SPACECAL_RECOVER_EVERY_SECONDS": "2",
    "SPACECAL_SWEEP_EVERY_SECONDS": "5",
    "SPACECAL_SYNC_BACKOFF_BASE_SECONDS": "1",
    "SPACECAL_SYNC_BACKOFF_CAP_SECONDS": "4",
    "SPACECAL_THROTTLE_DEFAULT_SECONDS": "1",
}
PULL = {"google": ("GET", "/calendar/v3/calendars/*/events"), "microsoft": ("GET", "*/delta")}
#: Where the worker is killed, in order (see the module docstring).
PLAN = [
    ("mid-pull", "google"),
    ("mid-write", "microsoft"),
    ("after-write", "google"),
    ("after-write", "microsoft"),
]
WRITE = {
    "google": ("POST", "/calendar/v3/calendars/*/events"),
    "microsoft": ("POST", "/v1.0/me/calendars/*/events"),
}


async def _fault(cal: loopback.Calendars, provider: str, method: str, path: str) -> int:
    rule = await cal.control(
        provider,
        "POST",
        "/faults",
        json={
            "kind": "slow",
            "times": 1,
            "match": {"method": method, "path": path},
            "params": {"seconds": 4},
        },
    )
    return int(rule["id"])


async def _fired(cal: loopback.Calendars, provider: str, rule_id: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        rules = await cal.control(provider, "GET", "/faults")
        if any(int(r["id"]) == rule_id and int(r.get("fired", 0)) > 0 for r in rules):
            return True
        await asyncio.sleep(0.02)
    return False


async def _writes(cal: loopback.Calendars, provider: str) -> int:
    method, path = WRITE[provider]
    calls = await cal.control(provider, "GET", "/calls")
    prefix = path.split("*")[0]
    return sum(
        1
        for c in calls
        if c["method"] == method and c["path"].startswith(prefix) and c["status"] < 300
    )


def _kill_and_restart(f: Fleet, worker: Proc, log: list[str], why: str) -> Proc:
    alive = worker.alive()
    worker.kill()
    log.append(f"killed the worker {why}" + ("" if alive else " (it had already exited!)"))
    return f.restart(worker)


def _running_reconciles(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs"
            " WHERE task_name = 'spacecal.reconcile' AND status = 'doing'"
        ).fetchone()
    return int(row[0]) if row else 0


async def test_worker_killed_mid_sync_and_mid_write_back_recovers(
    server_url: str, fresh_database_on: Callable[[str], str]
) -> None:
    db_url = fresh_database_on(server_url)
    rng = random.Random(SEED)
    log: list[str] = []
    with fleet(db_url, knobs=KNOBS, seed=SEED) as f:
        f.start_api()
        worker = f.start_worker(concurrency=2)
        space = await loopback.seed(f, members=2, rooms=1)
        cal = loopback.Calendars(f)
        http = httpx2.AsyncClient(timeout=30)
        killed_running = 0
        try:
            verdict, _ = await loopback.wait_converged(cal, space, db_url, 60)
            assert verdict.ok, verdict.problems

            async def edits(n: int) -> None:
                for _ in range(n):
                    seat = rng.choice(space.seats)
                    await cal.create(seat, "Edit", *loopback.random_slot(rng))

            async def api_bookings(n: int) -> None:
                for _ in range(n):
                    coworker, _ = rng.choice(space.members)
                    await loopback.book_through_api(
                        http, space, coworker, space.rooms[0], *loopback.random_slot(rng)
                    )

            for point, provider in PLAN:
                if point in ("mid-pull", "mid-write"):
                    method, path = (PULL if point == "mid-pull" else WRITE)[provider]
                    rule = await _fault(cal, provider, method, path)
                    if point == "mid-pull":
                        seat = next(s for s in space.seats if s.provider == provider)
                        await cal.create(seat, "Pulled while dying", *loopback.random_slot(rng))
                    else:
                        await api_bookings(2)
                    assert await _fired(cal, provider, rule, 30), f.logs_tail(3)
                    await asyncio.sleep(rng.uniform(0.2, 3.0))
                    killed_running += _running_reconciles(db_url) > 0
                else:  # just after the provider applied a write
                    before = await _writes(cal, provider)
                    await api_bookings(3)
                    deadline = time.monotonic() + 30
                    while await _writes(cal, provider) <= before:
                        assert time.monotonic() < deadline, "no write reached " + provider
                        await asyncio.sleep(0.005)
                worker = _kill_and_restart(f, worker, log, f"{point} ({provider})")

            # A seeded random moment of a burst.
            burst = asyncio.gather(edits(4), api_bookings(2))
            await asyncio.sleep(rng.uniform(0.3, 2.5))
            worker = _kill_and_restart(f, worker, log, "at a random moment of a burst")
            await burst

            verdict, took = await loopback.wait_converged(cal, space, db_url, 120)
            print(f"\nseed {SEED}\n" + "\n".join(log))
            print(
                f"converged {took:.0f} s after the last kill: {verdict.events} events, "
                f"{verdict.bookings} bookings, {verdict.refused} refused"
            )
            assert verdict.ok, "\n".join(verdict.problems[:20]) + "\n" + f.logs_tail(3)
        finally:
            await http.aclose()
            await cal.aclose()
        assert loopback.stuck_jobs(db_url) == []
        recovered = _recovery(db_url)
        print(f"recovery: {recovered}; kills that caught a running reconcile: {killed_running}")
        assert recovered["recover_runs"] > 0, "stalled-job recovery never ran"
        assert recovered["failed_reconciles"] >= killed_running, recovered
        assert worker.alive(), worker.tail()


def _recovery(db_url: str) -> dict[str, Any]:
    with psycopg.connect(db_url) as conn:
        runs = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs"
            " WHERE task_name = 'spacecal.recover_stalled' AND status = 'succeeded'"
        ).fetchone()
        failed = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs"
            " WHERE task_name = 'spacecal.reconcile' AND status = 'failed'"
        ).fetchone()
    return {
        "recover_runs": int(runs[0]) if runs else 0,
        "failed_reconciles": int(failed[0]) if failed else 0,
    }
