"""Renewal over a simulated week: channels and subscriptions renewed ahead of expiry,
expired ones recovered, failing renewals backed off, all while events keep booking."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from tests.support.bookings import live_bookings, tomorrow_at
from tests.support.environments import PROVIDERS, KeepEnv
from tests.support.keepalive import GOOGLE, MICROSOFT, assert_one_live

from spacecal import clock
from spacecal.db.models import ProviderAccount
from spacecal.sync.upkeep.keepalive_pass import jitter_offset


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
            if provider == "microsoft":
                # Graph rotates the refresh token on every use: only the newest one
                # works, so a rotated token spacecal failed to store ends the week.
                k.env.microsoft.invalidate_old_refresh_tokens(member.email)
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
    async with k.engine.connect() as conn:
        account = (await conn.execute(select(ProviderAccount))).one()
    assert account.status == "active"
    assert account.access_token_expires_at > clock.now()  # refreshed as the week went


def test_renewals_of_connections_made_together_are_spread_over_the_jitter_window() -> None:
    window = 3600.0
    offsets = [jitter_offset(i, window).total_seconds() for i in range(1, 1001)]
    assert all(0 <= o < window for o in offsets)
    assert len({int(o) for o in offsets}) > 700  # a thousand in ~3600 distinct seconds
    per_six_minutes = [0] * 10
    for o in offsets:
        per_six_minutes[int(o // 360)] += 1
    assert min(per_six_minutes) > 50 and max(per_six_minutes) < 150
    assert jitter_offset(7, window) == jitter_offset(7, window)  # fixed per connection


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
    # The renewal's own condition holds its failure (Graph's daily window roll may have
    # run a successful reconcile since: that is the sync's condition, and it does not
    # hide the failing renewal in the health shown below).
    assert record.renewal_error is not None and "push alive failed" in record.renewal_error
    assert record.renewal_retry_at == pytest.approx(
        clock.now() + timedelta(hours=1), abs=timedelta(seconds=30)
    )
    # What the admin (records API) and the member (portal) see.
    shown = await k.record(provider)
    assert shown["Health"] == "failing"
    assert shown["LastError"].startswith("Keeping the calendar's push alive failed")
    assert "push alive failed" in await k.portal_page()
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
    assert record.renewal_failures == 0 and record.renewal_error is None
    assert record.health == "healthy" and record.last_error is None
    assert record.subscription_expire_date > before
    await assert_one_live(k, provider, member.calendar_id)
    shown = await k.record(provider)
    assert shown["Health"] == "healthy" and shown["LastError"] is None
    page = await k.portal_page()
    assert "In your calendar" in page and "push alive failed" not in page


def _renew_calls(k: KeepEnv, provider: str) -> list[object]:
    emu = k.env.google if provider == "google" else k.env.microsoft
    wanted = "/events/watch" if provider == "google" else "/subscriptions/"
    return [c for c in emu.core.calls.list() if wanted in c.as_dict()["path"]]


async def test_a_graph_subscription_gone_at_renewal_is_recreated_with_a_full_resync(
    keep_env: KeepEnv,
) -> None:
    k = keep_env
    member = await k.connect("microsoft")
    await k.settle()
    [old] = await k.generations("microsoft", "live")
    # Graph removed the subscription and its lifecycle notice was lost: spacecal still
    # believes in it; an event made now notifies nobody.
    await k.env.fault(
        MICROSOFT, {"kind": "drop_notification", "match": {"path": "*/lifecycle"}, "times": 1}
    )
    k.env.microsoft.trigger_lifecycle(old.subscription_id, "subscriptionRemoved")
    await k.settle()
    assert [g.subscription_id for g in await k.generations("microsoft", "live")] == [
        old.subscription_id
    ]
    # Two days ahead: still in the future after the ~19 h jump below, whatever the
    # time of day the test runs at.
    start = tomorrow_at(10, days=2)
    member.create("Unheard", start, start + timedelta(hours=1))
    await k.settle()
    assert await live_bookings(k) == []
    # Into the renewal margin: the PATCH answers 404, so a new subscription is made and
    # the calendar is pulled in full.
    await k.advance(old.expires_at - clock.now() - timedelta(hours=5))
    [new] = await k.generations("microsoft", "live")
    assert new.subscription_id != old.subscription_id
    await assert_one_live(k, "microsoft", member.calendar_id)
    assert len(await live_bookings(k)) == 1
    start = tomorrow_at(14)
    member.create("Heard again", start, start + timedelta(hours=1))
    await k.settle()
    assert len(await live_bookings(k)) == 2
