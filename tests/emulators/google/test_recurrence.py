"""Recurring series: expansion, one instance moved, one cancelled, then the series edited."""

from __future__ import annotations

from datetime import date
from typing import Any

from tests.emulators.google.helpers import API, Env

SYNC = {"singleEvents": "true", "showDeleted": "true"}
PARIS = "Europe/Paris"
WEEKLY = {
    "summary": "Team sync",
    "start": {"dateTime": "2026-11-30T10:00:00", "timeZone": PARIS},
    "end": {"dateTime": "2026-11-30T11:00:00", "timeZone": PARIS},
    "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=4"],
}


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [i["id"] for i in items]


async def test_series_expands_to_instances_with_google_ids(env: Env) -> None:
    cal = await env.new_calendar(tz=PARIS)
    series = env.emu.create_event(cal, WEEKLY)["id"]
    items, _ = await env.pull(cal, **SYNC)
    assert ids(items) == [
        f"{series}_20261130T090000Z",
        f"{series}_20261207T090000Z",
        f"{series}_20261214T090000Z",
        f"{series}_20261221T090000Z",
    ]
    first = items[0]
    assert first["recurringEventId"] == series
    assert first["originalStartTime"] == {
        "dateTime": "2026-11-30T10:00:00+01:00",
        "timeZone": PARIS,
    }
    assert first["start"] == first["originalStartTime"]
    assert "recurrence" not in first and first["summary"] == "Team sync"
    masters, _ = await env.pull(cal, showDeleted="true")
    assert ids(masters) == [series] and masters[0]["recurrence"] == WEEKLY["recurrence"]


async def test_move_cancel_then_edit_series(env: Env) -> None:
    cal = await env.new_calendar(tz=PARIS)
    series = env.emu.create_event(cal, WEEKLY)["id"]
    _, token = await env.pull(cal, **SYNC)

    # Move the second instance to 14:00, cancel the third.
    moved = env.emu.move_instance(
        cal,
        series,
        "2026-12-07T10:00:00+01:00",
        {"dateTime": "2026-12-07T14:00:00", "timeZone": PARIS},
        {"dateTime": "2026-12-07T15:00:00", "timeZone": PARIS},
    )
    assert moved["id"] == f"{series}_20261207T090000Z"
    env.emu.cancel_instance(cal, series, "20261214T090000Z")
    changes, token = await env.pull(cal, **SYNC, syncToken=token)
    by_id = {i["id"]: i for i in changes}
    assert set(by_id) == {f"{series}_20261207T090000Z", f"{series}_20261214T090000Z"}
    m = by_id[f"{series}_20261207T090000Z"]
    assert m["start"]["dateTime"] == "2026-12-07T14:00:00+01:00"
    assert m["originalStartTime"]["dateTime"] == "2026-12-07T10:00:00+01:00"
    c = by_id[f"{series}_20261214T090000Z"]
    assert c == {
        "kind": "calendar#event",
        "etag": c["etag"],
        "id": f"{series}_20261214T090000Z",
        "status": "cancelled",
        "recurringEventId": series,
        "originalStartTime": {"dateTime": "2026-12-14T10:00:00+01:00", "timeZone": PARIS},
    }
    # A full pull without showDeleted hides the cancelled instance, keeps the moved one.
    full, _ = await env.pull(cal, singleEvents="true")
    assert len(full) == 3 and f"{series}_20261214T090000Z" not in ids(full)

    # Edit the whole series (title): every instance comes back; the exceptions hold.
    env.emu.edit_series(cal, series, {"summary": "Renamed"})
    changes, token = await env.pull(cal, **SYNC, syncToken=token)
    by_id = {i["id"]: i for i in changes}
    assert len(changes) == 4
    assert by_id[f"{series}_20261207T090000Z"]["summary"] == "Renamed"
    assert by_id[f"{series}_20261207T090000Z"]["start"]["dateTime"].startswith("2026-12-07T14:00")
    assert by_id[f"{series}_20261214T090000Z"]["status"] == "cancelled"
    assert by_id[f"{series}_20261221T090000Z"]["summary"] == "Renamed"

    # Move the whole series to 11:00: old instances vanish (cancelled), new ids appear,
    # and the exceptions of vanished instances are gone.
    env.emu.edit_series(
        cal,
        series,
        {
            "start": {"dateTime": "2026-11-30T11:00:00", "timeZone": PARIS},
            "end": {"dateTime": "2026-11-30T12:00:00", "timeZone": PARIS},
        },
    )
    changes, token = await env.pull(cal, **SYNC, syncToken=token)
    status = {i["id"]: i["status"] for i in changes}
    old = [f"{series}_{d}T090000Z" for d in ("20261130", "20261207", "20261214", "20261221")]
    new = [f"{series}_{d}T100000Z" for d in ("20261130", "20261207", "20261214", "20261221")]
    assert all(status[i] == "cancelled" for i in old)
    assert all(status[i] == "confirmed" for i in new)
    live, _ = await env.pull(cal, singleEvents="true")
    assert sorted(ids(live)) == sorted(new)


