"""Renewal over a simulated week: channels and subscriptions renewed ahead of expiry,
expired ones recovered, failing renewals backed off, all while events keep booking."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.keepalive.conftest import KeepEnv
from tests.sync.conftest import PROVIDERS
from tests.sync.test_scenarios import live_bookings, tomorrow_at

from spacecal import clock

GOOGLE = "http://google.emulator.test"
MICROSOFT = "http://microsoft.emulator.test"


async def assert_one_live(k: KeepEnv, provider: str, calendar_id: str) -> None:
    """Exactly one live generation, the same at the provider and on the record."""
    live = await k.generations(provider, "live")
    assert len(live) == 1, live
    assert k.live_at_provider(provider, calendar_id) == [live[0].subscription_id]
    record = await k.connection(provider)
    assert record.subscription_id == live[0].subscription_id
    assert record.subscription_expire_date == live[0].expires_at
    assert record.subscription_expire_date > clock.now()
    if provider == "google":
        assert record.watch_resource_id == live[0].watch_resource_id
    assert await k.generations(provider, "stopping") == []


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_week_of_renewals_keeps_the_calendar_in_sync(
    keep_env: KeepEnv, provider: str
) -> None:
    k = keep_env
    member = await k.connect(provider)
    await k.settle()
    first = (await k.connection(provider)).subscription_id
    for day in range(7):
        for _ in range(4):
            await k.advance(timedelta(hours=6))
        start = tomorrow_at(10)
        member.create(f"Day {day}", start, start + timedelta(hours=1))
        await k.settle()  # push only: the notification must reach a live generation
        bookings = await live_bookings(k)
        assert len(bookings) == day + 1, f"day {day}: the event did not become a booking"
        await assert_one_live(k, provider, member.calendar_id)
    generations = await k.generations(provider)
    assert len(generations) >= 6 if provider == "google" else len(generations) == 1
    record = await k.connection(provider)
    if provider == "google":
        assert record.subscription_id != first
    assert record.health == "healthy" and record.renewal_failures == 0


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_expired_subscription_is_recovered_with_a_full_resync(
    keep_env: KeepEnv, provider: str
) -> None:
    k = keep_env
    member = await k.connect(provider)
    await k.settle()
    # Nobody ran renewal for two days: the subscription lapsed; an event made meanwhile
    # notified nobody.
    clock.clock.advance(timedelta(days=2))
    k.env.google.clock.advance(timedelta(days=2))
    k.env.microsoft.clock.advance(timedelta(days=2))
    start = tomorrow_at(10)
    member.create("Made while unwatched", start, start + timedelta(hours=1))
    await k.env.google.drain()
    await k.env.microsoft.drain()
    assert k.live_at_provider(provider, member.calendar_id) == []
    await k.tick()
    await assert_one_live(k, provider, member.calendar_id)
    assert len(await live_bookings(k)) == 1  # the full resync found it
    start = tomorrow_at(14)
    member.create("After recovery", start, start + timedelta(hours=1))
    await k.settle()
    assert len(await live_bookings(k)) == 2


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_failing_renewal_backs_off_shows_and_recovers(
    keep_env: KeepEnv, provider: str
) -> None:
    k = keep_env
    member = await k.connect(provider)
    await k.settle()
    if provider == "google":
        rule = {"kind": "http_5xx", "match": {"path": "/calendar/v3/calendars/*/events/watch"}}
        base = GOOGLE
    else:
        rule = {"kind": "http_5xx", "match": {"method": "PATCH", "path": "/v1.0/subscriptions/*"}}
        base = MICROSOFT
    await k.env.fault(base, {**rule, "times": 2})
    before = (await k.connection(provider)).subscription_expire_date
    # Into the margin: the first attempt fails and is recorded with a backoff.
    await k.advance(before - clock.now() - timedelta(hours=5))
    record = await k.connection(provider)
    assert record.renewal_failures == 1
    # (Graph's daily window roll may have run a successful reconcile since; it does not
    # hide the failing renewal.)
    assert record.health == "failing"
    assert "push alive failed" in record.last_error
    assert record.renewal_retry_at == pytest.approx(
        clock.now() + timedelta(hours=1), abs=timedelta(seconds=30)
    )
    # Within the backoff nothing is tried again.
    calls = len(_renew_calls(k, provider))
    await k.advance(timedelta(minutes=30))
    assert len(_renew_calls(k, provider)) == calls
    # After it: the second failure doubles the wait; the third attempt succeeds.
    await k.advance(timedelta(minutes=31))
    record = await k.connection(provider)
    assert record.renewal_failures == 2
    assert record.renewal_retry_at > clock.now() + timedelta(hours=1, minutes=50)
    await k.advance(timedelta(hours=2, minutes=1))
    record = await k.connection(provider)
    assert record.renewal_failures == 0 and record.health == "healthy" and record.last_error is None
    assert record.subscription_expire_date > before
    await assert_one_live(k, provider, member.calendar_id)


def _renew_calls(k: KeepEnv, provider: str) -> list[object]:
    emu = k.env.google if provider == "google" else k.env.microsoft
    wanted = "/events/watch" if provider == "google" else "/subscriptions/"
    return [c for c in emu.core.calls.list() if wanted in c.as_dict()["path"]]
