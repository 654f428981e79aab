"""Graph lifecycle events, dropped notifications, polling, dead consents, the window
roll, resource changes and pruning, over simulated time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from tests.support.bookings import live_bookings, tomorrow_at
from tests.support.environments import PROVIDERS, KeepEnv, age_jobs
from tests.support.keepalive import GOOGLE, MICROSOFT, assert_one_live, put_record

from spacecal import clock
from spacecal.db.models import ProviderAccount, SyncRun
from spacecal.jobs.reconcile import defer_reconcile
from spacecal.sync.upkeep.prune import prune


async def _lifecycle(k: KeepEnv, event: str) -> None:
    [gen] = await k.generations("microsoft", "live")
    k.env.microsoft.trigger_lifecycle(gen.subscription_id, event)
    await k.settle()


async def test_reauthorization_required_patches_the_subscription(keep_env: KeepEnv) -> None:
    k = keep_env
    member = await k.connect("microsoft")
    await k.settle()
    [before] = await k.generations("microsoft", "live")
    await k.advance(timedelta(hours=1))
    await _lifecycle(k, "reauthorizationRequired")
    [after] = await k.generations("microsoft", "live")
    assert after.subscription_id == before.subscription_id
    assert after.expires_at > before.expires_at  # PATCHed: reauthorized
    assert not (await k.connection("microsoft")).renew_requested
    await assert_one_live(k, "microsoft", member.calendar_id)
    start = tomorrow_at(10)
    member.create("After reauthorization", start, start + timedelta(hours=1))
    await k.settle()
    assert len(await live_bookings(k)) == 1


async def test_subscription_removed_is_recreated_then_resynced(keep_env: KeepEnv) -> None:
    k = keep_env
    member = await k.connect("microsoft")
    await k.settle()
    [old] = await k.generations("microsoft", "live")
    await _lifecycle(k, "subscriptionRemoved")
    [new] = await k.generations("microsoft", "live")
    assert new.subscription_id != old.subscription_id
    await assert_one_live(k, "microsoft", member.calendar_id)
    async with k.engine.connect() as conn:
        full = await conn.scalar(select(func.count()).where(SyncRun.full_sync))
    assert full >= 1
    start = tomorrow_at(10)
    member.create("After removal", start, start + timedelta(hours=1))
    await k.settle()
    assert len(await live_bookings(k)) == 1


async def test_missed_resyncs_in_full(keep_env: KeepEnv) -> None:
    k = keep_env
    member = await k.connect("microsoft")
    await k.settle()
    # Graph sends "created" then "updated": drop both (the lifecycle one gets through).
    await k.env.fault(MICROSOFT, {"kind": "drop_notification", "times": 2})
    start = tomorrow_at(10)
    member.create("Lost", start, start + timedelta(hours=1))
    await k.settle()
    assert await live_bookings(k) == []
    old_link = (await k.connection("microsoft")).delta_link
    await _lifecycle(k, "missed")
    assert len(await live_bookings(k)) == 1
    assert (await k.connection("microsoft")).delta_link != old_link


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_dropped_notification_is_recovered_by_the_sweep(
    keep_env: KeepEnv, provider: str
) -> None:
    k = keep_env
    member = await k.connect(provider)
    await k.settle()
    await k.env.fault(GOOGLE if provider == "google" else MICROSOFT, {"kind": "drop_notification"})
    start = tomorrow_at(10)
    member.create("Dropped", start, start + timedelta(hours=1))
    await k.settle()
    assert await live_bookings(k) == []
    await k.advance(timedelta(hours=1), sweep_too=True)
    assert await live_bookings(k) == []  # still within the quiet span (2 h here)
    await k.advance(timedelta(hours=1, minutes=5), sweep_too=True)
    assert len(await live_bookings(k)) == 1


async def test_a_calendar_without_push_is_polled(keep_env: KeepEnv) -> None:
    k = keep_env
    member = await k.connect("google")
    await k.settle()
    k.env.google.set_push_supported(member.calendar_id, False)
    await k.advance(timedelta(days=2))  # the channel lapsed; recovery learns "no push"
    record = await k.connection("google")
    assert record.push_supported is False
    assert await k.generations("google", "live") == []
    start = tomorrow_at(10)
    member.create("Polled", start, start + timedelta(hours=1))
    await k.advance(timedelta(minutes=30), sweep_too=True)
    assert await live_bookings(k) == []
    await k.advance(timedelta(minutes=35), sweep_too=True)  # past the 1 h poll interval
    assert len(await live_bookings(k)) == 1


def _calls(k: KeepEnv, provider: str, account: str) -> int:
    emu = k.env.google if provider == "google" else k.env.microsoft
    return len([c for c in emu.core.calls.list() if c.as_dict().get("account") in (account, None)])


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_invalid_grant_needs_reconnect_without_a_retry_loop_then_reconnects(
    keep_env: KeepEnv, provider: str
) -> None:
    k = keep_env
    member = await k.connect(provider)
    await k.settle()
    k.env.google.revoke_consent(member.email) if provider == "google" else (
        k.env.microsoft.revoke_consent(member.email)
    )
    emu = k.env.google if provider == "google" else k.env.microsoft
    before = len(emu.core.calls.list())
    await k.advance(timedelta(hours=4), sweep_too=True)
    async with k.engine.connect() as conn:
        status = await conn.scalar(select(ProviderAccount.status))
    assert status == "needs_reconnect"
    path = "coworkergooglecalendars" if provider == "google" else "coworkermsofficecalendars"
    [record] = await k.env.records(path)
    assert record["NeedsReconnect"] is True
    assert "Paused: connect again" in await k.portal_page()
    for _ in range(23):  # four days in 4-hour steps: sweeps, renewals, token expiries
        await k.advance(timedelta(hours=4), sweep_too=True)
    made = len(emu.core.calls.list()) - before
    assert made <= 3, [c.as_dict()["path"] for c in emu.core.calls.list()[before:]]
    # Reconnecting clears it; renewal and sync work again.
    member = await k.connect(provider)
    await k.settle()
    await k.advance(timedelta(hours=1))
    async with k.engine.connect() as conn:
        status = await conn.scalar(select(ProviderAccount.status))
    assert status == "active"
    await assert_one_live(k, provider, member.calendar_id)
    start = tomorrow_at(10)
    member.create("Back", start, start + timedelta(hours=1))
    await k.settle()
    assert len(await live_bookings(k)) == 1


async def _calendar_names(k: KeepEnv, provider: str) -> list[str]:
    record = await k.connection(provider)
    adapter = k.rt.provider_for(provider)
    calendars = await k.rt.tokens(provider, record.provider_account_id).call(adapter.list_calendars)
    return [c.name for c in calendars if c.id == record.calendar_id]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_resource_and_business_renames_rename_the_calendar(
    keep_env: KeepEnv, provider: str
) -> None:
    k = keep_env
    await k.connect(provider)
    await k.settle()
    room = k.env.space.room_id
    await put_record(k, "resources", room, Name="Boardroom")
    await k.settle()
    [name] = await _calendar_names(k, provider)
    assert name.startswith("Boardroom · ")
    business = (await k.env.api.get(f"/api/spaces/resources/{room}")).json()["BusinessId"]
    await put_record(k, "businesses", business, Name="Harbourside")
    await k.settle()
    assert await _calendar_names(k, provider) == ["Boardroom · Harbourside"]
    assert (await k.connection(provider)).name == "Boardroom · Harbourside"
    assert not (await k.connection(provider)).rename_pending


async def test_finished_jobs_and_old_history_are_pruned(keep_env: KeepEnv) -> None:
    k = keep_env
    settings = k.rt.settings.model_copy(
        update={
            "prune_jobs_after_seconds": 5 * 86400.0,
            "prune_sync_runs_after_seconds": 5 * 86400.0,
        }
    )
    await k.connect("google")
    await k.connect("microsoft")
    await k.settle()
    await k.advance(timedelta(hours=3), sweep_too=True)

    async def counts() -> tuple[int, int, int]:
        async with k.engine.connect() as conn:
            done = await conn.scalar(
                text("SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'")
            )
            todo = await conn.scalar(
                text("SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo','doing')")
            )
            runs = await conn.scalar(select(func.count()).select_from(SyncRun))
        return int(done or 0), int(todo or 0), int(runs or 0)

    done, _, runs = await counts()
    assert done > 0 and runs > 0
    # A trigger still waiting to run is never pruned, however old.
    connection = await k.connection("google")
    async with k.engine.begin() as conn:
        assert await defer_reconcile(conn, connection.id, connection.provider_account_id)
    clock.clock.advance(timedelta(days=4))
    await age_jobs(k.engine, timedelta(days=4))
    assert (await prune(k.rt.db, settings)).jobs == 0
    assert await counts() == (done, 1, runs)
    clock.clock.advance(timedelta(days=2))
    await age_jobs(k.engine, timedelta(days=2))
    pruned = await prune(k.rt.db, settings)
    assert pruned.jobs == done and pruned.sync_runs == runs
    assert await counts() == (0, 1, 0)
    clock.clock.advance(timedelta(days=30))
    await age_jobs(k.engine, timedelta(days=30))
    assert (await prune(k.rt.db, settings)).jobs == 0
    assert await counts() == (0, 1, 0)
