"""Notification marks and the dispatcher: many notifications for one calendar become
one queued reconcile and a counted activity; several dispatchers never claim the
same mark; the first notification's trace id reaches the job."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import func, select, text
from tests.support.channel_secrets import channel_secret
from tests.support.environments import PROVIDERS, SyncEnv

from spacecal import activity
from spacecal.db.models import ActivityHourly, Connection, SubscriptionGeneration, SyncRun
from spacecal.sync.intake import marks as intake
from spacecal.sync.intake.dispatch import dispatch_once


async def _generation(s: SyncEnv, provider: str) -> Any:
    async with s.engine.connect() as conn:
        return (
            await conn.execute(
                select(SubscriptionGeneration).where(
                    SubscriptionGeneration.provider == provider,
                    SubscriptionGeneration.status == "live",
                )
            )
        ).one()


async def _notify(s: SyncEnv, provider: str, gen: Any, items: int = 1) -> None:
    """What the provider sends: `items` change notifications in one request."""
    if provider == "google":
        assert items == 1
        answer = await s.env.api.post(
            "/webhooks/google",
            headers={
                "X-Goog-Channel-ID": gen.subscription_id,
                "X-Goog-Channel-Token": channel_secret(s.env, gen.subscription_id),
                "X-Goog-Resource-State": "exists",
                "X-Goog-Resource-ID": gen.watch_resource_id or "",
            },
        )
        assert answer.status_code == 200
        return
    body = {
        "value": [
            {
                "subscriptionId": gen.subscription_id,
                "clientState": channel_secret(s.env, gen.subscription_id),
                "changeType": "updated",
                "resource": f"me/events/x{i}",
            }
            for i in range(items)
        ]
    }
    answer = await s.env.api.post("/webhooks/microsoft", content=json.dumps(body))
    assert answer.status_code == 202


async def _reconcile_jobs(s: SyncEnv, status: str = "todo") -> list[Any]:
    async with s.engine.connect() as conn:
        return list(
            (
                await conn.execute(
                    text(
                        "SELECT args FROM procrastinate_jobs WHERE task_name = 'spacecal.reconcile'"
                        " AND status = CAST(:status AS procrastinate_job_status)"
                    ),
                    {"status": status},
                )
            ).scalars()
        )


async def _counted(s: SyncEnv, provider: str, kind: str) -> int:
    async with s.engine.connect() as conn:
        value = await conn.scalar(
            select(func.coalesce(func.sum(ActivityHourly.count), 0)).where(
                ActivityHourly.provider == provider, ActivityHourly.kind == kind
            )
        )
    return int(value or 0)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_many_notifications_become_one_reconcile_and_are_counted(
    sync_env: SyncEnv, provider: str
) -> None:
    await sync_env.connect(provider)
    await sync_env.settle()
    gen = await _generation(sync_env, provider)
    counted = await _counted(sync_env, provider, activity.NOTIFICATION)
    syncs = await _counted(sync_env, provider, activity.SYNC)
    async with sync_env.engine.connect() as conn:
        runs = await conn.scalar(select(func.count()).select_from(SyncRun))

    for _ in range(3):
        await _notify(sync_env, provider, gen)
    if provider == "microsoft":
        await _notify(sync_env, provider, gen, items=2)  # one POST, two notifications
    sent = 3 if provider == "google" else 5
    # Acknowledged, marked once, no job yet: intake commits only the mark.
    assert await _reconcile_jobs(sync_env) == []
    async with sync_env.engine.connect() as conn:
        pending = await conn.scalar(
            select(Connection.notifications_pending).where(Connection.id == gen.connection_id)
        )
    assert pending == sent and await sync_env.marks() == 1

    assert await sync_env.dispatch() == 1
    jobs = await _reconcile_jobs(sync_env)
    assert [job["connection_id"] for job in jobs] == [gen.connection_id]
    assert await sync_env.marks() == 0
    assert await _counted(sync_env, provider, activity.NOTIFICATION) == counted + sent

    # More notifications while the job is still queued: counted, but still one job.
    await _notify(sync_env, provider, gen)
    assert await sync_env.dispatch() == 1
    assert len(await _reconcile_jobs(sync_env)) == 1
    assert await _counted(sync_env, provider, activity.NOTIFICATION) == counted + sent + 1

    await sync_env.settle()
    async with sync_env.engine.connect() as conn:
        after = await conn.scalar(select(func.count()).select_from(SyncRun))
    assert after == runs + 1  # one reconcile for all of them
    assert await _counted(sync_env, provider, activity.SYNC) == syncs + 1


async def test_a_mark_held_by_another_dispatcher_is_skipped_not_waited_for(
    sync_env: SyncEnv,
) -> None:
    await sync_env.connect("google")
    await sync_env.settle()
    gen = await _generation(sync_env, "google")
    await _notify(sync_env, "google", gen)
    batch = sync_env.rt.settings.dispatch_batch_size
    async with sync_env.engine.connect() as other:
        # Another worker's dispatcher has claimed this row and not yet committed.
        await other.execute(
            select(Connection.id).where(Connection.id == gen.connection_id).with_for_update()
        )
        skipped = await asyncio.wait_for(dispatch_once(sync_env.engine, batch=batch), 10)
        assert skipped.connections == 0
        await other.rollback()
    done = await dispatch_once(sync_env.engine, batch=batch)
    assert (done.connections, done.jobs, done.notifications) == (1, 1, 1)
    again = await dispatch_once(sync_env.engine, batch=batch)
    assert again.connections == 0


async def test_the_first_notifications_trace_reaches_the_job(sync_env: SyncEnv) -> None:
    await sync_env.connect("google")
    await sync_env.settle()
    gen = await _generation(sync_env, "google")
    headers = {
        "x-goog-channel-id": gen.subscription_id,
        "x-goog-channel-token": channel_secret(sync_env.env, gen.subscription_id),
        "x-goog-resource-state": "exists",
    }
    cipher = sync_env.rt.db.cipher
    assert await intake.google(sync_env.engine, headers, cipher=cipher, trace="trace-first") == 200
    assert await intake.google(sync_env.engine, headers, cipher=cipher, trace="trace-second") == 200
    assert await intake.google(sync_env.engine, headers, cipher=cipher) == 200
    async with sync_env.engine.connect() as conn:
        trace = await conn.scalar(
            select(Connection.sync_requested_trace).where(Connection.id == gen.connection_id)
        )
    assert trace == "trace-first"
    await sync_env.dispatch()
    assert await _reconcile_jobs(sync_env) == [
        {"connection_id": gen.connection_id, "trace": "trace-first"}
    ]
    await sync_env.settle()
    # The next mark starts afresh: no trace given, none carried over.
    assert await intake.google(sync_env.engine, headers, cipher=cipher) == 200
    await sync_env.dispatch()
    assert await _reconcile_jobs(sync_env) == [{"connection_id": gen.connection_id}]


async def test_concurrent_notifications_share_commits_and_each_is_counted(
    sync_env: SyncEnv,
) -> None:
    """Group commit (sync/intake/coalesce.py): requests arriving together share statements;
    every one is answered 200 only after its mark committed, and none is lost."""
    await sync_env.connect("google")
    await sync_env.connect("google", "bob")
    await sync_env.settle()
    async with sync_env.engine.connect() as conn:
        gens = (
            await conn.execute(
                select(SubscriptionGeneration).where(SubscriptionGeneration.status == "live")
            )
        ).all()
    assert len(gens) == 2
    await asyncio.gather(*(_notify(sync_env, "google", gens[i % 2]) for i in range(30)))
    async with sync_env.engine.connect() as conn:
        pending = dict(
            (await conn.execute(select(Connection.id, Connection.notifications_pending))).all()
        )
    assert sorted(pending.values()) == [15, 15]
    assert await sync_env.dispatch() == 2
    assert len(await _reconcile_jobs(sync_env)) == 2
