"""The connection records through the API: the shapes of the reference, end to end."""

from __future__ import annotations

import httpx2
from tests.support.api import create


async def _seed_resource(client: httpx2.AsyncClient, admin: dict[str, str]) -> tuple[int, int]:
    business = await create(
        client, admin, "businesses", {"Name": "Riverside", "TimeZone": "Europe/London"}
    )
    resource = await create(
        client, admin, "resources", {"BusinessId": business, "Name": "Meeting Room A"}
    )
    return business, resource


async def test_create_then_get_one_google(
    client: httpx2.AsyncClient, admin: dict[str, str]
) -> None:
    business, resource = await _seed_resource(client, admin)
    coworker = await create(
        client,
        admin,
        "coworkers",
        {"FullName": "Ada Lovelace", "Email": "ada@example.com", "BusinessId": business},
    )
    record_id = await create(
        client,
        admin,
        "coworkergooglecalendars",
        {
            "ResourceId": resource,
            "CoworkerId": coworker,
            "Name": "Meeting Room A · Riverside",
            "SubscriptionId": "chan-1",
            "CalendarId": "abc@group.calendar.google.com",
            "SubscriptionExpireDate": "2026-12-01T10:30:00Z",
            "WatchResourceId": "res-1",
        },
    )
    answer = await client.get(f"/api/spaces/coworkergooglecalendars/{record_id}", headers=admin)
    assert answer.status_code == 200
    record = answer.json()
    assert record["CoworkerFullName"] == "Ada Lovelace"
    assert record["SubscriptionExpireDate"] == "2026-12-01T10:30:00Z"
    assert record["EventSyncToken"] is None
    assert set(record) >= {
        "Id",
        "UniqueId",
        "CreatedOn",
        "UpdatedOn",
        "UpdatedBy",
        "IsNew",
        "SystemId",
        "ToStringText",
        "LocalizationDetails",
        "CustomFields",
    }
    assert "delta_link" not in record and "provider" not in record
