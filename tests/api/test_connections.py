"""Both connection records through every operation, in the shapes of the reference
(/work/shared/reference/nexudus-api.md): envelopes, required fields, filters, ranges,
get-many, full-replace update, delete, and the wall between the two providers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from tests.support.api import create

ADMIN_EMAIL = "admin@example.com"


@pytest.fixture
def admin(quick_admin: dict[str, str]) -> dict[str, str]:
    """The full administrator, without argon2 per test (tests/api/conftest.py)."""
    return quick_admin


@dataclass(frozen=True)
class Kind:
    path: str
    name: str
    google: bool

    @property
    def required(self) -> list[str]:
        fields = ["ResourceId", "Name", "SubscriptionId", "CalendarId", "SubscriptionExpireDate"]
        return [*fields, "WatchResourceId"] if self.google else fields


GOOGLE = Kind("coworkergooglecalendars", "CoworkerGoogleCalendar", True)
MICROSOFT = Kind("coworkermsofficecalendars", "CoworkerMsOfficeCalendar", False)
MICROSOFT_ALIAS = Kind("coworkermsoffecalendars", "CoworkerMsOfficeCalendar", False)
KINDS = [
    pytest.param(GOOGLE, id="google"),
    pytest.param(MICROSOFT, id="microsoft"),
    pytest.param(MICROSOFT_ALIAS, id="microsoft-alias"),
]
COMMON = {
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
PUBLIC = {
    "ResourceId",
    "CoworkerId",
    "CoworkerFullName",
    "Name",
    "SubscriptionId",
    "CalendarId",
    "SubscriptionExpireDate",
}
GOOGLE_ONLY = {"WatchResourceId", "EventSyncToken"}
INTERNAL = {
    "Provider",
    "ProviderAccountId",
    "DeltaLink",
    "SyncWindowStart",
    "SyncWindowEnd",
    "PushSupported",
    "RefreshToken",
    "AccessToken",
    "Secret",
    "ClientState",
    "ChannelToken",
}


@dataclass
class Seed:
    business: int
    resource: int
    other_resource: int
    ada: int
    grace: int


async def seed(client: httpx2.AsyncClient, admin: dict[str, str]) -> Seed:
    business = await create(
        client, admin, "businesses", {"Name": "Riverside", "TimeZone": "Europe/London"}
    )
    resource = await create(
        client, admin, "resources", {"BusinessId": business, "Name": "Meeting Room A"}
    )
    other = await create(client, admin, "resources", {"BusinessId": business, "Name": "Desk 7"})
    ada = await create(
        client,
        admin,
        "coworkers",
        {"FullName": "Ada Lovelace", "Email": "ada@example.com", "BusinessId": business},
    )
    grace = await create(
        client,
        admin,
        "coworkers",
        {"FullName": "Grace Hopper", "Email": "grace@example.com", "BusinessId": business},
    )
    return Seed(business, resource, other, ada, grace)


def body(kind: Kind, resource: int, **override: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "ResourceId": resource,
        "Name": "Meeting Room A · Riverside",
        "SubscriptionId": "sub-1",
        "CalendarId": "room-a@group.calendar.example",
        "SubscriptionExpireDate": "2026-12-01T10:30:00Z",
    }
    if kind.google:
        record["WatchResourceId"] = "watch-1"
    record.update(override)
    return record


async def get(client: httpx2.AsyncClient, admin: dict[str, str], kind: Kind, rid: int) -> Any:
    answer = await client.get(f"/api/spaces/{kind.path}/{rid}", headers=admin)
    assert answer.status_code == 200, answer.text
    return answer.json()


def assert_action(answer: httpx2.Response, message: str, record_id: int) -> None:
    assert answer.status_code == 200, answer.text
    envelope = answer.json()
    assert envelope["UpdatedOn"].endswith("Z")
    del envelope["UpdatedOn"]
    assert envelope == {
        "Status": 200,
        "Message": message,
        "Value": {"Id": record_id},
        "OpenInDialog": False,
        "OpenInWindow": False,
        "RedirectURL": None,
        "JavaScript": None,
        "UpdatedBy": ADMIN_EMAIL,
        "Errors": None,
        "WasSuccessful": True,
    }


def assert_field_error(answer: httpx2.Response, prop: str | None, status: int = 400) -> str:
    """The error envelope naming `prop` first; returns its message."""
    assert answer.status_code == status, answer.text
    envelope = answer.json()
    assert envelope["WasSuccessful"] is False
    assert envelope["Value"] is None
    assert envelope["Errors"][0]["PropertyName"] == prop
    message: str = envelope["Errors"][0]["Message"]
    prefix = f"{prop}: " if prop else ""
    assert envelope["Message"] == prefix + message
    return message


# --- create and get one ------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_create_answers_the_action_envelope_and_get_one_shows_the_record(
    client: httpx2.AsyncClient, admin: dict[str, str], kind: Kind
) -> None:
    s = await seed(client, admin)
    sent = body(kind, s.resource, CoworkerId=s.ada, SystemId="ext-42")
    if kind.google:
        sent["EventSyncToken"] = "sync-token-1"
    answer = await client.post(f"/api/spaces/{kind.path}", json=sent, headers=admin)
    record_id = answer.json()["Value"]["Id"]
    assert_action(answer, f"{kind.name} was successfully created.", record_id)

    record = await get(client, admin, kind, record_id)
    expected_keys = COMMON | PUBLIC | (GOOGLE_ONLY if kind.google else set())
    assert expected_keys <= set(record)
    if not kind.google:
        assert not GOOGLE_ONLY & set(record)
    # No internal column or secret, under its own name or a Nexudus-style one.
    assert not {k for k in record if "_" in k or k[0].islower()}
    assert not INTERNAL & set(record)
    for field, value in sent.items():
        assert record[field] == value, field
    assert record["Id"] == record_id
    assert record["CoworkerFullName"] == "Ada Lovelace"
    assert record["ToStringText"] == "Meeting Room A · Riverside"
    assert record["UpdatedBy"] == ADMIN_EMAIL
    assert record["IsNew"] is True
    assert record["CreatedOn"] == record["UpdatedOn"]
    assert record["LocalizationDetails"] is None and record["CustomFields"] is None
    uuid.UUID(record["UniqueId"])


@pytest.mark.parametrize("kind", KINDS)
async def test_form_body_creates_the_same_record(
    client: httpx2.AsyncClient, admin: dict[str, str], kind: Kind
) -> None:
    s = await seed(client, admin)
    form = {k: str(v) for k, v in body(kind, s.resource, CoworkerId=s.grace).items()}
    answer = await client.post(f"/api/spaces/{kind.path}", data=form, headers=admin)
    assert answer.status_code == 200, answer.text
    record = await get(client, admin, kind, answer.json()["Value"]["Id"])
    assert record["ResourceId"] == s.resource
    assert record["CoworkerId"] == s.grace
    assert record["SubscriptionExpireDate"] == "2026-12-01T10:30:00Z"


REQUIRED_CASES = [
    pytest.param(kind, field, id=f"{kind.name}-{field}")
    for kind in (GOOGLE, MICROSOFT)
    for field in kind.required
]


@pytest.mark.parametrize(("kind", "field"), REQUIRED_CASES)
async def test_each_required_field_is_refused_when_missing(
    client: httpx2.AsyncClient, admin: dict[str, str], kind: Kind, field: str
) -> None:
    s = await seed(client, admin)
    for blank in ("absent", None, "", "   "):
        sent = body(kind, s.resource)
        if blank == "absent":
            del sent[field]
        else:
            sent[field] = blank
        answer = await client.post(f"/api/spaces/{kind.path}", json=sent, headers=admin)
        assert answer.status_code == 400, blank
        assert answer.json() == {
            "Status": 400,
            "Message": f"{field}: is a required field",
            "Value": None,
            "WasSuccessful": False,
            "Errors": [
                {
                    "AttemptedValue": None if blank == "absent" else blank,
                    "Message": "is a required field",
                    "PropertyName": field,
                }
            ],
        }, blank
    listing = await client.get(f"/api/spaces/{kind.path}", headers=admin)
    assert listing.json()["TotalItems"] == 0


@pytest.mark.parametrize("kind", [GOOGLE, MICROSOFT], ids=["google", "microsoft"])
async def test_an_empty_body_lists_every_required_field(
    client: httpx2.AsyncClient, admin: dict[str, str], kind: Kind
) -> None:
    answer = await client.post(f"/api/spaces/{kind.path}", json={}, headers=admin)
    assert answer.status_code == 400
    names = [e["PropertyName"] for e in answer.json()["Errors"]]
    assert sorted(names) == sorted(kind.required)
    assert answer.json()["Message"] == "ResourceId: is a required field"


async def test_microsoft_records_have_no_google_fields(
    client: httpx2.AsyncClient, admin: dict[str, str]
) -> None:
    s = await seed(client, admin)
    for field in GOOGLE_ONLY:
        answer = await client.post(
            f"/api/spaces/{MICROSOFT.path}",
            json=body(MICROSOFT, s.resource, **{field: "x"}),
            headers=admin,
        )
        assert assert_field_error(answer, field) == "is not a field of CoworkerMsOfficeCalendar"


@pytest.mark.parametrize("kind", [GOOGLE, MICROSOFT], ids=["google", "microsoft"])
async def test_references_to_missing_records_are_refused_in_words(
    client: httpx2.AsyncClient, admin: dict[str, str], kind: Kind
) -> None:
    s = await seed(client, admin)
    for field, message in (
        ("ResourceId", "no Resource has this Id"),
        ("CoworkerId", "no Coworker has this Id"),
    ):
        answer = await client.post(
            f"/api/spaces/{kind.path}",
            json=body(kind, s.resource, **{field: 999_999}),
            headers=admin,
        )
        assert assert_field_error(answer, field) == message


@pytest.mark.parametrize("kind", KINDS)
async def test_read_only_and_common_fields_in_the_body_are_ignored(
    client: httpx2.AsyncClient, admin: dict[str, str], kind: Kind
) -> None:
    s = await seed(client, admin)
    sent = body(kind, s.resource, CoworkerFullName="Mallory", Id=12345, IsNew=False)
    record_id = await create(client, admin, kind.path, sent)
    assert record_id != 12345
    record = await get(client, admin, kind, record_id)
    assert record["CoworkerFullName"] is None
    assert record["IsNew"] is True


# --- get many ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_get_many_answers_a_json_array_of_full_records(
    client: httpx2.AsyncClient, admin: dict[str, str], kind: Kind
) -> None:
    s = await seed(client, admin)
    ids = [
        await create(client, admin, kind.path, body(kind, s.resource, Name=f"Cal {n}"))
        for n in range(3)
    ]
    other_kind = MICROSOFT if kind.google else GOOGLE
    foreign = await create(client, admin, other_kind.path, body(other_kind, s.resource))
    singles = {i: await get(client, admin, kind, i) for i in ids}

    for query in (f"[{ids[0]},{ids[2]}]", f"{ids[2]},{ids[0]}", f"[ {ids[0]} , {ids[2]} ]"):
        answer = await client.get(f"/api/spaces/{kind.path}", params={"id": query}, headers=admin)
        assert answer.status_code == 200, answer.text
        assert answer.json() == [singles[ids[0]], singles[ids[2]]]

    # Unknown ids and the other provider's records are simply not there.
    answer = await client.get(
        f"/api/spaces/{kind.path}", params={"id": f"[{ids[1]},{foreign},999999]"}, headers=admin
    )
    assert answer.json() == [singles[ids[1]]]


@pytest.mark.parametrize("raw", ["[1,x]", "[]", "abc", "[1.5]", "1;2", "[--1]", ""])
async def test_get_many_with_a_malformed_list_is_a_400(
    client: httpx2.AsyncClient, admin: dict[str, str], raw: str
) -> None:
    answer = await client.get(f"/api/spaces/{GOOGLE.path}", params={"id": raw}, headers=admin)
    assert_field_error(answer, "id")


async def test_get_many_cannot_be_combined_with_search_parameters(
    client: httpx2.AsyncClient, admin: dict[str, str]
) -> None:
    answer = await client.get(
        f"/api/spaces/{GOOGLE.path}", params={"id": "[1]", "page": "2"}, headers=admin
    )
    assert assert_field_error(answer, "page") == "cannot be combined with id=[…]"


# --- missing records and the wall between providers ---------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_missing_ids_answer_404_envelopes(
    client: httpx2.AsyncClient, admin: dict[str, str], kind: Kind
) -> None:
    s = await seed(client, admin)
    expected = {
        "Status": 404,
        "Message": f"{kind.name} with Id 4242 was not found.",
        "Value": None,
        "WasSuccessful": False,
        "Errors": None,
    }
    answers = [
        await client.get(f"/api/spaces/{kind.path}/4242", headers=admin),
        await client.delete(f"/api/spaces/{kind.path}/4242", headers=admin),
        await client.put(
            f"/api/spaces/{kind.path}", json=body(kind, s.resource, Id=4242), headers=admin
        ),
    ]
    for answer in answers:
        assert answer.status_code == 404
        assert answer.json() == expected


@pytest.mark.parametrize(
    ("mine", "theirs"),
    [(GOOGLE, MICROSOFT), (MICROSOFT, GOOGLE), (GOOGLE, MICROSOFT_ALIAS)],
    ids=["google-via-microsoft", "microsoft-via-google", "google-via-alias"],
)
async def test_a_record_is_invisible_through_the_other_providers_path(
    client: httpx2.AsyncClient, admin: dict[str, str], mine: Kind, theirs: Kind
) -> None:
    s = await seed(client, admin)
    record_id = await create(client, admin, mine.path, body(mine, s.resource))
    base = f"/api/spaces/{theirs.path}"

    assert (await client.get(f"{base}/{record_id}", headers=admin)).status_code == 404
    listing = (await client.get(base, headers=admin)).json()
    assert listing["TotalItems"] == 0 and listing["Records"] == []
    filtered = await client.get(base, params={f"{theirs.name}_Id": record_id}, headers=admin)
    assert filtered.json()["Records"] == []
    put = await client.put(base, json=body(theirs, s.resource, Id=record_id), headers=admin)
    assert put.status_code == 404
    assert (await client.delete(f"{base}/{record_id}", headers=admin)).status_code == 404

    # Still there, untouched, on its own path.
    record = await get(client, admin, mine, record_id)
    assert record["IsNew"] is True


# --- update ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("encoding", ["json", "form"])
async def test_put_replaces_the_whole_record(
    client: httpx2.AsyncClient, admin: dict[str, str], kind: Kind, encoding: str
) -> None:
    s = await seed(client, admin)
    first = body(kind, s.resource, CoworkerId=s.ada, SystemId="ext-1")
    if kind.google:
        first["EventSyncToken"] = "token-1"
    record_id = await create(client, admin, kind.path, first)

    # CoworkerId, SystemId-less and EventSyncToken absent: a full replace clears them.
    second = body(
        kind,
        s.other_resource,
        Id=record_id,
        Name="Desk 7 · Riverside",
        SubscriptionId="sub-2",
        CalendarId="desk-7@example",
        SubscriptionExpireDate="2027-01-02T03:04:05Z",
    )
    if kind.google:
        second["WatchResourceId"] = "watch-2"
    if encoding == "json":
        answer = await client.put(f"/api/spaces/{kind.path}", json=second, headers=admin)
    else:
        form = {k: str(v) for k, v in second.items()}
        answer = await client.put(f"/api/spaces/{kind.path}", data=form, headers=admin)
    assert_action(answer, f"{kind.name} was successfully updated.", record_id)

    record = await get(client, admin, kind, record_id)
    for field, value in second.items():
        assert record[field] == value, field
    assert record["CoworkerId"] is None
    assert record["CoworkerFullName"] is None
    assert record["SystemId"] == "ext-1"  # SystemId is only replaced when sent
    if kind.google:
        assert record["EventSyncToken"] is None
    assert record["IsNew"] is False
    assert record["UpdatedOn"] > record["CreatedOn"]


@pytest.mark.parametrize("kind", [GOOGLE, MICROSOFT], ids=["google", "microsoft"])
async def test_put_without_a_usable_id_is_a_400(
    client: httpx2.AsyncClient, admin: dict[str, str], kind: Kind
) -> None:
    s = await seed(client, admin)
    record_id = await create(client, admin, kind.path, body(kind, s.resource))
    for bad in ({}, {"Id": None}, {"Id": ""}, {"Id": "abc"}, {"Id": 1.5}, {"Id": [record_id]}):
        answer = await client.put(
            f"/api/spaces/{kind.path}", json={**body(kind, s.resource), **bad}, headers=admin
        )
        assert_field_error(answer, "Id")
    # A full replace still needs every required field.
    answer = await client.put(
        f"/api/spaces/{kind.path}", json={"Id": record_id, "Name": "only a name"}, headers=admin
    )
    assert_field_error(answer, "ResourceId")
    assert (await get(client, admin, kind, record_id))["Name"] == "Meeting Room A · Riverside"


# --- delete ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_delete_removes_the_record(
    client: httpx2.AsyncClient, admin: dict[str, str], kind: Kind
) -> None:
    s = await seed(client, admin)
    keep = await create(client, admin, kind.path, body(kind, s.resource, Name="keep"))
    gone = await create(client, admin, kind.path, body(kind, s.resource, Name="gone"))

    answer = await client.delete(f"/api/spaces/{kind.path}/{gone}", headers=admin)
    assert_action(answer, f"{kind.name} was successfully deleted.", gone)

    assert (await client.get(f"/api/spaces/{kind.path}/{gone}", headers=admin)).status_code == 404
    listing = (await client.get(f"/api/spaces/{kind.path}", headers=admin)).json()
    assert [r["Id"] for r in listing["Records"]] == [keep]
    again = await client.delete(f"/api/spaces/{kind.path}/{gone}", headers=admin)
    assert again.status_code == 404


# --- search filters ----------------------------------------------------------------


async def _filter_fixture(
    client: httpx2.AsyncClient, admin: dict[str, str], kind: Kind
) -> tuple[Seed, dict[str, int]]:
    s = await seed(client, admin)
    rows = {
        "north": body(
            kind,
            s.resource,
            Name="North Room",
            CoworkerId=s.ada,
            SubscriptionId="sub-north",
            CalendarId="north@example",
            SubscriptionExpireDate="2026-12-01T08:00:00Z",
        ),
        "south": body(
            kind,
            s.other_resource,
            Name="South Desk",
            CoworkerId=s.grace,
            SubscriptionId="sub-south",
            CalendarId="south@example",
            SubscriptionExpireDate="2026-12-01T09:30:00Z",
        ),
        "east": body(
            kind,
            s.resource,
            Name="East Room",
            SubscriptionId="sub-east",
            CalendarId="east@example",
            SubscriptionExpireDate="2026-12-02T00:00:00Z",
        ),
    }
    if kind.google:
        for key, token in (("north", "tok-N"), ("south", "tok-S"), ("east", None)):
            rows[key]["WatchResourceId"] = f"watch-{key}"
            rows[key]["EventSyncToken"] = token
    ids = {key: await create(client, admin, kind.path, row) for key, row in rows.items()}
    return s, ids


async def _names(client: httpx2.AsyncClient, admin: dict[str, str], kind: Kind, **params: Any):
    answer = await client.get(f"/api/spaces/{kind.path}", params=params, headers=admin)
    assert answer.status_code == 200, answer.text
    envelope = answer.json()
    assert envelope["TotalItems"] == len(envelope["Records"])
    return {r["Name"].split()[0].lower() for r in envelope["Records"]}


@pytest.mark.parametrize("kind", KINDS)
async def test_every_field_filter(
    client: httpx2.AsyncClient, admin: dict[str, str], kind: Kind
) -> None:
    s, ids = await _filter_fixture(client, admin, kind)
    p = kind.name + "_"
    cases: list[tuple[str, Any, set[str]]] = [
        ("Name", "room", {"north", "east"}),  # substring, case-insensitive
        ("Name", "SOUTH DESK", {"south"}),
        ("Name", "", {"north", "south", "east"}),  # an empty value is ignored
        ("CalendarId", "north@", {"north"}),
        ("SubscriptionId", "sub-", {"north", "south", "east"}),
        ("SubscriptionId", "sub-east", {"east"}),
        ("Resource", s.resource, {"north", "east"}),
        ("ResourceId", s.other_resource, {"south"}),
        ("Coworker", s.ada, {"north"}),
        ("Coworker", 999_999, set()),
        ("Coworker_FullName", "hopper", {"south"}),
        ("Id", ids["east"], {"east"}),
        ("SubscriptionExpireDate", "2026-12-01T09:30:00Z", {"south"}),
        ("UpdatedBy", "admin@", {"north", "south", "east"}),
        ("Name", "nothing like it", set()),
    ]
    if kind.google:
        cases += [
            ("WatchResourceId", "watch-south", {"south"}),
            ("EventSyncToken", "tok-", {"north", "south"}),
            ("EventSyncToken", "tok-n", {"north"}),
        ]
    for field, value, expected in cases:
        got = await _names(client, admin, kind, **{p + field: value})
        assert got == expected, (field, value)

    # Several filters combine with AND.
    both = await _names(client, admin, kind, **{p + "Name": "room", p + "Coworker": s.ada})
    assert both == {"north"}


@pytest.mark.parametrize("kind", KINDS)
async def test_date_ranges_are_inclusive_and_take_the_short_format(
    client: httpx2.AsyncClient, admin: dict[str, str], kind: Kind
) -> None:
    await _filter_fixture(client, admin, kind)
    field = f"{kind.name}_SubscriptionExpireDate"
    cases: list[tuple[dict[str, str], set[str]]] = [
        ({f"from_{field}": "2026-12-01T09:30"}, {"south", "east"}),
        ({f"to_{field}": "2026-12-01T09:30"}, {"north", "south"}),
        ({f"from_{field}": "2026-12-01T08:01", f"to_{field}": "2026-12-01T23:59"}, {"south"}),
        ({f"from_{field}": "2026-12-01T08:00:00Z"}, {"north", "south", "east"}),
        ({f"from_{field}": "2026-12-01T09:00+01:00"}, {"north", "south", "east"}),
        ({f"from_{field}": "2027-01-01T00:00"}, set()),
    ]
    for params, expected in cases:
        assert await _names(client, admin, kind, **params) == expected, params

    created = f"from_{kind.name}_CreatedOn"
    assert await _names(client, admin, kind, **{created: "2000-01-01T00:00"}) == {
        "north",
        "south",
        "east",
    }


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("from_CoworkerGoogleCalendar_SubscriptionExpireDate", "tomorrow"),
        ("to_CoworkerGoogleCalendar_SubscriptionExpireDate", "2026-13-01T00:00"),
        ("from_CoworkerGoogleCalendar_SubscriptionExpireDate", "9999-12-31T23:59-01:00"),
        ("from_CoworkerGoogleCalendar_Name", "2026-12-01T00:00"),
        ("CoworkerGoogleCalendar_SubscriptionExpireDate", "01/12/2026"),
        ("CoworkerGoogleCalendar_Resource", "abc"),
        ("CoworkerGoogleCalendar_Coworker", "1.5"),
        ("CoworkerGoogleCalendar_Id", "--1"),
        ("CoworkerGoogleCalendar_Id", "99999999999999999999"),
        ("CoworkerGoogleCalendar_UniqueId", "not-a-uuid"),
        ("CoworkerGoogleCalendar_Nope", "x"),
        ("CoworkerGoogleCalendar_CoworkerFullName", "x"),
        ("CoworkerMsOfficeCalendar_Name", "x"),
        ("Name", "x"),
        ("foo", "bar"),
        ("from_", "2026-12-01T00:00"),
        ("between_CoworkerGoogleCalendar_SubscriptionExpireDate", "2026-12-01T00:00"),
    ],
)
async def test_bad_search_parameters_are_400s_naming_the_parameter(
    client: httpx2.AsyncClient, admin: dict[str, str], param: str, value: str
) -> None:
    answer = await client.get(f"/api/spaces/{GOOGLE.path}", params={param: value}, headers=admin)
    error = answer.json()["Errors"][0]
    assert_field_error(answer, param)
    assert error["AttemptedValue"] == value


async def test_microsoft_has_no_google_filters(
    client: httpx2.AsyncClient, admin: dict[str, str]
) -> None:
    for field in GOOGLE_ONLY:
        param = f"CoworkerMsOfficeCalendar_{field}"
        answer = await client.get(
            f"/api/spaces/{MICROSOFT.path}", params={param: "x"}, headers=admin
        )
        assert_field_error(answer, param)


# --- strings that look like SQL or patterns ------------------------------------------


TRICKY_NAMES = {
    "percent": "100% booked",
    "underscore": "room_a",
    "plain": "room a",
    "sql": "'; DROP TABLE connections; --",
    "quote": "O'Brien's room",
    "unicode": "Zürich Café ☕",
    "backslash": "back\\slash",
}


TRICKY_FILTERS: list[tuple[str, set[str]]] = [
    ("%", {"percent"}),
    ("_", {"underscore"}),
    ("room_", {"underscore"}),
    ("'; DROP TABLE connections; --", {"sql"}),
    ("'", {"sql", "quote"}),
    ("zürich café", {"unicode"}),
    ("ZÜRICH", {"unicode"}),
    ("☕", {"unicode"}),
    ("\\", {"backslash"}),
    ("\\s", {"backslash"}),
    ("*", set()),
    ("[a]", set()),
]


async def test_filter_strings_match_literally(
    client: httpx2.AsyncClient, admin: dict[str, str]
) -> None:
    s = await seed(client, admin)
    ids = {
        key: await create(client, admin, GOOGLE.path, body(GOOGLE, s.resource, Name=name))
        for key, name in TRICKY_NAMES.items()
    }
    for needle, expected in TRICKY_FILTERS:
        answer = await client.get(
            f"/api/spaces/{GOOGLE.path}",
            params={"CoworkerGoogleCalendar_Name": needle},
            headers=admin,
        )
        assert answer.status_code == 200, answer.text
        found = {r["Id"] for r in answer.json()["Records"]}
        assert found == {ids[k] for k in expected}, needle
    # The table is still there and whole.
    listing = await client.get(f"/api/spaces/{GOOGLE.path}", headers=admin)
    assert listing.json()["TotalItems"] == len(TRICKY_NAMES)
    stored = await get(client, admin, GOOGLE, ids["sql"])
    assert stored["Name"] == TRICKY_NAMES["sql"]
