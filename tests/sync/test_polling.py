"""The poll schedule of providers without push (sync/polling.py) and the CalDAV
reconcile lock (jobs/reconcile.py), without a server: the arithmetic of the interval
and its jitter, which providers are polled, and the lock a CalDAV account's
reconciles take."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, text
from tests.support.timing import START

from spacecal import clock
from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.db.models import Business, Coworker, ProviderAccount
from spacecal.jobs.reconcile import defer_reconcile, host_bucket_lock
from spacecal.sync.polling import is_polled, next_interval, next_poll_at, poll_providers

SETTINGS = Settings(caldav_poll_seconds=60, caldav_poll_max_seconds=900, caldav_poll_jitter=0.1)


def test_only_caldav_is_polled() -> None:
    assert poll_providers() == ("caldav",)
    assert is_polled("caldav") and not is_polled("google") and not is_polled("microsoft")


def test_the_interval_doubles_while_quiet_up_to_the_cap_and_resets_on_a_change() -> None:
    seen: list[float] = []
    interval: float | None = None
    for _ in range(7):
        interval = next_interval(interval, False, SETTINGS)
        seen.append(interval)
    assert seen == [60, 120, 240, 480, 900, 900, 900]
    assert next_interval(900, True, SETTINGS) == 60
    # A cap below the short interval never shortens it.
    odd = Settings(caldav_poll_seconds=60, caldav_poll_max_seconds=30)
    assert next_interval(60, False, odd) == 60


def test_jitter_stays_within_its_fraction_and_spreads_the_polls() -> None:
    now = datetime(2031, 1, 15, 10, tzinfo=UTC)
    rng = random.Random(7)
    delays = [(next_poll_at(now, 600, 0.1, rng) - now).total_seconds() for _ in range(500)]
    assert all(540 <= d <= 660 for d in delays)
    assert max(delays) - min(delays) > 100  # spread, not one instant
    assert next_poll_at(now, 600, 0.0, rng) == now + timedelta(seconds=600)


def test_host_buckets_bound_a_server_and_keep_an_account_in_one() -> None:
    locks = {host_bucket_lock("CalDAV.iCloud.com", account, 4) for account in range(100)}
    assert len(locks) == 4
    assert host_bucket_lock("caldav.icloud.com", 17, 4) == host_bucket_lock(
        "CALDAV.ICLOUD.COM", 17, 4
    )
    assert host_bucket_lock("a.example", 1, 4) != host_bucket_lock("b.example", 1, 4)


async def test_a_caldav_accounts_reconcile_takes_its_bucket_lock(
    database: Database, clean: None
) -> None:
    clock.clock.set(START)
    try:
        now = clock.now()
        async with database.engine.begin() as conn:
            business = await conn.scalar(
                insert(Business)
                .values(
                    name="B", time_zone="UTC", unique_id=_uuid(), created_on=now, updated_on=now
                )
                .returning(Business.id)
            )
            member = await conn.scalar(
                insert(Coworker)
                .values(
                    business_id=business,
                    full_name="A",
                    email="a@example.com",
                    unique_id=_uuid(),
                    created_on=now,
                    updated_on=now,
                )
                .returning(Coworker.id)
            )
            accounts = {}
            for provider, lock in (("caldav", "caldav:dav.example:1"), ("google", None)):
                accounts[provider] = await conn.scalar(
                    insert(ProviderAccount)
                    .values(
                        coworker_id=member,
                        provider=provider,
                        scopes=[],
                        status="active",
                        job_lock=lock,
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(ProviderAccount.id)
                )
            assert await defer_reconcile(conn, 101, accounts["caldav"])
            assert await defer_reconcile(conn, 102, accounts["google"])
            rows = dict(
                (
                    await conn.execute(
                        text("SELECT queueing_lock, lock FROM procrastinate_jobs ORDER BY id")
                    )
                ).all()
            )
        assert rows == {
            "reconcile:101": "caldav:dav.example:1",
            "reconcile:102": f"account:{accounts['google']}",
        }
    finally:
        clock.clock.reset()


def _uuid() -> uuid.UUID:
    return uuid.uuid4()
