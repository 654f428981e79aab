"""How keep-alive jobs wait in procrastinate's queue: in rounds across accounts, with
current statistics, and with an index that makes the fetch's same-lock check a probe.

Jobs of one provider account share a lock and run one at a time. procrastinate's
fetch walks the queue in order and, for each job, checks whether another job with
its lock is running or ahead of it. These tests pin the three things that keep a
fetch from reading the whole queue (see sync/upkeep/keepalive_queue.py, jobs/reconcile.py and
migration 0010)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from spacecal.db.engine import Database
from spacecal.jobs import ANALYZE_AFTER_JOBS, names
from spacecal.jobs import refresh_statistics as refresh_queue_statistics
from spacecal.sync.upkeep.keepalive_queue import defer_keepalives, spread_by_account

# Connection ids far from any a test makes (procrastinate_jobs has no foreign keys).
BASE = 9_000_000


def test_a_batch_is_spread_over_accounts_in_rounds() -> None:
    # Soonest expiry first, as the pass reads them: account 1's three, then 2's two.
    batch: list[tuple[int, int | None]] = [(11, 1), (12, 1), (13, 1), (21, 2), (22, 2), (31, 3)]
    assert spread_by_account(batch) == [(11, 1), (21, 2), (31, 3), (12, 1), (22, 2), (13, 1)]


def test_spreading_keeps_a_one_account_batch_as_it_is() -> None:
    batch: list[tuple[int, int | None]] = [(5, 7), (3, 7), (9, 7)]
    assert spread_by_account(batch) == batch
    assert spread_by_account([]) == []


@pytest.fixture
async def queued(database: Database) -> AsyncIterator[Database]:
    yield database
    async with database.engine.begin() as conn:
        await conn.execute(
            text(
                "DELETE FROM procrastinate_jobs WHERE task_name = :t"
                " AND (args->>'connection_id')::bigint >= :b"
            ),
            {"t": names.KEEPALIVE, "b": BASE},
        )


async def _queue(db: Database, accounts: int, per_account: int) -> list[tuple[int, int | None]]:
    targets: list[tuple[int, int | None]] = [
        (BASE + a * per_account + i, BASE + a) for a in range(accounts) for i in range(per_account)
    ]
    async with db.engine.begin() as conn:
        assert await defer_keepalives(conn, spread_by_account(targets)) == len(targets)
    return targets


async def test_a_large_batch_refreshes_the_job_tables_statistics(queued: Database) -> None:
    db = queued
    async with db.engine.begin() as conn:
        await conn.execute(text("ANALYZE procrastinate_jobs"))
        before = await conn.scalar(
            text("SELECT reltuples FROM pg_class WHERE relname = 'procrastinate_jobs'")
        )
    targets = await _queue(db, accounts=10, per_account=ANALYZE_AFTER_JOBS // 10)
    await refresh_queue_statistics(db.engine, len(targets))
    async with db.engine.connect() as conn:
        after = await conn.scalar(
            text("SELECT reltuples FROM pg_class WHERE relname = 'procrastinate_jobs'")
        )
    assert after >= max(before, 0) + len(targets)


async def test_fetching_checks_a_jobs_lock_through_the_lock_index(queued: Database) -> None:
    db = queued
    targets = await _queue(db, accounts=40, per_account=50)
    await refresh_queue_statistics(db.engine, len(targets))
    async with db.engine.connect() as conn:
        # procrastinate_fetch_job_v2's candidate query (procrastinate 3.x schema).
        plan = "\n".join(
            await conn.scalars(
                text(
                    "EXPLAIN SELECT jobs.id FROM procrastinate_jobs AS jobs WHERE NOT EXISTS ("
                    " SELECT 1 FROM procrastinate_jobs AS other_jobs WHERE jobs.lock IS NOT NULL"
                    " AND other_jobs.lock = jobs.lock AND (other_jobs.status = 'doing' OR"
                    " (other_jobs.status = 'todo' AND (other_jobs.priority > jobs.priority OR"
                    " (other_jobs.priority = jobs.priority AND other_jobs.id < jobs.id)))))"
                    " AND jobs.status = 'todo' AND (jobs.scheduled_at IS NULL OR"
                    " jobs.scheduled_at <= now()) ORDER BY jobs.priority DESC, jobs.id ASC"
                    " LIMIT 1 FOR UPDATE OF jobs SKIP LOCKED"
                )
            )
        )
    assert "spacecal_procrastinate_jobs_lock_queued" in plan, plan
    # And the queue holds the batch in rounds: the first 40 jobs are 40 accounts.
    async with db.engine.connect() as conn:
        first = list(
            await conn.scalars(
                text(
                    "SELECT lock FROM procrastinate_jobs WHERE task_name = :t"
                    " AND (args->>'connection_id')::bigint >= :b ORDER BY id LIMIT 40"
                ),
                {"t": names.KEEPALIVE, "b": BASE},
            )
        )
    assert len(set(first)) == 40
