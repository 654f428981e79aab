"""The activity page: its charts draw exactly the counts recorded in activity_hourly,
hour by hour over the last 24 hours and day by day over 30 days (UTC), filtered by
business and provider; and a real change from a calendar shows up in them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from tests.admin.conftest import World
from tests.support.bookings import live_bookings, tomorrow_at
from tests.support.environments import KeepEnv

from spacecal import activity, clock
from spacecal.activity import Activity, record_activity
from spacecal.admin.chart import Series, _nice_ceiling, svg

NOW = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)
KINDS = activity.KINDS


def charts(html: str) -> dict[str, dict[str, list[int]]]:
    """What each chart drew: its polylines' numbers by kind, by chart key."""
    found: dict[str, dict[str, list[int]]] = {}
    for key, body in re.findall(r'<svg[^>]*id="chart-(\w+)"(.*?)</svg>', html, flags=re.S):
        found[key] = {
            kind: [int(v) for v in values.split(",")]
            for kind, values in re.findall(
                r'<polyline class="series" data-kind="(\w+)" data-values="([\d,]+)"', body
            )
        }
    return found


def totals(html: str, key: str) -> dict[str, int]:
    table = html.split(f'id="totals-{key}"')[1].split("</table>")[0]
    return {k: int(v) for k, v in re.findall(r'data-kind="(\w+)">(\d+)<', table)}


@pytest.fixture
def frozen() -> Iterator[None]:
    clock.clock.set(NOW)
    try:
        yield
    finally:
        clock.clock.reset()


async def _record(world: World, at: datetime, *items: Activity) -> None:
    async with world.database.engine.begin() as conn:
        await record_activity(conn, items, at=at)


async def test_charts_match_recorded_activity(world: World, frozen: None) -> None:
    riverside, harbour = world.space.business_id, world.harbour_id
    await _record(
        world,
        NOW - timedelta(minutes=10),  # this hour: the last hourly bucket
        Activity(riverside, "google", activity.NOTIFICATION, 3),
        Activity(riverside, "google", activity.SYNC, 2),
        Activity(harbour, "microsoft", activity.SYNC, 5),
    )
    await _record(
        world,
        NOW - timedelta(hours=2),  # 12:xx: bucket 21 of 24
        Activity(riverside, "microsoft", activity.BOOKING_FROM_CALENDAR, 4),
        Activity(riverside, "microsoft", activity.REFUSAL, 1),
    )
    await _record(
        world,
        NOW - timedelta(hours=30),  # yesterday 08:xx: outside 24 h, inside 30 days
        Activity(riverside, "google", activity.REFUSAL, 7),
    )
    await _record(
        world,
        NOW - timedelta(days=10),  # 28 Feb: day bucket 19 of 30
        Activity(harbour, "google", activity.BOOKING_FROM_CALENDAR, 6),
    )
    await _record(
        world,
        NOW - timedelta(days=31),  # outside both charts
        Activity(riverside, "google", activity.NOTIFICATION, 100),
    )
    browser = await world.signed_in()
    page = await browser.get("/admin/activity")
    assert page.status_code == 200
    drawn = charts(page.text)

    day = {k: [0] * 24 for k in KINDS}
    day[activity.NOTIFICATION][23] = 3
    day[activity.SYNC][23] = 2 + 5
    day[activity.BOOKING_FROM_CALENDAR][21] = 4
    day[activity.REFUSAL][21] = 1
    assert drawn["day"] == day

    month = {k: [0] * 30 for k in KINDS}
    month[activity.NOTIFICATION][29] = 3
    month[activity.SYNC][29] = 7
    month[activity.BOOKING_FROM_CALENDAR][29] = 4
    month[activity.REFUSAL][29] = 1
    month[activity.REFUSAL][28] = 7  # 9 March, 08:xx
    month[activity.BOOKING_FROM_CALENDAR][19] = 6  # 28 February
    assert drawn["month"] == month
    assert totals(page.text, "day") == {
        "notification": 3,
        "sync": 7,
        "booking_from_calendar": 4,
        "refusal": 1,
    }
    assert totals(page.text, "month") == {
        "notification": 3,
        "sync": 7,
        "booking_from_calendar": 10,
        "refusal": 8,
    }
    # Axis labels in UTC: the hourly chart ends at this hour, the daily one today.
    assert ">14:00</text>" in page.text and ">10 Mar</text>" in page.text

    page = await browser.get(f"/admin/activity?business={harbour}")
    drawn = charts(page.text)
    assert drawn["day"][activity.SYNC][23] == 5
    assert sum(drawn["day"][activity.NOTIFICATION]) == 0
    assert drawn["month"][activity.BOOKING_FROM_CALENDAR][19] == 6

    page = await browser.get("/admin/activity?provider=microsoft")
    assert totals(page.text, "month") == {
        "notification": 0,
        "sync": 5,
        "booking_from_calendar": 4,
        "refusal": 1,
    }


