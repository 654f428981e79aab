"""Which providers are polled (sync/polling.py) and the CalDAV reconcile lock
(jobs/reconcile.py), without a server. The schedule's arithmetic is SQL, tested as
stored in test_poll_schedule.py."""

from __future__ import annotations

import uuid

from sqlalchemy import insert, text
from tests.support.timing import START

from spacecal import clock
from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.db.models import Business, Coworker, ProviderAccount
from spacecal.jobs.reconcile import defer_reconcile, host_bucket_lock
from spacecal.sync.polling import is_polled, poll_providers

SETTINGS = Settings(caldav_poll_seconds=60, caldav_poll_max_seconds=900, caldav_poll_jitter=0.1)


def test_only_caldav_is_polled() -> None:
    assert poll_providers() == ("caldav",)
    assert is_polled("caldav") and not is_polled("google") and not is_polled("microsoft")


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
