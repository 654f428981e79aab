"""`/metrics` after real activity: notifications through the webhooks, reconciles
against the emulators, a refusal, an expired access token refreshed, a provider 500,
a renewal asked for by an operator; the queue gauges read from the database. And a
worker's own /metrics port."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from datetime import timedelta

import httpx2
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, text
from tests.support.bookings import tomorrow_at
from tests.support.channel_secrets import all_channel_secrets
from tests.support.environments import SyncEnv

from spacecal.cli.bulk import request_bulk
from spacecal.db.models import Connection, SubscriptionGeneration
from spacecal.emulators.common.faults import FaultKind
from spacecal.jobs.status import job_counts
from spacecal.metrics import serve_metrics

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(s: SyncEnv) -> tuple[Samples, str]:
    answer = await s.env.api.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples, answer.text


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def test_metrics_after_real_activity(sync_env: SyncEnv) -> None:
    s = sync_env
    google = await s.connect("google")
    await s.connect("microsoft")
    await s.settle()
    before, _ = await scrape(s)

    start = tomorrow_at(10)
    google.create("Planning", start, start + timedelta(hours=1))
    await s.settle()
    google.create("Clash", start, start + timedelta(hours=1))  # the room is taken: refused
    await s.settle()
    s.env.google.store.access_tokens.clear()  # spacecal's token dies early: 401, refresh
    google.create("After refresh", start + timedelta(hours=3), start + timedelta(hours=4))
    await s.settle()
    s.env.google.faults.add(FaultKind.HTTP_5XX, times=1, status=500, method="GET")
    google.create("Through a 500", start + timedelta(hours=5), start + timedelta(hours=6))
    await s.settle()
    async with s.engine.connect() as conn:
        google_id = await conn.scalar(select(Connection.id).where(Connection.provider == "google"))
    done = await request_bulk(s.engine, [int(google_id)], "renew_requested")
    assert done.queued == 1
    await s.settle()

    after, exposition = await scrape(s)
    accepted = {"provider": "google", "outcome": "accepted"}
    assert grew(before, after, "spacecal_webhook_notifications_total", **accepted) >= 4
    ok_syncs = grew(
        before, after, "spacecal_sync_duration_seconds_count", provider="google", outcome="ok"
    )
    assert ok_syncs >= 3
    assert (
        grew(
            before,
            after,
            "spacecal_sync_duration_seconds_count",
            provider="microsoft",
            outcome="ok",
        )
        >= 1
    )  # the bookings written back
    assert (
        grew(
            before,
            after,
            "spacecal_sync_duration_seconds_count",
            provider="google",
            outcome="failed",
        )
        >= 1
    )
    assert grew(before, after, "spacecal_sync_lag_seconds_count", provider="google") >= 3
    assert grew(before, after, "spacecal_refusals_total", provider="google") >= 1
    assert (
        grew(before, after, "spacecal_token_refreshes_total", provider="google", outcome="ok") >= 1
    )
    assert (
        grew(before, after, "spacecal_provider_errors_total", provider="google", status="401") >= 1
    )
    assert (
        grew(before, after, "spacecal_provider_errors_total", provider="google", status="500") >= 1
    )
    assert grew(before, after, "spacecal_renewals_total", provider="google", outcome="renewed") == 1

    # Queue gauges: what the database holds at the scrape.
    async with s.engine.connect() as conn:
        todo = await conn.scalar(
            text("SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo'")
        )
        secrets = list(await conn.scalars(select(SubscriptionGeneration.secret)))
    secrets += all_channel_secrets(s.env).values()  # the clear ones too
    assert value(after, "spacecal_queue_jobs", status="todo") == todo
    assert value(after, "spacecal_queue_jobs", status="doing") == 0
    assert value(after, "spacecal_queue_marked_connections") == 0
    # No id, calendar, account or secret in any label.
    assert secrets and not any(secret in exposition for secret in secrets)
    assert "gmail.test" not in exposition and "outlook.test" not in exposition


async def test_queue_gauges_count_marks_and_jobs(sync_env: SyncEnv) -> None:
    s = sync_env
    google = await s.connect("google")
    await s.settle()
    start = tomorrow_at(15)
    google.create("Waiting", start, start + timedelta(hours=1))
    await s.env.google.drain()  # delivered and marked, not yet dispatched
    marked, _ = await scrape(s)
    assert value(marked, "spacecal_queue_marked_connections") == 1
    await s.dispatch()  # now a job
    queued, _ = await scrape(s)
    assert value(queued, "spacecal_queue_marked_connections") == 0
    assert value(queued, "spacecal_queue_jobs", status="todo") >= 1
    await s.settle()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_worker_serves_its_own_metrics_port(sync_env: SyncEnv) -> None:
    port = _free_port()
    server = asyncio.create_task(
        serve_metrics(sync_env.engine, "127.0.0.1", port, job_counts=job_counts)
    )
    try:
        async with httpx2.AsyncClient() as client:
            for _ in range(100):
                try:
                    answer = await client.get(f"http://127.0.0.1:{port}/metrics")
                    break
                except httpx2.TransportError:
                    await asyncio.sleep(0.05)
            else:
                raise AssertionError("the metrics port never answered")
    finally:
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server
    assert answer.status_code == 200
    assert 'spacecal_queue_jobs{status="todo"}' in answer.text
    assert "spacecal_sync_duration_seconds" in answer.text
