"""Search paging and ordering: the envelope's counters at the edges, clamping, and a
stable order (ties broken by Id)."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from tests.support.api import create

PATH = "/api/spaces/coworkergooglecalendars"
# Seven records; names tie in pairs so ordering by Name must fall back to Id.
NAMES = ["beta", "alpha", "beta", "gamma", "alpha", "delta", "beta"]


@pytest.fixture
def admin(quick_admin: dict[str, str]) -> dict[str, str]:
    return quick_admin


@pytest.fixture
async def ids(client: httpx2.AsyncClient, admin: dict[str, str]) -> list[int]:
    business = await create(client, admin, "businesses", {"Name": "B", "TimeZone": "UTC"})
    resource = await create(client, admin, "resources", {"BusinessId": business, "Name": "R"})
    made = []
    for n, name in enumerate(NAMES):
        made.append(
            await create(
                client,
                admin,
                "coworkergooglecalendars",
                {
                    "ResourceId": resource,
                    "Name": name,
                    "SubscriptionId": f"sub-{n}",
                    "CalendarId": f"cal-{n}",
                    "SubscriptionExpireDate": f"2026-12-0{n + 1}T00:00:00Z",
                    "WatchResourceId": f"w-{n}",
                },
            )
        )
    return made


async def search(client: httpx2.AsyncClient, admin: dict[str, str], **params: Any) -> Any:
    answer = await client.get(PATH, params=params, headers=admin)
    assert answer.status_code == 200, answer.text
    return answer.json()


def counters(envelope: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in envelope.items() if k != "Records"}


@pytest.mark.parametrize(
    ("page", "size", "expected_positions", "first", "last", "has_next", "has_previous"),
    [
        (1, 3, [0, 1, 2], 1, 3, True, False),
        (2, 3, [3, 4, 5], 4, 6, True, True),
        (3, 3, [6], 7, 7, False, True),  # the last, partial page
        (4, 3, [], 0, 0, False, True),  # beyond the end
        (99, 3, [], 0, 0, False, True),
        (1, 7, [0, 1, 2, 3, 4, 5, 6], 1, 7, False, False),  # exactly one full page
        (2, 7, [], 0, 0, False, True),
    ],
)
async def test_page_counters(
    client: httpx2.AsyncClient,
    admin: dict[str, str],
    ids: list[int],
    page: int,
    size: int,
    expected_positions: list[int],
    first: int,
    last: int,
    has_next: bool,
    has_previous: bool,
) -> None:
    envelope = await search(client, admin, page=page, size=size)
    assert [r["Id"] for r in envelope["Records"]] == [ids[i] for i in expected_positions]
    assert counters(envelope) == {
        "CurrentPage": page,
        "CurrentPageSize": size,
        "CurrentOrderField": "Id",
        "CurrentSortDirection": 0,
        "FirstItem": first,
        "LastItem": last,
        "TotalItems": 7,
        "TotalPages": -(-7 // size),
        "HasNextPage": has_next,
        "HasPreviousPage": has_previous,
    }


async def test_defaults_and_an_empty_collection(
    client: httpx2.AsyncClient, admin: dict[str, str]
) -> None:
    envelope = await search(client, admin)
    assert envelope == {
        "Records": [],
        "CurrentPage": 1,
        "CurrentPageSize": 25,
        "CurrentOrderField": "Id",
        "CurrentSortDirection": 0,
        "FirstItem": 0,
        "LastItem": 0,
        "TotalItems": 0,
        "TotalPages": 0,
        "HasNextPage": False,
        "HasPreviousPage": False,
    }


@pytest.mark.parametrize("size", ["1001", "5000", str(2**63), "99999999999999999999999"])
async def test_a_huge_size_is_clamped_to_1000(
    client: httpx2.AsyncClient, admin: dict[str, str], ids: list[int], size: str
) -> None:
    envelope = await search(client, admin, size=size)
    assert envelope["CurrentPageSize"] == 1000
    assert envelope["TotalPages"] == 1
    assert len(envelope["Records"]) == 7


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("size", "0"),
        ("size", "-1"),
        ("size", "-99999999999999999999"),
        ("size", "ten"),
        ("size", "2.5"),
        ("page", "0"),
        ("page", "-1"),
        ("page", "first"),
        ("page", "99999999999999999999"),
        ("dir", "2"),
        ("dir", "-1"),
        ("dir", "desc"),
        ("orderBy", "Nope"),
        ("orderBy", "name"),  # field names are case-sensitive, as Nexudus prints them
        ("orderBy", "Name; DROP TABLE connections"),
        ("orderBy", "provider"),  # an internal column is not a field
    ],
)
async def test_bad_paging_values_are_400s_naming_the_parameter(
    client: httpx2.AsyncClient, admin: dict[str, str], param: str, value: str
) -> None:
    answer = await client.get(PATH, params={param: value}, headers=admin)
    assert answer.status_code == 400, answer.text
    envelope = answer.json()
    assert envelope["WasSuccessful"] is False
    assert envelope["Errors"][0]["PropertyName"] == param
    assert envelope["Errors"][0]["AttemptedValue"] == value
    assert envelope["Message"].startswith(f"{param}: ")


@pytest.mark.parametrize(("direction", "reverse"), [(0, False), (1, True)])
async def test_order_by_a_field_breaks_ties_by_id(
    client: httpx2.AsyncClient,
    admin: dict[str, str],
    ids: list[int],
    direction: int,
    reverse: bool,
) -> None:
    envelope = await search(client, admin, orderBy="Name", dir=direction)
    expected = sorted(zip(NAMES, ids, strict=True), reverse=reverse)
    assert [(r["Name"], r["Id"]) for r in envelope["Records"]] == expected
    assert envelope["CurrentOrderField"] == "Name"
    assert envelope["CurrentSortDirection"] == direction

    # Paging through the tied order visits every record exactly once.
    seen: list[int] = []
    for page in (1, 2, 3, 4):
        chunk = await search(client, admin, orderBy="Name", dir=direction, page=page, size=2)
        seen += [r["Id"] for r in chunk["Records"]]
    assert seen == [i for _, i in expected]


@pytest.mark.parametrize(
    "field", ["SubscriptionExpireDate", "CalendarId", "Id", "CreatedOn", "CoworkerFullName"]
)
async def test_order_by_other_fields(
    client: httpx2.AsyncClient, admin: dict[str, str], ids: list[int], field: str
) -> None:
    ascending = await search(client, admin, orderBy=field, dir=0)
    descending = await search(client, admin, orderBy=field, dir=1)
    asc_ids = [r["Id"] for r in ascending["Records"]]
    desc_ids = [r["Id"] for r in descending["Records"]]
    assert sorted(asc_ids) == sorted(ids)
    if field in ("SubscriptionExpireDate", "CalendarId", "Id"):
        assert asc_ids == ids  # these rise with creation order in the fixture
    assert desc_ids == list(reversed(asc_ids))  # distinct values, or all tied (Id order)
