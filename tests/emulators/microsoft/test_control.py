"""The control API: accounts without a browser, acting as the member, settings."""

from __future__ import annotations

from typing import Any

import httpx2

WINDOW = {"startDateTime": "2026-11-20T00:00:00Z", "endDateTime": "2026-12-21T00:00:00Z"}


async def test_account_and_member_actions_over_control(http: httpx2.AsyncClient) -> None:
    created = await http.post("/_control/accounts", json={"email": "kim@example.com"})
    assert created.status_code == 201
    acc = created.json()
    auth = {"Authorization": f"Bearer {acc['access_token']}"}
    cal = (
        await http.post(
            "/_control/microsoft/accounts/kim@example.com/calendars", json={"name": "Desk 1"}
        )
    ).json()
    series = await http.post(
        "/_control/microsoft/accounts/kim@example.com/events",
        json={
            "calendar_id": cal["id"],
            "subject": "Daily",
            "start": "2026-11-23T08:00:00+00:00",
            "end": "2026-11-23T09:00:00+00:00",
            "recurrence": {
                "pattern": {"type": "daily", "interval": 1},
                "range": {"type": "numbered", "startDate": "2026-11-23", "numberOfOccurrences": 3},
            },
        },
    )
    assert series.status_code == 201, series.text
    cancel = await http.post(
        f"/_control/microsoft/accounts/kim@example.com/events/{series.json()['id']}/occurrences/cancel",
        json={"original_start": "2026-11-24T08:00:00+00:00"},
    )
    assert cancel.status_code == 200
    view = await http.get(
        f"/v1.0/me/calendars/{cal['id']}/calendarView", params=WINDOW, headers=auth
    )
    assert [v["start"]["dateTime"][:10] for v in view.json()["value"]] == [
        "2026-11-23",
        "2026-11-25",
    ]
    tokens = await http.post("/_control/accounts/kim@example.com/tokens", json={})
    assert tokens.status_code == 200 and tokens.json()["refresh_token"]
    reset = await http.post("/_control/microsoft/accounts/kim@example.com/reset-delta", json={})
    assert reset.json() == {"reset": True, "mode": "SyncStateNotFound"}
    unknown = await http.post(
        "/_control/microsoft/accounts/nobody@example.com/reset-delta", json={}
    )
    assert unknown.status_code == 404


async def test_settings_and_notification_log(http: httpx2.AsyncClient, member: Any) -> None:
    applied = await http.post(
        "/_control/microsoft/settings",
        json={"subscription_max_minutes": 4230, "delta_shuffle": False, "strict_rotation": True},
    )
    assert applied.status_code == 200
    log = await http.get("/_control/microsoft/notifications")
    assert log.status_code == 200 and log.json() == []
    info = (await http.get("/_control/info")).json()
    assert info["provider"] == "microsoft" and info["seed"] == 7