async def test_one_providers_user_sees_that_providers_activity(world: World, frozen: None) -> None:
    await _record(
        world,
        NOW,
        Activity(world.space.business_id, "google", activity.SYNC, 2),
        Activity(world.space.business_id, "microsoft", activity.SYNC, 9),
    )
    browser = await world.signed_in("google-viewer@example.com")
    page = await browser.get("/admin/activity")
    assert totals(page.text, "day")["sync"] == 2


def test_the_drawing_scales_to_the_numbers() -> None:
    assert [_nice_ceiling(v) for v in (0, 3, 4, 5, 9, 17, 40, 41, 1234)] == [
        4,
        4,
        4,
        8,
        20,
        20,
        40,
        80,
        2000,
    ]
    starts = [NOW + timedelta(hours=i) for i in range(3)]
    counts = {k: [0, 0, 0] for k in KINDS}
    counts[activity.SYNC] = [0, 8, 4]
    drawing = str(svg(Series("day", "t", starts, counts)))
    points = re.search(r'data-kind="sync" data-values="0,8,4" points="([^"]+)"', drawing)
    assert points is not None
    ys = [float(p.split(",")[1]) for p in points.group(1).split()]
    # 8 is the top of the chart, 0 its floor, 4 halfway between.
    assert ys[1] < ys[2] < ys[0]
    assert abs((ys[0] + ys[1]) / 2 - ys[2]) < 0.2


async def test_a_booking_and_a_refusal_from_a_calendar_are_charted(keep_env: KeepEnv) -> None:
    k = keep_env
    if clock.now().minute >= 50:  # keep the whole story inside one hourly bucket
        for moved in (clock.clock, k.env.google.clock, k.env.microsoft.clock):
            moved.advance(timedelta(minutes=15))
    member = await k.connect("google")
    await k.settle()
    start = tomorrow_at(10)
    member.create("Planning", start, start + timedelta(hours=1))
    await k.settle()
    member.create("Clash", start, start + timedelta(hours=1))  # the room is taken
    await k.settle()
    assert len(await live_bookings(k)) == 1

    browser = k.env.new_browser()
    await browser.get("/admin/signin")
    page = await browser.post_form(
        "/admin/signin", email="admin@example.com", password="correct horse battery"
    )
    page = await browser.get("/admin/activity")
    day = charts(page.text)["day"]
    assert day[activity.BOOKING_FROM_CALENDAR][23] == 1
    assert day[activity.REFUSAL][23] == 1
    assert day[activity.NOTIFICATION][23] >= 2
    assert day[activity.SYNC][23] >= 3  # the first sync and one per change
    async with k.engine.connect() as conn:
        recorded = await activity.activity_series(
            conn,
            since=activity.hour_of(clock.now()),
            until=activity.hour_of(clock.now()) + timedelta(hours=1),
            bucket=timedelta(hours=1),
        )
    assert {kind: values[-1] for kind, values in recorded.items()} == {
        kind: values[23] for kind, values in day.items()
    }
