"""A connection's provider-owned fields through the records API (issue 17, item 1).

The attack: an API user with `CoworkerMsOfficeCalendar-Edit` PUT `"CalendarId": ".."`,
and sync then read the member's main Outlook calendar. Provider-owned fields change
only through spacecal or a full administrator; a round trip and an omission are fine;
sync cursors may only be cleared."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from tests.support.api import create
from tests.support.api_env import MakeUser

PATHS = {"google": "coworkergooglecalendars", "microsoft": "coworkermsofficecalendars"}
NAMES = {"google": "CoworkerGoogleCalendar", "microsoft": "CoworkerMsOfficeCalendar"}
HOSTILE_IDS = [".", "..", "/", "%2e%2e", "a/../..", "", "spacecal-other-calendar"]


async def _seed(
    client: httpx2.AsyncClient, admin: dict[str, str], provider: str
) -> tuple[int, dict[str, Any]]:
    business = await create(client, admin, "businesses", {"Name": "Riverside", "TimeZone": "UTC"})
    resource = await create(client, admin, "resources", {"BusinessId": business, "Name": "Room A"})
    coworker = await create(
        client,
        admin,
        "coworkers",
        {"FullName": "Ada Lovelace", "Email": "ada@example.com", "BusinessId": business},
    )
    body: dict[str, Any] = {
        "ResourceId": resource,
        "CoworkerId": coworker,
        "Name": "Room A · Riverside",
        "SubscriptionId": "sub-1",
        "CalendarId": "AAMkAGI2spacecal=",
        "SubscriptionExpireDate": "2026-12-01T10:30:00Z",
    }
    if provider == "google":
        body["WatchResourceId"] = "watch-1"
        body["EventSyncToken"] = "token-1"
    record_id = await create(client, admin, PATHS[provider], body)
    return record_id, body


async def _get(
    client: httpx2.AsyncClient, admin: dict[str, str], provider: str, record_id: int
) -> dict[str, Any]:
    answer = await client.get(f"/api/spaces/{PATHS[provider]}/{record_id}", headers=admin)
    assert answer.status_code == 200, answer.text
    record: dict[str, Any] = answer.json()
    return record


def _field_error(answer: httpx2.Response, field: str) -> None:
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["Message"].startswith(f"{field}: "), body
    assert field in {e["PropertyName"] for e in body["Errors"]}, body


@pytest.mark.parametrize("provider", ["microsoft", "google"])
async def test_an_edit_user_cannot_point_calendar_id_elsewhere(
    client: httpx2.AsyncClient, quick_admin: dict[str, str], quick_user: MakeUser, provider: str
) -> None:
    record_id, _ = await _seed(client, quick_admin, provider)
    editor = await quick_user("editor@example.com", roles=[f"{NAMES[provider]}-Edit"])
    before = await _get(client, quick_admin, provider, record_id)
    for value in HOSTILE_IDS:
        record = {**before, "CalendarId": value}
        answer = await client.put(f"/api/spaces/{PATHS[provider]}", json=record, headers=editor)
        _field_error(answer, "CalendarId")
        assert "full administrator" in answer.json()["Message"]
    for field, value in (
        ("SubscriptionId", "sub-other"),
        ("SubscriptionExpireDate", "2030-01-01T00:00:00Z"),
        *([("WatchResourceId", "watch-other")] if provider == "google" else []),
    ):
        answer = await client.put(
            f"/api/spaces/{PATHS[provider]}", json={**before, field: value}, headers=editor
        )
        _field_error(answer, field)
    after = await _get(client, quick_admin, provider, record_id)
    assert after["CalendarId"] == before["CalendarId"]
    assert after["UpdatedOn"] == before["UpdatedOn"]


@pytest.mark.parametrize("provider", ["microsoft", "google"])
async def test_a_round_trip_and_an_omission_keep_the_provider_fields(
    client: httpx2.AsyncClient, quick_admin: dict[str, str], quick_user: MakeUser, provider: str
) -> None:
    record_id, seeded = await _seed(client, quick_admin, provider)
    editor = await quick_user("editor@example.com", roles=[f"{NAMES[provider]}-Edit"])
    path = f"/api/spaces/{PATHS[provider]}"
    # GET-then-PUT, as the public `nexudus` client does: accepted, the name changes.
    record = await _get(client, quick_admin, provider, record_id)
    answer = await client.put(path, json={**record, "Name": "Renamed"}, headers=editor)
    assert answer.status_code == 200, answer.text
    # A full replace that leaves the provider-owned fields out keeps them.
    owned = ["CalendarId", "SubscriptionId", "SubscriptionExpireDate"]
    if provider == "google":
        owned.append("WatchResourceId")
    slim = {k: v for k, v in record.items() if k not in owned}
    answer = await client.put(path, json={**slim, "Name": "Renamed again"}, headers=editor)
    assert answer.status_code == 200, answer.text
    after = await _get(client, quick_admin, provider, record_id)
    assert after["Name"] == "Renamed again"
    for field in owned:
        assert after[field] == seeded[field], field


async def test_a_sync_token_may_only_be_cleared(
    client: httpx2.AsyncClient, quick_admin: dict[str, str], quick_user: MakeUser
) -> None:
    record_id, _ = await _seed(client, quick_admin, "google")
    editor = await quick_user("editor@example.com", roles=["CoworkerGoogleCalendar-Edit"])
    path = "/api/spaces/coworkergooglecalendars"
    record = await _get(client, quick_admin, "google", record_id)
    answer = await client.put(path, json={**record, "EventSyncToken": "forged"}, headers=editor)
    _field_error(answer, "EventSyncToken")
    assert (await _get(client, quick_admin, "google", record_id))["EventSyncToken"] == "token-1"
    answer = await client.put(path, json={**record, "EventSyncToken": None}, headers=editor)
    assert answer.status_code == 200, answer.text
    assert (await _get(client, quick_admin, "google", record_id))["EventSyncToken"] is None


@pytest.mark.parametrize("provider", ["microsoft", "google"])
async def test_a_create_user_cannot_name_the_calendar(
    client: httpx2.AsyncClient, quick_admin: dict[str, str], quick_user: MakeUser, provider: str
) -> None:
    _, seeded = await _seed(client, quick_admin, provider)
    creator = await quick_user("creator@example.com", roles=[f"{NAMES[provider]}-Create"])
    path = f"/api/spaces/{PATHS[provider]}"
    answer = await client.post(path, json={**seeded, "Name": "Second"}, headers=creator)
    assert answer.status_code == 400, answer.text
    assert "CalendarId" in {e["PropertyName"] for e in answer.json()["Errors"]}
    owned = {"CalendarId", "SubscriptionId", "SubscriptionExpireDate", "WatchResourceId"}
    plain = {k: v for k, v in seeded.items() if k not in owned | {"EventSyncToken", "CoworkerId"}}
    answer = await client.post(path, json={**plain, "Name": "Second"}, headers=creator)
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("provider", ["microsoft", "google"])
async def test_a_full_administrator_may_repair_the_calendar_id(
    client: httpx2.AsyncClient, quick_admin: dict[str, str], provider: str
) -> None:
    record_id, _ = await _seed(client, quick_admin, provider)
    record = await _get(client, quick_admin, provider, record_id)
    answer = await client.put(
        f"/api/spaces/{PATHS[provider]}",
        json={**record, "CalendarId": "repaired-id"},
        headers=quick_admin,
    )
    assert answer.status_code == 200, answer.text
    assert (await _get(client, quick_admin, provider, record_id))["CalendarId"] == "repaired-id"
