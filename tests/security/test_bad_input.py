"""Hand-written bad input for the API, beyond tests/api/test_malformed.py and the
schemathesis run: unicode and control characters kept exactly, SQL-ish filter values
matched literally, huge paging values, and 405s that say what is allowed."""

from __future__ import annotations

import httpx2
import pytest
from tests.support.api import create

NAMES = [
    "Zoë's Room — 会议室 🚀",
    "right\u202eto\u202cleft",  # bidi override
    "tab\tnew\nline\rcarriage",
    "bell\x07escape\x1b[31mred",
    "zero\u200bwidth\ufeffbom",
    "combining e\u0301 vs é",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 astral",
    "'; DROP TABLE resources; --",
    "%_\\ like wildcards",
]
SQLISH = [
    "' OR '1'='1",
    "'; DELETE FROM businesses; --",
    '" OR 1=1 --',
    "%",
    "_",
    "\\",
    "%' UNION SELECT password_hash FROM api_users --",
    "1; SELECT pg_sleep(5)",
]


async def test_names_with_unicode_and_control_characters_round_trip_exactly(
    client: httpx2.AsyncClient, quick_admin: dict[str, str]
) -> None:
    business = await create(client, quick_admin, "businesses", {"Name": "B", "TimeZone": "UTC"})
    for name in NAMES:
        made = await create(
            client, quick_admin, "resources", {"BusinessId": business, "Name": name}
        )
        answer = await client.get(f"/api/spaces/resources/{made}", headers=quick_admin)
        assert answer.status_code == 200
        assert answer.json()["Name"] == name
        assert answer.json()["ToStringText"] == name
        found = await client.get(
            "/api/spaces/resources", params={"Resource_Name": name}, headers=quick_admin
        )
        assert [r["Id"] for r in found.json()["Records"]] == [made], name
    # Lone surrogates cannot be stored as text: refused, not a 500 (it was a 500).
    answer = await client.post(
        "/api/spaces/resources",
        content=b'{"BusinessId": %d, "Name": "\\ud800"}' % business,
        headers={**quick_admin, "Content-Type": "application/json"},
    )
    assert answer.status_code == 400, answer.text


@pytest.mark.parametrize("value", SQLISH)
async def test_sql_ish_filter_values_match_literally(
    client: httpx2.AsyncClient, quick_admin: dict[str, str], value: str
) -> None:
    a = quick_admin
    business = await create(client, a, "businesses", {"Name": "Plain", "TimeZone": "UTC"})
    literal = await create(client, a, "businesses", {"Name": f"x{value}y", "TimeZone": "UTC"})
    for param in ("Business_Name", "Business_TimeZone", "Business_SystemId", "Business_UpdatedBy"):
        answer = await client.get("/api/spaces/businesses", params={param: value}, headers=a)
        assert answer.status_code == 200, answer.text
        ids = [r["Id"] for r in answer.json()["Records"]]
        assert ids == ([literal] if param == "Business_Name" else []), (param, value)
    for param in ("Business_MaxBookingDaysAhead", "Business_Id", "orderBy", "dir", "page", "size"):
        answer = await client.get("/api/spaces/businesses", params={param: value}, headers=a)
        assert answer.status_code == 400, (param, answer.text)
    answer = await client.get("/api/spaces/businesses", params={"id": value}, headers=a)
    assert answer.status_code == 400
    everything = await client.get("/api/spaces/businesses", headers=a)
    assert [r["Id"] for r in everything.json()["Records"]] == [business, literal]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"page": str(2**53), "size": "1"}, 200),  # far past the end: an empty page
        ({"page": str(2**62), "size": "1"}, 200),
        ({"page": str(2**62), "size": "1000"}, 400),  # the row offset would overflow
        ({"page": str(2**63), "size": "1"}, 400),
        ({"page": "1" + "0" * 5000}, 400),
        ({"size": "1" + "0" * 30}, 200),  # clamped to the maximum
        ({"size": "1" + "0" * 5000}, 400),  # past Python's digit limit: not a number
        ({"page": "１"}, 200),  # a Unicode digit is read as the number it is
        ({"page": " 1"}, 200),
        ({"page": "1.0"}, 400),
        ({"page": "NaN"}, 400),
        ({"size": "-0"}, 400),
    ],
)
async def test_huge_and_odd_paging_values(
    client: httpx2.AsyncClient, quick_admin: dict[str, str], params: dict[str, str], status: int
) -> None:
    await create(client, quick_admin, "businesses", {"Name": "B", "TimeZone": "UTC"})
    answer = await client.get("/api/spaces/businesses", params=params, headers=quick_admin)
    assert answer.status_code == status, answer.text
    if status == 200:
        assert answer.json()["CurrentPageSize"] <= 1000


async def test_a_405_lists_every_method_the_path_serves(
    client: httpx2.AsyncClient, quick_admin: dict[str, str]
) -> None:
    for method, path, allowed in (
        ("PATCH", "/api/spaces/bookings", "GET, POST, PUT"),
        ("POST", "/api/spaces/bookings/1", "DELETE, GET"),
        ("GET", "/api/token", "POST"),
        ("GET", "/webhooks/google", "POST"),
        ("PUT", "/healthz", "GET"),
    ):
        answer = await client.request(method, path, headers=quick_admin)
        assert answer.status_code == 405
        assert answer.headers["Allow"] == allowed, path


async def test_wrong_content_types_on_the_token_endpoint(client: httpx2.AsyncClient) -> None:
    for content_type, body in (
        ("application/json", b'{"grant_type": "password"}'),
        ("multipart/form-data", b"grant_type=password"),
        ("text/plain", b"grant_type=password"),
        ("application/x-www-form-urlencoded", b"\xff\xfe=\x00"),
        ("application/x-www-form-urlencoded", b"a=&" * 1500),  # more than 1000 fields
    ):
        answer = await client.post(
            "/api/token", content=body, headers={"Content-Type": content_type}
        )
        assert answer.status_code == 400, (content_type, answer.text)
        assert answer.json().get("error") in ("unsupported_grant_type", "invalid_request"), (
            content_type,
            body[:30],
            answer.text,
        )
    # A body past the records API's size is refused before it is parsed (web/limits.py).
    answer = await client.post(
        "/api/token",
        content=b"grant_type=password&" * 20000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 413