async def test_instance_is_addressable_through_the_api(env: Env) -> None:
    cal = await env.new_calendar(tz=PARIS)
    series = env.emu.create_event(cal, WEEKLY)["id"]
    url = f"{API}/calendars/{cal}/events/{series}_20261207T090000Z"
    got = await env.http.get(url, headers=env.auth)
    assert got.status_code == 200 and got.json()["recurringEventId"] == series
    patched = await env.http.patch(url, json={"summary": "Only this one"}, headers=env.auth)
    assert patched.status_code == 200 and patched.json()["summary"] == "Only this one"
    assert (await env.http.delete(url, headers=env.auth)).status_code == 204
    assert (await env.http.get(url, headers=env.auth)).json()["status"] == "cancelled"
    missing = await env.http.get(
        f"{API}/calendars/{cal}/events/{series}_20261208T090000Z", headers=env.auth
    )
    assert missing.status_code == 404


async def test_deleting_series_cancels_every_instance(env: Env) -> None:
    cal = await env.new_calendar(tz=PARIS)
    series = env.emu.create_event(cal, WEEKLY)["id"]
    _, token = await env.pull(cal, **SYNC)
    env.emu.delete_event(cal, series)
    changes, _ = await env.pull(cal, **SYNC, syncToken=token)
    assert len(changes) == 4 and {i["status"] for i in changes} == {"cancelled"}
    assert {i["recurringEventId"] for i in changes} == {series}


async def test_local_time_is_kept_across_dst(env: Env) -> None:
    cal = await env.new_calendar(tz=PARIS)
    body = {
        **WEEKLY,
        "start": {"dateTime": "2027-03-22T10:00:00", "timeZone": PARIS},
        "end": {"dateTime": "2027-03-22T11:00:00", "timeZone": PARIS},
        "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=2"],
    }
    series = env.emu.create_event(cal, body)["id"]
    items, _ = await env.pull(cal, **SYNC)
    assert ids(items) == [f"{series}_20270322T090000Z", f"{series}_20270329T080000Z"]
    assert items[1]["start"]["dateTime"] == "2027-03-29T10:00:00+02:00"


async def test_unbounded_series_stops_at_the_horizon(env: Env) -> None:
    cal = await env.new_calendar(tz=PARIS)
    body = {**WEEKLY, "recurrence": ["RRULE:FREQ=DAILY"]}
    env.emu.create_event(cal, body)
    items, _ = await env.pull(cal, **SYNC, maxResults="2500")
    # Clock at 2026-11-23T08:00Z; the horizon is 730 days ahead: 2028-11-22T08:00Z,
    # before that day's 10:00 Paris instance.
    assert items[-1]["start"]["dateTime"] == "2028-11-21T10:00:00+01:00"
    assert len(items) == (date(2028, 11, 21) - date(2026, 11, 30)).days + 1


async def test_all_day_series_and_exdate(env: Env) -> None:
    cal = await env.new_calendar(tz=PARIS)
    body = {
        "summary": "Desk",
        "start": {"date": "2026-12-01"},
        "end": {"date": "2026-12-02"},
        "recurrence": ["RRULE:FREQ=DAILY;UNTIL=20261204", "EXDATE;VALUE=DATE:20261202"],
    }
    series = env.emu.create_event(cal, body)["id"]
    items, _ = await env.pull(cal, **SYNC)
    assert ids(items) == [f"{series}_20261201", f"{series}_20261203", f"{series}_20261204"]
    assert items[1]["start"] == {"date": "2026-12-03"} and items[1]["end"] == {"date": "2026-12-04"}


async def test_recurring_timed_event_needs_a_time_zone(env: Env) -> None:
    cal = await env.new_calendar(tz=PARIS)
    r = await env.http.post(
        f"{API}/calendars/{cal}/events",
        json={
            "start": {"dateTime": "2026-11-30T10:00:00Z"},
            "end": {"dateTime": "2026-11-30T11:00:00Z"},
            "recurrence": ["RRULE:FREQ=WEEKLY"],
        },
        headers=env.auth,
    )
    assert r.status_code == 400
    bad = await env.http.post(
        f"{API}/calendars/{cal}/events",
        json={**WEEKLY, "recurrence": ["RRULE:FREQ=SOMETIMES"]},
        headers=env.auth,
    )
    assert bad.status_code == 400
