"""Business, Resource and Coworker: the same conventions as the connection records,
with their own validation (IANA zones, resource types, opening hours, lengths)."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest
from tests.support.api import create


@pytest.fixture
def admin(quick_admin: dict[str, str]) -> dict[str, str]:
    return quick_admin


async def refused(
    client: httpx2.AsyncClient, admin: dict[str, str], path: str, body: dict[str, Any]
) -> tuple[str, str]:
    answer = await client.post(f"/api/spaces/{path}", json=body, headers=admin)
    assert answer.status_code == 400, answer.text
    envelope = answer.json()
    assert envelope["WasSuccessful"] is False
    error = envelope["Errors"][0]
    return error["PropertyName"], error["Message"]


@pytest.mark.parametrize(
    ("path", "name", "body"),
    [
        ("businesses", "Business", {"Name": "Riverside", "TimeZone": "Europe/London"}),
        ("resources", "Resource", {"Name": "Room A"}),
        ("coworkers", "Coworker", {"FullName": "Ada", "Email": "ada@example.com"}),
    ],
)
async def test_lifecycle_and_messages(
    client: httpx2.AsyncClient, admin: dict[str, str], path: str, name: str, body: dict[str, Any]
) -> None:
    if path != "businesses":
        body = {**body, "BusinessId": await create(client, admin, "businesses", _business())}
    created = await client.post(f"/api/spaces/{path}", json=body, headers=admin)
    assert created.json()["Message"] == f"{name} was successfully created."
    record_id = created.json()["Value"]["Id"]
    record = (await client.get(f"/api/spaces/{path}/{record_id}", headers=admin)).json()
    for key, value in body.items():
        assert record[key] == value

    changed = {**body, "Id": record_id, next(iter(body)): "Renamed"}
    updated = await client.put(f"/api/spaces/{path}", json=changed, headers=admin)
    assert updated.json()["Message"] == f"{name} was successfully updated."
    record = (await client.get(f"/api/spaces/{path}/{record_id}", headers=admin)).json()
    assert record[next(iter(body))] == "Renamed"
    assert record["IsNew"] is False

    deleted = await client.delete(f"/api/spaces/{path}/{record_id}", headers=admin)
    assert deleted.json()["Message"] == f"{name} was successfully deleted."
    gone = await client.get(f"/api/spaces/{path}/{record_id}", headers=admin)
    assert gone.status_code == 404
    assert gone.json()["Message"] == f"{name} with Id {record_id} was not found."


def _business(**override: Any) -> dict[str, Any]:
    return {"Name": "Riverside", "TimeZone": "Europe/London", **override}


async def test_business_defaults_and_time_zones(
    client: httpx2.AsyncClient, admin: dict[str, str]
) -> None:
    for zone in ("Europe/London", "America/New_York", "Asia/Kolkata", "UTC"):
        record_id = await create(client, admin, "businesses", _business(TimeZone=zone))
        record = (await client.get(f"/api/spaces/businesses/{record_id}", headers=admin)).json()
        assert record["TimeZone"] == zone
        assert record["MaxBookingDaysAhead"] == 90
    for zone in ("Mars/Olympus_Mons", "Europe", "europe/london", "../../etc/passwd", "GMT+25", "/"):
        prop, message = await refused(client, admin, "businesses", _business(TimeZone=zone))
        assert (prop, message) == ("TimeZone", "must be an IANA time zone name, e.g. Europe/London")
    for days in (0, -1, 3651, 2**40):
        prop, message = await refused(
            client, admin, "businesses", _business(MaxBookingDaysAhead=days)
        )
        assert (prop, message) == ("MaxBookingDaysAhead", "must be between 1 and 3650 days")


async def test_deleting_a_business_in_use_is_refused_in_words(
    client: httpx2.AsyncClient, admin: dict[str, str]
) -> None:
    business = await create(client, admin, "businesses", _business())
    resource = await create(client, admin, "resources", {"BusinessId": business, "Name": "A"})
    answer = await client.delete(f"/api/spaces/businesses/{business}", headers=admin)
    assert answer.status_code == 400
    assert answer.json()["Message"] == (
        "This Business is still used by other records; remove those first."
    )
    # A resource's calendar connections do not hold it (issue 8): deleting it
    # disconnects them first (sync/accounts/changes.py); the business stays in use until then.
    connection = await create(
        client,
        admin,
        "coworkermsofficecalendars",
        {
            "ResourceId": resource,
            "Name": "A",
            "SubscriptionId": "s",
            "CalendarId": "c",
            "SubscriptionExpireDate": "2026-12-01T00:00:00Z",
        },
    )
    assert (
        await client.get(f"/api/spaces/businesses/{business}", headers=admin)
    ).status_code == 200
    answer = await client.delete(f"/api/spaces/resources/{resource}", headers=admin)
    assert answer.status_code == 200, answer.text
    gone = await client.get(f"/api/spaces/coworkermsofficecalendars/{connection}", headers=admin)
    assert gone.status_code == 404


async def test_resource_defaults_and_types(
    client: httpx2.AsyncClient, admin: dict[str, str]
) -> None:
    business = await create(client, admin, "businesses", _business())
    record_id = await create(client, admin, "resources", {"BusinessId": business, "Name": "A"})
    record = (await client.get(f"/api/spaces/resources/{record_id}", headers=admin)).json()
    assert {k: record[k] for k in ("ResourceType", "Visible", "Bookable", "TimeSlotStep")} == {
        "ResourceType": "room",
        "Visible": True,
        "Bookable": True,
        "TimeSlotStep": 15,
    }
    assert record["OpeningHours"] is None
    desk = await create(
        client, admin, "resources", {"BusinessId": business, "Name": "D", "ResourceType": "Desk"}
    )
    record = (await client.get(f"/api/spaces/resources/{desk}", headers=admin)).json()
    assert record["ResourceType"] == "desk"
    for bad in ("office", "", "rooms"):
        body = {"BusinessId": business, "Name": "X", "ResourceType": bad}
        prop, message = await refused(client, admin, "resources", body)
        assert prop == "ResourceType"
    prop, message = await refused(client, admin, "resources", {"BusinessId": 999_999, "Name": "X"})
    assert (prop, message) == ("BusinessId", "no Business has this Id")


@pytest.mark.parametrize(
    ("fields", "prop", "message"),
    [
        ({"MinBookingLength": 60, "MaxBookingLength": 30}, "MinBookingLength",
         "must not be longer than MaxBookingLength"),
        ({"MinBookingLength": 0}, "MinBookingLength", "must be a positive number of minutes"),
        ({"MaxBookingLength": -15}, "MaxBookingLength", "must be a positive number of minutes"),
        ({"MaxBookingLength": 2**31}, "MaxBookingLength", "is out of range"),
        ({"TimeSlotStep": 0}, "TimeSlotStep", "must be a positive number of minutes"),
        ({"TimeSlotStep": 1441}, "TimeSlotStep", "must be at most 1440 minutes (one day)"),
        ({"TimeSlotStep": 99999999999}, "TimeSlotStep", "is out of range"),
        ({"Visible": "maybe"}, "Visible", "must be true or false"),
        ({"Bookable": 2}, "Bookable", "must be true or false"),
    ],
)  # fmt: skip
async def test_resource_rules_are_validated(
    client: httpx2.AsyncClient,
    admin: dict[str, str],
    fields: dict[str, Any],
    prop: str,
    message: str,
) -> None:
    business = await create(client, admin, "businesses", _business())
    body = {"BusinessId": business, "Name": "X", **fields}
    assert await refused(client, admin, "resources", body) == (prop, message)


async def test_equal_min_and_max_lengths_are_fine(
    client: httpx2.AsyncClient, admin: dict[str, str]
) -> None:
    business = await create(client, admin, "businesses", _business())
    body = {"BusinessId": business, "Name": "X", "MinBookingLength": 60, "MaxBookingLength": 60}
    await create(client, admin, "resources", body)


@pytest.mark.parametrize(
    "hours",
    [
        [["08:00", "20:00"]],
        {"monday": [["08:00", "20:00"]]},
        {"mon": "08:00-20:00"},
        {"mon": [["08:00"]]},
        {"mon": [["8:00", "20:00"]]},
        {"mon": [["08:00", "25:00"]]},
        {"mon": [["24:00", "24:00"]]},
        {"mon": [["20:00", "08:00"]]},
        {"mon": [[800, 2000]]},
        "not json",
        42,
    ],
)
async def test_opening_hours_shape_is_validated(
    client: httpx2.AsyncClient, admin: dict[str, str], hours: Any
) -> None:
    business = await create(client, admin, "businesses", _business())
    body = {"BusinessId": business, "Name": "X", "OpeningHours": hours}
    prop, message = await refused(client, admin, "resources", body)
    assert prop == "OpeningHours"
    assert message


async def test_opening_hours_are_stored_normalised(
    client: httpx2.AsyncClient, admin: dict[str, str]
) -> None:
    business = await create(client, admin, "businesses", _business())
    hours = {"mon": [["12:00", "20:00"], ["08:00", "12:00"]], "sat": [["10:00", "24:00"]]}
    for sent in (hours, json.dumps(hours)):  # an object, or a JSON string (forms)
        record_id = await create(
            client, admin, "resources", {"BusinessId": business, "Name": "X", "OpeningHours": sent}
        )
        record = (await client.get(f"/api/spaces/resources/{record_id}", headers=admin)).json()
        assert record["OpeningHours"] == {
            "mon": [["08:00", "20:00"]],
            "tue": [],
            "wed": [],
            "thu": [],
            "fri": [],
            "sat": [["10:00", "24:00"]],
            "sun": [],
        }


async def test_coworker_validation_and_filters(
    client: httpx2.AsyncClient, admin: dict[str, str]
) -> None:
    riverside = await create(client, admin, "businesses", _business())
    harbour = await create(client, admin, "businesses", _business(Name="Harbour"))
    for field in ("FullName", "Email", "BusinessId"):
        body = {"FullName": "Ada", "Email": "ada@example.com", "BusinessId": riverside}
        del body[field]
        assert await refused(client, admin, "coworkers", body) == (field, "is a required field")
    ada = await create(
        client,
        admin,
        "coworkers",
        {"FullName": "Ada Lovelace", "Email": "ada@example.com", "BusinessId": riverside},
    )
    await create(
        client,
        admin,
        "coworkers",
        {"FullName": "Grace Hopper", "Email": "grace@example.com", "BusinessId": harbour},
    )
    for params, expected in (
        ({"Coworker_Email": "ADA@"}, {"Ada Lovelace"}),
        ({"Coworker_Business": riverside}, {"Ada Lovelace"}),
        ({"Coworker_FullName": "o"}, {"Ada Lovelace", "Grace Hopper"}),
        ({"Coworker_Id": ada}, {"Ada Lovelace"}),
    ):
        answer = await client.get("/api/spaces/coworkers", params=params, headers=admin)
        assert {r["FullName"] for r in answer.json()["Records"]} == expected, params
    record = (await client.get(f"/api/spaces/coworkers/{ada}", headers=admin)).json()
    assert "password_hash" not in record and "PasswordHash" not in record
    assert record["ToStringText"] == "Ada Lovelace"


async def test_resource_filters(client: httpx2.AsyncClient, admin: dict[str, str]) -> None:
    riverside = await create(client, admin, "businesses", _business())
    harbour = await create(client, admin, "businesses", _business(Name="Harbour"))
    await create(client, admin, "resources", {"BusinessId": riverside, "Name": "Room A"})
    await create(
        client,
        admin,
        "resources",
        {"BusinessId": riverside, "Name": "Desk 1", "ResourceType": "desk", "Visible": False},
    )
    await create(client, admin, "resources", {"BusinessId": harbour, "Name": "Room B"})
    for params, expected in (
        ({"Resource_Business": riverside}, {"Room A", "Desk 1"}),
        ({"Resource_ResourceType": "desk"}, {"Desk 1"}),
        ({"Resource_Visible": "false"}, {"Desk 1"}),
        ({"Resource_Name": "room", "Resource_Business": harbour}, {"Room B"}),
        ({"Resource_TimeSlotStep": 15}, {"Room A", "Desk 1", "Room B"}),
    ):
        answer = await client.get("/api/spaces/resources", params=params, headers=admin)
        assert {r["Name"] for r in answer.json()["Records"]} == expected, params
