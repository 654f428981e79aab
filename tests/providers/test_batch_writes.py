"""Many event creates of one Google account in one request (`/batch/calendar/v3`,
providers/google/batch.py) against the emulator: one answer per event, idempotent
ids, a repeat answering Conflict per event, and every inner call logged (and
counted against the quota) as itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from tests.providers.harness import NOW, Env, close_env, make_env

from spacecal.providers.base import Conflict, EventWrite, WrittenEvent
from spacecal.providers.google import GoogleProvider


@pytest.fixture
async def google() -> AsyncIterator[Env]:
    e = make_env("google")
    e.calendar_id = (
        await e.provider.create_calendar(e.access, "Meeting Room A", "Europe/Paris")
    ).id
    yield e
    await close_env(e)


def _block(n: int) -> EventWrite:
    start = NOW + timedelta(days=1 + n // 10, hours=n % 10)
    return EventWrite(
        idempotency_key=f"blk-{n}",
        title="Booked",
        description="",
        start=start,
        end=start + timedelta(hours=1),
        time_zone="Europe/Paris",
        marker="opaque",
    )


async def test_many_creates_in_batches(google: Env) -> None:
    provider = google.provider
    assert isinstance(provider, GoogleProvider) and provider.capabilities.batch_writes
    events = [_block(n) for n in range(60)]  # two batch requests (50 + 10)
    before = google.api_calls("/events")
    written = await provider.create_events(google.access, google.calendar_id, events)
    assert all(isinstance(w, WrittenEvent) for w in written)
    assert google.api_calls("/events") - before == 60  # a batch never saves quota
    live = await google.live_events()
    assert sorted(e["id"] for e in live) == sorted(
        w.event_id for w in written if isinstance(w, WrittenEvent)
    )
    # Again: each event answers Conflict (already there), for the single create.
    again = await provider.create_events(google.access, google.calendar_id, events[:3])
    assert all(isinstance(a, Conflict) for a in again)
    single = await provider.create_event(google.access, google.calendar_id, events[0])
    assert single.event_id == written[0].event_id  # type: ignore[union-attr]
