"""Pulls: full, incremental, paging, deletions, recurring series with a moved and a
cancelled instance, all-day events, Windows time zones, and resets."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from tests.providers.harness import NOW, WINDOW, Env

from spacecal.domain import EventStatus, EventTime
from spacecal.providers.base import SyncReset

T0 = NOW + timedelta(days=1, hours=1)  # Tuesday 09:00 UTC


def at(hours: float, days: int = 0) -> datetime:
    return T0 + timedelta(days=days, hours=hours)


async def test_full_then_incremental(env: Env) -> None:
    a = env.create_event("Standup", at(0), at(1), description="bring coffee")
    b = env.create_event("Review", at(2), at(3), tentative=True)
    full = await env.provider.pull(env.access, env.calendar_id, None, WINDOW)
    assert full.full and full.cursor
    by_key = {e.key: e for e in full.events}
    assert set(by_key) == {a, b}
    assert by_key[a].time == EventTime.timed(at(0), at(1))
    assert by_key[a].status is EventStatus.CONFIRMED and by_key[a].title == "Standup"
    assert by_key[a].description == "bring coffee"
    assert by_key[b].status is EventStatus.TENTATIVE
    assert by_key[a].changed_at is not None and by_key[a].series_id is None
    assert set(full.etags) == {a, b}

    nothing = await env.provider.pull(env.access, env.calendar_id, full.cursor, WINDOW)
    assert not nothing.full and list(nothing.events) == []

    env.move_event(a, at(4), at(5))
    env.delete_event(b)
    c = env.create_event("New", at(6), at(7))
    inc = await env.provider.pull(env.access, env.calendar_id, full.cursor, WINDOW)
    assert not inc.full
    by_key = {e.key: e for e in inc.events}
    assert set(by_key) == {a, b, c}
    assert by_key[a].time == EventTime.timed(at(4), at(5))
    assert by_key[b].status is EventStatus.CANCELLED and by_key[b].time is None
    assert full.etags[a] != inc.etags[a]
    assert b not in inc.etags


async def test_paging_across_several_pages(paged_env: Env) -> None:
    env = paged_env
    made = [env.create_event(f"E{i}", at(i), at(i + 0.5)) for i in range(7)]
    full = await env.provider.pull(env.access, env.calendar_id, None, WINDOW)
    assert sorted(e.key for e in full.events) == sorted(made)
    pages = env.api_calls("/events") if env.name == "google" else env.api_calls("/delta")
    assert pages >= 4  # 7 items, 2 per page
    for key in made[:5]:
        env.delete_event(key)
    inc = await env.provider.pull(env.access, env.calendar_id, full.cursor, WINDOW)
    assert sorted(e.key for e in inc.events if e.cancelled) == sorted(made[:5])
    again = await env.provider.pull(env.access, env.calendar_id, inc.cursor, WINDOW)
    assert list(again.events) == []


async def test_recurring_series_moved_and_cancelled_instances(env: Env) -> None:
    first = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # Monday 10:00 Paris
    series = env.create_weekly("Team sync", first, hours=1, count=4)
    full = await env.provider.pull(env.access, env.calendar_id, None, WINDOW)
    assert len(full.events) == 4  # instances only, never the series master
    assert {e.series_id for e in full.events} == {series}
    starts = sorted(e.time.start for e in full.events if e.time)
    assert starts == [first + timedelta(weeks=i) for i in range(4)]
    assert all(e.original_start == e.time.start for e in full.events if e.time)

    second, third = first + timedelta(weeks=1), first + timedelta(weeks=2)
    moved_key = env.move_instance(
        series, second, second + timedelta(hours=4), second + timedelta(hours=5)
    )
    cancelled_key = env.cancel_instance(series, third)
    inc = await env.provider.pull(env.access, env.calendar_id, full.cursor, WINDOW)
    by_key = {e.key: e for e in inc.events}
    assert moved_key in by_key and cancelled_key in by_key
    moved = by_key[moved_key]
    assert moved.time == EventTime.timed(second + timedelta(hours=4), second + timedelta(hours=5))
    assert moved.series_id == series and moved.original_start == second
    assert by_key[cancelled_key].cancelled
    assert moved_key == env.instance_key(series, second)  # instance keys are stable

    # A full pull now shows three live instances, the moved one moved.
    again = await env.provider.pull(env.access, env.calendar_id, None, WINDOW)
    live = {e.key: e for e in again.events if not e.cancelled}
    assert len(live) == 3 and cancelled_key not in live


async def test_all_day_events(env: Env) -> None:
    key = env.create_all_day("Offsite", date(2026, 11, 26), date(2026, 11, 28))
    full = await env.provider.pull(env.access, env.calendar_id, None, WINDOW)
    (event,) = [e for e in full.events if e.key == key]
    assert event.time == EventTime.days(date(2026, 11, 26), date(2026, 11, 28))
    assert event.time.all_day and event.time.day_count == 2


async def test_410_means_sync_reset_then_full_pull(env: Env) -> None:
    a = env.create_event("A", at(0), at(1))
    full = await env.provider.pull(env.access, env.calendar_id, None, WINDOW)
    env.reset_sync()
    with pytest.raises(SyncReset):
        await env.provider.pull(env.access, env.calendar_id, full.cursor, WINDOW)
    fresh = await env.provider.pull(env.access, env.calendar_id, None, WINDOW)
    assert fresh.full and [e.key for e in fresh.events] == [a]


async def test_graph_windows_time_zones() -> None:
    from tests.providers.harness import close_env, microsoft_env

    env = microsoft_env()
    try:
        env.calendar_id = (await env.provider.create_calendar(env.access, "Room", "UTC")).id
        # 10:00 in Berlin (UTC+1 in winter), 09:00 in New York (UTC-5), 10:00 in Delhi.
        start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
        keys = {
            zone: env.create_event(zone, start, start + timedelta(hours=1), tz=zone)
            for zone in ("W. Europe Standard Time", "Eastern Standard Time", "India Standard Time")
        }
        full = await env.provider.pull(env.access, env.calendar_id, None, WINDOW)
        by_key = {e.key: e for e in full.events}
        for key in keys.values():
            assert by_key[key].time == EventTime.timed(start, start + timedelta(hours=1))
        # An incremental round in another Windows zone, later in the window.
        later = datetime(2027, 1, 15, 17, 0, tzinfo=UTC)
        l_key = env.create_event("w", later, later + timedelta(hours=2), tz="Pacific Standard Time")
        inc = await env.provider.pull(env.access, env.calendar_id, full.cursor, WINDOW)
        (event,) = [e for e in inc.events if e.key == l_key]
        assert event.time == EventTime.timed(later, later + timedelta(hours=2))
    finally:
        await close_env(env)


async def test_graph_removed_items_and_html_bodies() -> None:
    from tests.providers.harness import close_env, microsoft_env

    env = microsoft_env()
    try:
        env.calendar_id = (await env.provider.create_calendar(env.access, "Room", "UTC")).id
        key = env.create_event(
            "Plan",
            at(0),
            at(1),
            description="<html><head><style>p{}</style></head><body><p>Line one<br>"
            "Line &amp; two</p></body></html>",
        )
        full = await env.provider.pull(env.access, env.calendar_id, None, WINDOW)
        (event,) = full.events
        assert event.description == "Line one\nLine & two"
        env.delete_event(key)
        inc = await env.provider.pull(env.access, env.calendar_id, full.cursor, WINDOW)
        (gone,) = inc.events
        assert gone.key == key and gone.cancelled and gone.time is None
    finally:
        await close_env(env)


async def test_google_deleted_series_cancels_every_instance() -> None:
    from tests.providers.harness import close_env, google_env

    env = google_env()
    try:
        env.calendar_id = (await env.provider.create_calendar(env.access, "Room", "UTC")).id
        first = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
        series = env.create_weekly("Team sync", first, hours=1, count=3)
        full = await env.provider.pull(env.access, env.calendar_id, None, WINDOW)
        env.delete_event(series)
        inc = await env.provider.pull(env.access, env.calendar_id, full.cursor, WINDOW)
        cancelled = {e.key for e in inc.events if e.cancelled}
        assert {e.key for e in full.events} <= cancelled
    finally:
        await close_env(env)


async def test_graph_repeated_items_keep_the_last() -> None:
    from tests.providers.harness import close_env, microsoft_env

    env = microsoft_env(page_size=2)
    try:
        env.calendar_id = (await env.provider.create_calendar(env.access, "Room", "UTC")).id
        made = [env.create_event(f"E{i}", at(i), at(i + 0.5)) for i in range(5)]
        full = await env.provider.pull(env.access, env.calendar_id, None, WINDOW)
        env.emu.set_delta_behaviour(replay_rate=1.0)  # every unchanged item sent again
        env.move_event(made[0], at(10), at(11))
        inc = await env.provider.pull(env.access, env.calendar_id, full.cursor, WINDOW)
        got = [e.key for e in inc.events]
        assert len(got) == len(set(got))  # one entry per key
        by_key = {e.key: e for e in inc.events}
        assert by_key[made[0]].time == EventTime.timed(at(10), at(11))
    finally:
        await close_env(env)
