"""The test plugin itself (tests/support/plugin.py): the one reset empties every table
but the ones written once, and environments start at the instant the test chose."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from tests.support.database import JOB_TABLES, KEEP, model_tables, reset_database
from tests.support.environments import Env
from tests.support.plugin import start_travel
from tests.support.timing import START, chaos_start, fleet_now, parse_instant

from spacecal import clock
from spacecal.db.engine import Database


async def test_the_reset_empties_every_table_but_the_deployment_facts(database: Database) -> None:
    assert "activity_hourly" in model_tables()
    assert "webhooks" in model_tables()
    assert not KEEP & set(model_tables())
    async with database.engine.connect() as conn:
        every = set(
            (
                await conn.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
                )
            ).scalars()
        )
        fingerprint = await conn.scalar(text("SELECT count(*) FROM spacecal_meta"))
    procrastinate = {t for t in every if t.startswith("procrastinate_")}
    assert {"procrastinate_jobs", "procrastinate_events"} <= procrastinate <= set(JOB_TABLES)
    # Every table of the database is either emptied by the reset or kept on purpose.
    kept = {"alembic_version", "spacecal_meta"}
    assert every == set(model_tables()) | set(JOB_TABLES) | kept
    await reset_database(database.engine)
    async with database.engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM alembic_version")) == 1
        assert await conn.scalar(text("SELECT count(*) FROM spacecal_meta")) == fingerprint


async def test_an_environment_starts_at_the_default_instant(env: Env) -> None:
    for now in (clock.now(), env.google.clock.now(), env.microsoft.clock.now()):
        assert START <= now < START + timedelta(minutes=1)


@pytest.mark.start_at("2027-03-27T23:30:00+00:00")
async def test_an_environment_starts_at_the_instant_the_test_chose(env: Env) -> None:
    chosen = datetime(2027, 3, 27, 23, 30, tzinfo=UTC)
    for now in (clock.now(), env.google.clock.now(), env.microsoft.clock.now()):
        assert chosen <= now < chosen + timedelta(minutes=1)


def test_a_chaos_seed_always_starts_at_the_same_instant() -> None:
    assert chaos_start(7) == chaos_start(7)
    assert chaos_start(7) != chaos_start(8)
    assert all(chaos_start(seed).year == 2031 for seed in range(50))


def test_travel_moves_this_process_clock_and_not_the_fleets() -> None:
    """--travel / SPACECAL_TEST_TRAVEL moves this process (spacecal's clock follows it
    when no environment set it); process fleets keep running at their fixed start,
    since their processes do not travel."""
    target = parse_instant("2028-02-29T23:30:00+00:00")  # a leap day, late in the evening
    fleet_before = fleet_now()
    clock.clock.reset()
    traveller = start_travel(target)
    try:
        assert target <= clock.now() < target + timedelta(minutes=1)
        assert fleet_before <= fleet_now() < fleet_before + timedelta(minutes=1)
    finally:
        traveller.stop()
    assert not target <= clock.now() < target + timedelta(minutes=1)
