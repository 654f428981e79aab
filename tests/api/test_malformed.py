"""Malformed input on every record answers a 4xx envelope that names what is wrong,
never a 500 (the in-process transport re-raises server errors, so a 500 also fails
these tests loudly)."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest
from tests.support.api import create

PATHS = [
    "coworkergooglecalendars",
    "coworkermsofficecalendars",
    "coworkermsoffecalendars",
    "businesses",
    "resources",
    "coworkers",
    "bookings",
]
RECORD_NAMES = {
    "coworkergooglecalendars": "CoworkerGoogleCalendar",
    "coworkermsofficecalendars": "CoworkerMsOfficeCalendar",
    "coworkermsoffecalendars": "CoworkerMsOfficeCalendar",
    "businesses": "Business",
    "resources": "Resource",
    "coworkers": "Coworker",
    "bookings": "Booking",
}


@pytest.fixture
def admin(quick_admin: dict[str, str]) -> dict[str, str]:
    return quick_admin


def assert_error(answer: httpx2.Response, status: int, prop: str | None = None) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    envelope: dict[str, Any] = answer.json()
    assert envelope["Status"] == status
    assert envelope["WasSuccessful"] is False
    assert envelope["Value"] is None
    assert envelope["Message"]
    if prop is not None:
        assert envelope["Errors"][0]["PropertyName"] == prop
        assert envelope["Message"].startswith(f"{prop}: ")
    return envelope


@pytest.mark.parametrize("path", PATHS)
async def test_malformed_path_ids(
    client: httpx2.AsyncClient, admin: dict[str, str], path: str
) -> None:
    for raw, message in (
        ("abc", "must be a whole number"),
        ("1.5", "must be a whole number"),
        ("--1", "must be a whole number"),
        ("²", "must be a whole number"),
        ("1e3", "must be a whole number"),
        ("0x1", "must be a whole number"),
        ("99999999999999999999", "must be a whole number"),
        ("0", "must be 1 or more"),
        ("-1", "must be 1 or more"),
    ):
        for method in ("GET", "DELETE"):
            answer = await client.request(method, f"/api/spaces/{path}/{raw}", headers=admin)
            envelope = assert_error(answer, 400, "Id")
            assert envelope["Errors"][0]["Message"] == message, (method, raw)
            assert envelope["Errors"][0]["AttemptedValue"] == raw


@pytest.mark.parametrize("path", PATHS)
async def test_unknown_search_parameters_are_named(
    client: httpx2.AsyncClient, admin: dict[str, str], path: str
) -> None:
    name = RECORD_NAMES[path]
    for param in ("pageSize", "sort", f"{name}_Nope", f"{name}_name", f"from_{name}_Name", "q"):
        answer = await client.get(f"/api/spaces/{path}", params={param: "1"}, headers=admin)
        assert_error(answer, 400, param)
    answer = await client.get(f"/api/spaces/{path}", params={"orderBy": "Nope"}, headers=admin)
    assert_error(answer, 400, "orderBy")


@pytest.mark.parametrize("path", PATHS)
async def test_a_repeated_search_parameter_is_named(
    client: httpx2.AsyncClient, admin: dict[str, str], path: str
) -> None:
    name = RECORD_NAMES[path]
    for query in ("page=false&page=", "size=5&size=6", f"{name}_Name=a&{name}_Name=b", "id=1&id=2"):
        answer = await client.get(f"/api/spaces/{path}?{query}", headers=admin)
        assert_error(answer, 400, query.split("=")[0])
        assert "more than once" in answer.json()["Message"]


BAD_BODIES: list[tuple[str, bytes, str, int]] = [
    ("invalid-json", b'{"Name": ', "application/json", 400),
    ("json-array", b'[{"Name": "x"}]', "application/json", 400),
    ("json-string", b'"Name"', "application/json", 400),
    ("json-number", b"42", "application/json", 400),
    ("json-null", b"null", "application/json", 400),
    ("empty", b"", "application/json", 400),
    ("not-utf8", b'{"Name": "\xff\xfe"}', "application/json", 400),
    ("deep", b"[" * 100_000 + b"]" * 100_000, "application/json", 400),
    ("text-plain", b'{"Name": "x"}', "text/plain", 415),
    ("xml", b"<Name>x</Name>", "application/xml", 415),
    ("multipart-without-boundary", b"Name=x", "multipart/form-data", 400),
    ("too-large", b'{"Name": "' + b"x" * 300_000 + b'"}', "application/json", 413),
]


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [pytest.param(b, c, s, id=i) for i, b, c, s in BAD_BODIES],
)
@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_malformed_bodies(
    client: httpx2.AsyncClient,
    admin: dict[str, str],
    method: str,
    body: bytes,
    content_type: str,
    status: int,
) -> None:
    for path in ("coworkergooglecalendars", "bookings"):
        answer = await client.request(
            method,
            f"/api/spaces/{path}",
            content=body,
            headers={**admin, "Content-Type": content_type},
        )
        assert_error(answer, status)


async def test_wrong_value_types_in_a_body_are_named(
    client: httpx2.AsyncClient, admin: dict[str, str]
) -> None:
    business = await create(client, admin, "businesses", {"Name": "B", "TimeZone": "UTC"})
    resource = await create(client, admin, "resources", {"BusinessId": business, "Name": "R"})
    good = {
        "ResourceId": resource,
        "Name": "n",
        "SubscriptionId": "s",
        "CalendarId": "c",
        "SubscriptionExpireDate": "2026-12-01T00:00:00Z",
        "WatchResourceId": "w",
    }
    cases: list[tuple[str, Any, str]] = [
        ("ResourceId", "abc", "must be a whole number"),
        ("ResourceId", True, "must be a whole number"),
        ("ResourceId", 1.5, "must be a whole number"),
        ("ResourceId", 1e300, "is out of range"),
        ("ResourceId", [resource], "must be a whole number"),
        ("CoworkerId", {"Id": 1}, "must be a whole number"),
        ("Name", {"a": 1}, "must be text"),
        ("Name", ["x"], "must be text"),
        ("Name", True, "must be text"),
        ("Name", "x" * 401, "must be at most 400 characters"),
        ("Name", "nul\x00byte", "must not contain NUL characters"),
        ("SubscriptionExpireDate", "tomorrow", "must be a date and time in ISO 8601"),
        ("SubscriptionExpireDate", "2026-02-30T00:00:00Z", "must be a date and time in ISO 8601"),
        ("SubscriptionExpireDate", 1767225600, "must be a date and time in ISO 8601"),
        ("SubscriptionExpireDate", "9999-12-31T23:59:59-01:00", "is out of range"),
        ("SystemId", {"x": 1}, "must be text"),
        ("Nope", 1, "is not a field of CoworkerGoogleCalendar"),
    ]
    for field, value, message in cases:
        answer = await client.post(
            "/api/spaces/coworkergooglecalendars", json={**good, field: value}, headers=admin
        )
        envelope = assert_error(answer, 400, field)
        assert envelope["Errors"][0]["Message"].startswith(message), (field, value)
    # Every error is reported at once, in field order after unknown keys.
    answer = await client.post(
        "/api/spaces/coworkergooglecalendars",
        json={**good, "Name": ["x"], "ResourceId": "abc"},
        headers=admin,
    )
    names = [e["PropertyName"] for e in answer.json()["Errors"]]
    assert names == ["ResourceId", "Name"]
    listing = await client.get("/api/spaces/coworkergooglecalendars", headers=admin)
    assert listing.json()["TotalItems"] == 0


@pytest.mark.parametrize(
    ("path", "param", "value"),
    [
        ("resources", "Resource_Visible", "maybe"),
        ("resources", "Resource_Visible", "2"),
        ("resources", "Resource_TimeSlotStep", "99999999999"),  # beyond a 4-byte column
        ("resources", "Resource_OpeningHours", "{}"),  # JSON fields are not filters
        ("bookings", "Booking_Version", "99999999999"),
        ("bookings", "Booking_Tentative", "perhaps"),
        ("bookings", "from_Booking_FromTime", "2026-11-21 10:00:00 UTC"),
        ("bookings", "from_Booking_FromTime", "0001-01-01T00:00+01:00"),
        ("bookings", "Booking_RepeatSeriesUniqueId", "1234"),
        ("bookings", "Booking_Notes", "nul\x00"),
        ("businesses", "Business_Name", "\x00"),
        ("businesses", "Business_MaxBookingDaysAhead", "ninety"),
    ],
)
async def test_malformed_filter_values(
    client: httpx2.AsyncClient, admin: dict[str, str], path: str, param: str, value: str
) -> None:
    answer = await client.get(f"/api/spaces/{path}", params={param: value}, headers=admin)
    assert_error(answer, 400, param)


@pytest.mark.parametrize(
    ("param", "value", "found"),
    [
        ("Resource_Visible", "false", False),
        ("Resource_Visible", "0", False),
        ("Resource_Visible", "true", True),
        ("Resource_Visible", "TRUE", True),
        ("Resource_Visible", "1", True),
    ],
)
async def test_boolean_filters_accept_the_usual_spellings(
    client: httpx2.AsyncClient, admin: dict[str, str], param: str, value: str, found: bool
) -> None:
    business = await create(client, admin, "businesses", {"Name": "B", "TimeZone": "UTC"})
    await create(client, admin, "resources", {"BusinessId": business, "Name": "R"})
    answer = await client.get("/api/spaces/resources", params={param: value}, headers=admin)
    assert answer.status_code == 200
    assert answer.json()["TotalItems"] == (1 if found else 0)


async def test_unknown_paths_and_methods(client: httpx2.AsyncClient, admin: dict[str, str]) -> None:
    answer = await client.get("/api/spaces/coworkeroutlookcalendars", headers=admin)
    assert answer.json() == {
        "Status": 404,
        "Message": "There is nothing at this address.",
        "Value": None,
        "WasSuccessful": False,
        "Errors": None,
    }
    for method, path in (
        ("PATCH", "/api/spaces/coworkergooglecalendars"),
        ("DELETE", "/api/spaces/coworkergooglecalendars"),
        ("POST", "/api/spaces/coworkergooglecalendars/1"),
        ("GET", "/api/token"),
    ):
        answer = await client.request(method, path, headers=admin)
        assert_error(answer, 405)
        assert answer.json()["Message"] == "This method is not allowed here."


async def test_a_json_body_without_a_content_type_is_read_as_json(
    client: httpx2.AsyncClient, admin: dict[str, str]
) -> None:
    answer = await client.post(
        "/api/spaces/businesses",
        content=json.dumps({"Name": "B", "TimeZone": "UTC"}).encode(),
        headers=admin,
    )
    assert answer.status_code == 200, answer.text
    vendor = await client.post(
        "/api/spaces/businesses",
        content=json.dumps({"Name": "C", "TimeZone": "UTC"}).encode(),
        headers={**admin, "Content-Type": "application/vnd.api+json; charset=utf-8"},
    )
    assert vendor.status_code == 200, vendor.text
