from __future__ import annotations

from tests.emulators.google.helpers import API, Env


async def test_create_calendar_and_event(env: Env) -> None:
    cal = await env.new_calendar()
    r = await env.http.post(
        f"{API}/calendars/{cal}/events",
        json={
            "summary": "Standup",
            "start": {"dateTime": "2026-11-24T10:00:00", "timeZone": "Europe/Paris"},
            "end": {"dateTime": "2026-11-24T11:00:00", "timeZone": "Europe/Paris"},
        },
        headers=env.auth,
    )
    assert r.status_code == 200, r.text
    ev = r.json()
    assert ev["start"] == {"dateTime": "2026-11-24T10:00:00+01:00", "timeZone": "Europe/Paris"}
    items, token = await env.pull(cal, singleEvents="true", showDeleted="true")
    assert [i["id"] for i in items] == [ev["id"]]
