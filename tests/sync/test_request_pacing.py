"""Request budgets shared by every process (sync/pacing.py; issue 19, item 4).

Two engines on one database stand for two worker processes: the budget is one
budget, the places they get never exceed it in any rolling minute, a spent budget
raises `Paced` without consuming anything, and the project's budget caps every
account together. Then through the reconcile with the Google emulator enforcing
Google's per-user rate: spacecal stays within it (no 403), records the wait, and the
account's calendars all converge.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.support.environments import SyncEnv, age_jobs, make_env, move_clocks
from tests.support.member import GoogleMember
from tests.support.timing import START

from spacecal import clock
from spacecal.config import Settings
from spacecal.db.engine import Database, make_engine
from spacecal.db.models import Connection, RequestPace, SyncRun
from spacecal.providers.pacing import Paced
from spacecal.runner import run_worker
from spacecal.sync.pacing import Budget, budgets, reserve
from spacecal.sync.runtime import SyncRuntime

NOW = START


@pytest.fixture
async def engines(database: Database, settings: Settings) -> AsyncIterator[list[AsyncEngine]]:
    async with database.engine.begin() as conn:
        await conn.execute(delete(RequestPace))
    other = make_engine(settings.database_url or "", pool_size=5)
    yield [database.engine, other]
    await other.dispose()


def _worst_minute(places: list[datetime]) -> int:
    ordered = sorted(places)
    return max(
        sum(1 for p in ordered if start <= p < start + timedelta(seconds=60)) for start in ordered
    )


async def test_two_processes_share_one_account_budget(engines: list[AsyncEngine]) -> None:
    account = (Budget("google:account:1", 20),)  # a burst of 2, then one per 60/18 s

    async def take(engine: AsyncEngine) -> datetime:
        wait, _ = await reserve(engine, account, NOW, max_wait=3600)
        return NOW + timedelta(seconds=wait)

    places = await asyncio.gather(*(take(engines[i % 2]) for i in range(50)))
    assert sorted(places)[:2] == [NOW, NOW]
    assert sorted(places)[2] > NOW
    assert len(set(places)) == 49  # one place each after the burst
    assert _worst_minute(places) <= 20
    # Spread evenly after the burst: the 50th starts (50 - 2) steps on.
    last = (max(places) - NOW).total_seconds()
    assert last == pytest.approx(48 * 60 / 18, abs=1e-3)


async def test_a_spent_budget_refuses_without_consuming(engines: list[AsyncEngine]) -> None:
    account = (Budget("google:account:2", 20),)
    for engine in engines:
        assert await reserve(engine, account, NOW, max_wait=0) == (0.0, "")
    with pytest.raises(Paced) as first:
        await reserve(engines[0], account, NOW, max_wait=0)
    # Refusals give their place back: the next wait is the same, not longer.
    for engine in engines:
        with pytest.raises(Paced) as again:
            await reserve(engine, account, NOW, max_wait=0)
        assert again.value.retry_after == pytest.approx(first.value.retry_after)
    assert first.value.retry_after == pytest.approx(60 / 18)
    assert first.value.scope == "account"
    later = NOW + timedelta(seconds=first.value.retry_after or 0)
    assert (await reserve(engines[1], account, later, max_wait=0))[0] <= 0


async def test_the_project_budget_caps_every_account_together(
    engines: list[AsyncEngine], settings: Settings
) -> None:
    tight = settings.model_copy(
        update={
            "google_requests_per_minute": 500,
            "google_project_requests_per_minute": 30,
            "request_pace_burst_fraction": 0.1,
        }
    )
    accounts = [budgets(tight, "google", n) for n in range(10, 16)]
    assert [b.scope for b in accounts[0]] == ["google:account:10", "google:project"]
    taken, refused = 0, []
    for n in range(12):
        try:
            await reserve(engines[n % 2], accounts[n % 6], NOW, max_wait=0)
            taken += 1
        except Paced as exc:
            refused.append(exc)
    assert taken == 3  # the project's burst (30 / 10), whatever the account
    assert {exc.scope for exc in refused} == {"project"}
    # The account budgets were given back with the project's: each has its burst left.
    async with engines[0].connect() as conn:
        paces = dict((await conn.execute(select(RequestPace.scope, RequestPace.pace_at))).all())
    step = accounts[0][0].step
    for n in range(10, 13):
        assert paces[f"google:account:{n}"] == NOW + step


async def test_no_budget_when_switched_off(settings: Settings) -> None:
    off = settings.model_copy(
        update={"microsoft_requests_per_minute": 0, "microsoft_project_requests_per_minute": 0}
    )
    assert budgets(off, "microsoft", 1) == ()
    assert [b.scope for b in budgets(settings, "microsoft", 1)] == ["microsoft:account:1"]


# --- through the reconcile, with the emulator's per-user rate on ---------------------

BUDGET = 10  # spacecal's; a burst of 1, then one request per 60/9 s
EMULATOR_RATE = 12  # Google's (in the emulator)


@pytest.fixture
async def paced_env(
    settings: Settings, database: Database, member_password_hash: str, env_start: datetime
) -> AsyncIterator[SyncEnv]:
    async for env in make_env(
        settings,
        database,
        member_password_hash,
        start=env_start,
    ):
        rt = SyncRuntime(settings=env.rt.settings, db=database, provider_for=env.rt.provider)
        yield SyncEnv(env, rt)


async def _book(s: SyncEnv, resource_id: int, days: int) -> None:
    start = (clock.now() + timedelta(days=days)).replace(hour=10, minute=0, second=0, microsecond=0)
    answer = await s.env.api.post(
        "/api/spaces/bookings",
        json={
            "ResourceId": resource_id,
            "CoworkerId": s.env.space.alice,
            "FromTime": start.isoformat(),
            "ToTime": (start + timedelta(hours=1)).isoformat(),
        },
    )
    assert answer.status_code == 200, answer.text


async def test_reconciles_stay_within_the_users_rate_across_processes(
    paced_env: SyncEnv, settings: Settings, database: Database
) -> None:
    s = paced_env
    room = await s.connect("google", resource="room")
    browser = s.env.new_browser()
    await browser.sign_in("alice@example.com")
    await browser.get("/portal")
    page = await browser.post_form(f"/portal/resources/{s.env.space.desk_id}/google", action="add")
    assert page.status_code == 200, page.text
    await browser.aclose()
    async with s.engine.connect() as conn:
        desk_calendar = await conn.scalar(
            select(Connection.calendar_id).where(Connection.resource_id == s.env.space.desk_id)
        )
    assert desk_calendar
    desk = GoogleMember(s.env.google, room.email, desk_calendar)
    await s.settle()
    limits = await s.env.control.post(
        "http://google.emulator.test/_control/limits",
        json={"requests_per_minute": EMULATOR_RATE},
    )
    assert limits.status_code == 200
    # From here on (connecting takes a dozen requests at once): spacecal's budget.
    s.rt.settings = s.rt.settings.model_copy(
        update={
            "google_requests_per_minute": BUDGET,
            "request_pace_max_wait_seconds": 0,
            "request_pace_burst_fraction": 0.1,
        }
    )
    async with s.engine.begin() as conn:
        await conn.execute(delete(RequestPace))
    calls_before = len(s.env.google.core.calls.list(path_prefix="/calendar/v3/"))
    started = clock.now()
    for days in range(2, 8):  # more requests than Google's rate allows a minute
        await _book(s, s.env.space.room_id, days)
        await _book(s, s.env.space.desk_id, days)

    # A second "process": its own engine, the same database and adapters.
    other_db = Database(
        database.url, make_engine(settings.database_url or "", pool_size=5), database.cipher
    )
    other = SyncRuntime(settings=s.rt.settings, db=other_db, provider_for=s.rt.provider_for)
    rounds = 0
    try:
        while not (len(room.events()) == 6 and len(desk.events()) == 6):
            rounds += 1
            assert rounds < 150, "the calendars did not converge"
            await s.dispatch()
            await asyncio.gather(
                run_worker(s.rt, wait=False, periodic=False, concurrency=2),
                run_worker(other, wait=False, periodic=False, concurrency=2),
            )
            # A paced reconcile waits for its budget's next place (one step, 60/9 s),
            # never longer: nothing is parked in front of the account's other calendar.
            assert await _longest_wait(s) <= 60 / 9 + 0.5
            # Time passes for spacecal, the emulator and procrastinate alike.
            move_clocks(s.env, timedelta(seconds=3))
            await age_jobs(s.engine, timedelta(seconds=3))
    finally:
        await other_db.dispose()

    calls = s.env.google.core.calls.list(path_prefix="/calendar/v3/")[calls_before:]
    assert [c for c in calls if c.status == 403] == []  # Google's rate never hit
    assert len(calls) >= 14  # two pulls and twelve writes at least
    assert _worst_minute([c.time for c in calls]) <= BUDGET
    # Paced: one request at once, then 9 a minute.
    assert clock.now() - started >= timedelta(seconds=(len(calls) - 2) * 60 / 9)
    async with s.engine.connect() as conn:
        paced = (await conn.execute(select(SyncRun.error).where(SyncRun.outcome == "paced"))).all()
        health = set((await conn.execute(select(Connection.health))).scalars())
    assert paced, "no reconcile recorded a wait"
    assert all("request budget of the account spent" in (e or "") for (e,) in paced)
    assert health == {"healthy"}  # waiting for the budget is no failure


async def test_a_clock_jumping_back_does_not_stall_the_budget(engines: list[AsyncEngine]) -> None:
    account = (Budget("google:account:3", 20),)
    for _ in range(3):
        await reserve(engines[0], account, NOW, max_wait=60)
    earlier = NOW - timedelta(days=365)
    assert await reserve(engines[1], account, earlier, max_wait=0) == (0.0, "")


def test_the_burst_is_a_share_of_the_budget(settings: Settings) -> None:
    (account,) = budgets(settings, "google", 7)[:1]
    assert account.burst == 300  # 0.6 of 500: a fill of 300 events goes at once
    assert account.step == timedelta(seconds=60 / 200)  # then 200 more in the minute


async def _longest_wait(s: SyncEnv) -> float:
    """Seconds until the latest queued job may run (0: none is scheduled ahead)."""
    async with s.engine.connect() as conn:
        wait = await conn.scalar(
            text(
                "SELECT max(EXTRACT(EPOCH FROM scheduled_at - now())) FROM procrastinate_jobs"
                " WHERE status = 'todo' AND scheduled_at IS NOT NULL"
            )
        )
    return float(wait or 0.0)
