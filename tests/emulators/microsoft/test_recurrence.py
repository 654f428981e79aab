"""Recurring series: expansion, an exception (moved occurrence) and a cancelled occurrence."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx2

from spacecal.emulators.microsoft import MicrosoftEmulator

WINDOW = {"startDateTime": "2026-11-20T00:00:00Z", "endDateTime": "2026-12-21T00:00:00Z"}
WEEKLY = {
    "pattern": {
        "type": "weekly",
        "interval": 1,
        "daysOfWeek": ["monday"],
        "firstDayOfWeek": "sunday",
    },
    "range": {"type": "numbered", "startDate": "2026-11-23", "numberOfOccurrences": 4},
}


async def _series(http: httpx2.AsyncClient, member: Any) -> dict[str, Any]:
    created = await http.post(
        f"/v1.0/me/calendars/{member.calendar_id}/events",
        json={
            "subject": "Weekly planning",
            "start": {"dateTime": "2026-11-23T10:00:00", "timeZone": "W. Europe Standard Time"},
            "end": {"dateTime": "2026-11-23T11:00:00", "timeZone": "W. Europe Standard Time"},
            "recurrence": WEEKLY,
        },
        headers=member.auth,
    )
    assert created.status_code == 201, created.text
    return created.json()


async def _view(http: httpx2.AsyncClient, member: Any) -> list[dict[str, Any]]:
    response = await http.get(
        f"/v1.0/me/calendars/{member.calendar_id}/calendarView", params=WINDOW, headers=member.auth
    )
    return response.json()["value"]


async def test_series_expands_in_local_time(http: httpx2.AsyncClient, member: Any) -> None:
    master = await _series(http, member)
    assert master["type"] == "seriesMaster" and master["recurrence"] == WEEKLY
    view = await _view(http, member)
    assert [v["start"]["dateTime"][:16] for v in view] == [
        "2026-11-23T09:00",
        "2026-11-30T09:00",
        "2026-12-07T09:00",
        "2026-12-14T09:00",
    ]
    assert {v["type"] for v in view} == {"occurrence"}
    assert {v["seriesMasterId"] for v in view} == {master["id"]}
    assert len({v["id"] for v in view}) == 4


async def test_exception_and_cancelled_occurrence(
    emu: MicrosoftEmulator, http: httpx2.AsyncClient, member: Any
) -> None:
    master = await _series(http, member)
    view = await _view(http, member)
    second, third = view[1], view[2]
    moved = await http.patch(
        f"/v1.0/me/events/{second['id']}",
        json={
            "start": {"dateTime": "2026-12-01T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-12-01T10:00:00", "timeZone": "UTC"},
        },
        headers=member.auth,
    )
    assert moved.status_code == 200 and moved.json()["type"] == "exception"
    assert moved.json()["originalStart"].startswith("2026-11-30T09:00:00")
    cancelled = await http.delete(f"/v1.0/me/events/{third['id']}", headers=member.auth)
    assert cancelled.status_code == 204
    view = await _view(http, member)
    assert [(v["type"], v["start"]["dateTime"][:10]) for v in view] == [
        ("occurrence", "2026-11-23"),
        ("exception", "2026-12-01"),
        ("occurrence", "2026-12-14"),
    ]
    assert view[1]["id"] == second["id"]
    instances = await http.get(
        f"/v1.0/me/events/{master['id']}/instances", params=WINDOW, headers=member.auth
    )
    assert [v["id"] for v in instances.json()["value"]] == [v["id"] for v in view]
    assert (
        await http.get(f"/v1.0/me/events/{third['id']}", headers=member.auth)
    ).status_code == 404


async def test_series_changes_through_delta(
    emu: MicrosoftEmulator, http: httpx2.AsyncClient, member: Any
) -> None:
    master = await _series(http, member)
    url = f"/v1.0/me/calendars/{member.calendar_id}/calendarView/delta"
    first = (await http.get(url, params=WINDOW, headers=member.auth)).json()
    assert len(first["value"]) == 4 and {v["type"] for v in first["value"]} == {"occurrence"}
    link = first["@odata.deltaLink"]
    emu.cancel_occurrence(member.email, master["id"], datetime(2026, 11, 30, 9, tzinfo=UTC))
    moved = emu.move_occurrence(
        member.email,
        master["id"],
        datetime(2026, 12, 7, 9, tzinfo=UTC),
        datetime(2026, 12, 8, 9, tzinfo=UTC),
        datetime(2026, 12, 8, 10, tzinfo=UTC),
    )
    second = (await http.get(link, headers=member.auth)).json()
    by_id = {v["id"]: v for v in second["value"]}
    assert len(by_id) == 2
    assert by_id[moved["id"]]["type"] == "exception"
    removed = [v for v in by_id.values() if "@removed" in v]
    assert len(removed) == 1
    # Editing the series subject changes every instance; the moved one stays moved.
    emu.edit_event(member.email, master["id"], {"subject": "Planning (new)"})
    third = (await http.get(second["@odata.deltaLink"], headers=member.auth)).json()
    assert len(third["value"]) == 3
    assert {v["subject"] for v in third["value"]} == {"Planning (new)"}
    assert by_id[moved["id"]]["start"]["dateTime"].startswith("2026-12-08")


async def test_invalid_recurrence_is_400(http: httpx2.AsyncClient, member: Any) -> None:
    bad = {
        "pattern": {"type": "weekly", "interval": 1},
        "range": {"type": "noEnd", "startDate": "2026-11-23"},
    }
    response = await http.post(
        f"/v1.0/me/calendars/{member.calendar_id}/events",
        json={
            "subject": "x",
            "start": {"dateTime": "2026-11-23T10:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-11-23T11:00:00", "timeZone": "UTC"},
            "recurrence": bad,
        },
        headers=member.auth,
    )
    assert response.status_code == 400 and "daysOfWeek" in response.json()["error"]["message"]
