"""Intake verification, throttling, and crashes in the middle of a write."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select, text
from tests.support.bookings import live_bookings, tomorrow_at
from tests.support.channel_secrets import all_channel_secrets
from tests.support.environments import PROVIDERS, SyncEnv

import spacecal.sync.reconcile.writeback as writeback
from spacecal import clock
from spacecal.db.models import Connection, SubscriptionGeneration, SyncRun


def forged_count(provider: str) -> float:
    value = REGISTRY.get_sample_value(
        "spacecal_webhook_notifications_total", {"provider": provider, "outcome": "forged"}
    )
    return value or 0.0


async def queued(s: SyncEnv) -> int:
    async with s.engine.connect() as conn:
        return int(await conn.scalar(text("SELECT count(*) FROM procrastinate_jobs")) or 0)


async def test_forged_and_malformed_webhooks_change_nothing(sync_env: SyncEnv) -> None:
    await sync_env.connect("google")
    await sync_env.connect("microsoft")
    await sync_env.settle()
    async with sync_env.engine.connect() as conn:
        generations = {
            r.provider: r for r in (await conn.execute(select(SubscriptionGeneration))).all()
        }
        before = (await conn.execute(select(Connection.id, Connection.last_notification_at))).all()
    jobs_before = await queued(sync_env)
    web = sync_env.env.api
    google = generations["google"]
    forged_google = forged_count("google")
    answer = await web.post(
        "/webhooks/google",
        headers={
            "X-Goog-Channel-ID": google.subscription_id,
            "X-Goog-Channel-Token": "guess",
            "X-Goog-Resource-State": "exists",
            "X-Goog-Resource-ID": google.watch_resource_id or "",
            "X-Goog-Message-Number": "7",
        },
    )
    assert answer.status_code == 401
    assert forged_count("google") == forged_google + 1
    # Unknown channels are acknowledged and ignored; missing headers are malformed.
    unknown = await web.post(
        "/webhooks/google",
        headers={"X-Goog-Channel-ID": "no-such-channel", "X-Goog-Resource-State": "exists"},
    )
    assert unknown.status_code == 200
    assert (await web.post("/webhooks/google")).status_code == 400

    microsoft = generations["microsoft"]
    forged_ms = forged_count("microsoft")
    body = {
        "value": [
            {
                "subscriptionId": microsoft.subscription_id,
                "clientState": "guess",
                "changeType": "created",
                "resource": "me/events/x",
                "resourceData": {"id": "x"},
            }
        ]
    }
    answer = await web.post(
        "/webhooks/microsoft",
        content=json.dumps(body),
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 202
    assert forged_count("microsoft") == forged_ms + 1
    for bad in (b"not json", b"[]", b'{"value": 3}', b"{" * 5000):
        assert (await web.post("/webhooks/microsoft", content=bad)).status_code == 400
    lifecycle = {
        "value": [
            {
                "subscriptionId": microsoft.subscription_id,
                "clientState": "guess",
                "lifecycleEvent": "subscriptionRemoved",
            }
        ]
    }
    answer = await web.post("/webhooks/microsoft/lifecycle", content=json.dumps(lifecycle))
    assert answer.status_code == 202

    async with sync_env.engine.connect() as conn:
        after = (await conn.execute(select(Connection.id, Connection.last_notification_at))).all()
        statuses = set(await conn.scalars(select(SubscriptionGeneration.status)))
    assert sorted(after) == sorted(before)
    assert statuses == {"live"}
    assert await queued(sync_env) == jobs_before


async def test_a_real_notification_is_recorded_before_it_is_acknowledged(
    sync_env: SyncEnv,
) -> None:
    member = await sync_env.connect("google")
    await sync_env.settle()
    start = tomorrow_at(10)
    member.create("Seen by push", start, start + timedelta(hours=1))
    await sync_env.env.google.drain()
    async with sync_env.engine.connect() as conn:
        mark = (
            await conn.execute(
                select(
                    Connection.last_notification_at,
                    Connection.sync_requested_at,
                    Connection.notifications_pending,
                )
            )
        ).one()
    deliveries = sync_env.env.google.deliveries()
    assert deliveries[-1]["status"] == 200
    # Acknowledged = a committed mark on the connection; the worker's dispatcher
    # turns it into the reconcile job.
    assert mark.last_notification_at is not None and mark.sync_requested_at is not None
    assert mark.notifications_pending == 1
    assert await sync_env.runnable_jobs() == 0
    assert await sync_env.dispatch() == 1
    assert await sync_env.runnable_jobs() == 1 and await sync_env.marks() == 0


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_throttling_is_waited_out_without_blocking_other_accounts(
    sync_env: SyncEnv, provider: str
) -> None:
    alice = await sync_env.connect(provider, "alice")
    bob = await sync_env.connect(provider, "bob")
    await sync_env.settle()
    emulator = sync_env.env.google if provider == "google" else sync_env.env.microsoft
    emulator.faults.add("http_429", times=1, account=alice.email, retry_after=120)
    start = tomorrow_at(9)
    alice.create("Alice", start, start + timedelta(hours=1))
    bob.create("Bob", start + timedelta(hours=2), start + timedelta(hours=3))
    await sync_env.settle()
    bookings = await live_bookings(sync_env)
    assert [b.coworker_id for b in bookings] == [sync_env.env.space.bob]
    async with sync_env.engine.connect() as conn:
        waiting = (
            await conn.execute(
                text(
                    "SELECT scheduled_at - now() AS wait, queueing_lock FROM procrastinate_jobs"
                    " WHERE status = 'todo' ORDER BY id"
                )
            )
        ).all()
        health, alice_id = (
            await conn.execute(
                select(Connection.health, Connection.id).where(
                    Connection.coworker_id == sync_env.env.space.alice
                )
            )
        ).one()
    assert health == "throttled"
    # Bob's booking owes Alice's calendar its block: that blocks-only job waits too,
    # queued behind the throttled reconcile under Alice's account lock (not runnable).
    assert [w.queueing_lock for w in waiting] == [f"reconcile:{alice_id}", f"blocks:{alice_id}"]
    assert await sync_env.runnable_jobs() == 0
    # Retry-After, from PostgreSQL's clock (the one procrastinate fetches by).
    assert timedelta(seconds=100) <= waiting[0].wait <= timedelta(seconds=120)
    # Time passes: the waiting job runs and Alice's event is booked.
    async with sync_env.engine.begin() as conn:
        await conn.execute(text("UPDATE procrastinate_jobs SET scheduled_at = now()"))
    await sync_env.settle()
    assert len(await live_bookings(sync_env)) == 2


@pytest.mark.parametrize("shift", [timedelta(days=-365), timedelta(days=365)])
async def test_a_backoff_runs_after_its_delay_wherever_spacecal_clock_is(
    sync_env: SyncEnv, shift: timedelta
) -> None:
    """A throttled reconcile is deferred by a delay from PostgreSQL's now(), never by an
    instant from spacecal's clock: with that clock a year behind, the job would run at
    once; a year ahead, never (DESIGN, Time)."""
    alice = await sync_env.connect("google", "alice")
    await sync_env.settle()
    clock.clock.advance(shift)
    try:
        sync_env.env.google.faults.add("http_429", times=1, account=alice.email, retry_after=2)
        start = tomorrow_at(9)
        alice.create("Alice", start, start + timedelta(hours=1))
        await sync_env.settle()  # throttled: the next reconcile waits 2 s
        assert await live_bookings(sync_env) == []
        async with sync_env.engine.connect() as conn:
            wait = await conn.scalar(
                text(
                    "SELECT EXTRACT(EPOCH FROM scheduled_at - now()) FROM procrastinate_jobs"
                    " WHERE status = 'todo'"
                )
            )
        assert 0 < float(wait) <= 2  # not at once, and not a year away
        assert await sync_env.runnable_jobs() == 0
        await asyncio.sleep(float(wait) + 0.1)
        assert await sync_env.runnable_jobs() == 1
        await sync_env.settle()
        assert len(await live_bookings(sync_env)) == 1
    finally:
        clock.clock.advance(-shift)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_crash_after_the_provider_write_makes_no_duplicate_event(
    sync_env: SyncEnv, provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = await sync_env.connect(provider)
    await sync_env.settle()
    original = writeback._link_new_event
    crashes = 0

    async def crash_once(*args: object, **kwargs: object) -> None:
        nonlocal crashes
        if crashes == 0:
            crashes += 1
            raise RuntimeError("the process died right after the provider answered")
        await original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(writeback, "_link_new_event", crash_once)
    start = tomorrow_at(16)
    made = await sync_env.env.api.post(
        "/api/spaces/bookings",
        json={
            "ResourceId": sync_env.env.space.room_id,
            "CoworkerId": sync_env.env.space.alice,
            "FromTime": start.isoformat(),
            "ToTime": (start + timedelta(hours=1)).isoformat(),
        },
    )
    assert made.status_code == 200
    await sync_env.settle()
    assert crashes == 1
    # The crash is on record; the provider's own push of the new event triggered the
    # next reconcile, which finished the pending create (the same event) before pulling.
    async with sync_env.engine.connect() as conn:
        outcomes = list(await conn.scalars(select(SyncRun.outcome).order_by(SyncRun.id)))
        health = await conn.scalar(select(Connection.health))
    assert "failed" in outcomes and outcomes[-1] == "ok"
    assert health == "healthy"
    events = member.events()
    assert len(events) == 1
    assert events[0].title == "Meeting Room A"  # ours, not refused as a stranger's event
    [booking] = await live_bookings(sync_env)
    column = "google_event_id" if provider == "google" else "office365_event_id"
    assert getattr(booking, column) == events[0].id


async def test_metrics_count_notifications_without_ids_or_secrets(sync_env: SyncEnv) -> None:
    member = await sync_env.connect("google")
    await sync_env.settle()
    sample = {"provider": "google", "outcome": "accepted"}
    before = REGISTRY.get_sample_value("spacecal_webhook_notifications_total", sample) or 0.0
    start = tomorrow_at(12)
    member.create("Counted", start, start + timedelta(hours=1))
    await sync_env.settle()
    answer = await sync_env.env.api.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    line = 'spacecal_webhook_notifications_total{outcome="accepted",provider="google"}'
    shown = [row for row in answer.text.splitlines() if row.startswith(line)]
    assert shown and float(shown[0].split()[-1]) >= before + 1
    async with sync_env.engine.connect() as conn:
        secrets = list(await conn.scalars(select(SubscriptionGeneration.secret)))
    secrets += all_channel_secrets(sync_env.env).values()  # the clear ones too
    assert secrets and not any(secret in answer.text for secret in secrets)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_provisioned_channel_knows_its_account(sync_env: SyncEnv, provider: str) -> None:
    """So it can still be stopped after its connection is gone."""
    await sync_env.connect(provider)
    async with sync_env.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    SubscriptionGeneration.provider_account_id, Connection.provider_account_id
                ).join(Connection, Connection.id == SubscriptionGeneration.connection_id)
            )
        ).all()
    assert rows and all(gen == conn_account is not None for gen, conn_account in rows)
