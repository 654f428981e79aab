"""CoworkerCalDavCalendar through the records API: the six operations with the
conventions of the other two connection records, the fields it shows (never a
password), ServerUrl / Username / CalendarId provider-owned, SyncToken reset-only,
and the wall between it and the other providers' records."""

from __future__ import annotations

from typing import Any

import httpx2
from sqlalchemy import insert
from tests.support.api import create
from tests.support.api_env import MakeUser

from spacecal import clock
from spacecal.db.engine import Database
from spacecal.db.models import ProviderAccount

PATH = "/api/spaces/coworkercaldavcalendars"
SERVER = "https://caldav.example.com"
FIELDS = {
    "ResourceId",
    "CoworkerId",
    "CoworkerFullName",
    "Name",
    "CalendarId",
    "ServerUrl",
    "Username",
    "SyncToken",
    "LastSyncOn",
    "LastPollOn",
    "NextPollOn",
    "NeedsReconnect",
    "Health",
    "LastError",
}


async def _seed(client: httpx2.AsyncClient, admin: dict[str, str]) -> dict[str, Any]:
    business = await create(client, admin, "businesses", {"Name": "Riverside", "TimeZone": "UTC"})
    resource = await create(client, admin, "resources", {"BusinessId": business, "Name": "Room A"})
    coworker = await create(
        client,
        admin,
        "coworkers",
        {"FullName": "Ada Lovelace", "Email": "ada@example.com", "BusinessId": business},
    )
    return {
        "ResourceId": resource,
        "CoworkerId": coworker,
        "Name": "Room A · Riverside",
        "CalendarId": f"{SERVER}/dav/ada/spacecal-1/",
        "ServerUrl": SERVER,
        "Username": "ada@example.com",
        "SyncToken": "token-1",
    }


async def _get(client: httpx2.AsyncClient, admin: dict[str, str], rid: int) -> dict[str, Any]:
    answer = await client.get(f"{PATH}/{rid}", headers=admin)
    assert answer.status_code == 200, answer.text
    record: dict[str, Any] = answer.json()
    return record


async def test_six_operations_and_the_fields_shown(
    client: httpx2.AsyncClient, quick_admin: dict[str, str]
) -> None:
    body = await _seed(client, quick_admin)
    rid = await create(client, quick_admin, "coworkercaldavcalendars", body)
    record = await _get(client, quick_admin, rid)
    assert set(record) >= FIELDS, set(record)
    for name in ("CalendarId", "ServerUrl", "Username", "SyncToken"):
        assert record[name] == body[name], name
    assert record["NeedsReconnect"] is False
    assert not {"Password", "Secret", "RefreshToken", "SubscriptionId"} & set(record)
    # List, with a filter on a CalDAV field.
    listing = await client.get(
        PATH, params={"CoworkerCalDavCalendar_Username": "ada"}, headers=quick_admin
    )
    assert listing.status_code == 200, listing.text
    assert [r["Id"] for r in listing.json()["Records"]] == [rid]
    # Update (full replace), then delete.
    answer = await client.put(PATH, json={**record, "Name": "Renamed"}, headers=quick_admin)
    assert answer.status_code == 200, answer.text
    assert (await _get(client, quick_admin, rid))["Name"] == "Renamed"
    answer = await client.delete(f"{PATH}/{rid}", headers=quick_admin)
    assert answer.status_code == 200, answer.text
    assert (await client.get(f"{PATH}/{rid}", headers=quick_admin)).status_code == 404


async def test_the_other_records_do_not_show_caldav_rows(
    client: httpx2.AsyncClient, quick_admin: dict[str, str]
) -> None:
    body = await _seed(client, quick_admin)
    rid = await create(client, quick_admin, "coworkercaldavcalendars", body)
    for other in ("coworkergooglecalendars", "coworkermsofficecalendars"):
        answer = await client.get(f"/api/spaces/{other}/{rid}", headers=quick_admin)
        assert answer.status_code == 404, other


async def test_provider_owned_fields_and_the_sync_token(
    client: httpx2.AsyncClient, quick_admin: dict[str, str], quick_user: MakeUser
) -> None:
    body = await _seed(client, quick_admin)
    rid = await create(client, quick_admin, "coworkercaldavcalendars", body)
    editor = await quick_user("editor@example.com", roles=["CoworkerCalDavCalendar-Edit"])
    before = await _get(client, quick_admin, rid)
    for field, value in (
        ("ServerUrl", "http://169.254.169.254/"),
        ("Username", "someone-else"),
        ("CalendarId", f"{SERVER}/dav/ada/calendar/"),
        ("SyncToken", "forged"),
    ):
        answer = await client.put(PATH, json={**before, field: value}, headers=editor)
        assert answer.status_code == 400, (field, answer.text)
        assert field in {e["PropertyName"] for e in answer.json()["Errors"]}
    # A round trip and clearing the token (a resync request) are fine.
    answer = await client.put(PATH, json={**before, "Name": "Renamed"}, headers=editor)
    assert answer.status_code == 200, answer.text
    answer = await client.put(PATH, json={**before, "SyncToken": None}, headers=editor)
    assert answer.status_code == 200, answer.text
    after = await _get(client, quick_admin, rid)
    assert after["SyncToken"] is None
    assert (after["ServerUrl"], after["Username"]) == (SERVER, "ada@example.com")
    # A creator without full administration names no server.
    creator = await quick_user("creator@example.com", roles=["CoworkerCalDavCalendar-Create"])
    answer = await client.post(PATH, json={**body, "Name": "Second"}, headers=creator)
    assert answer.status_code == 400, answer.text


async def test_a_create_for_a_connected_member_takes_the_accounts_server(
    client: httpx2.AsyncClient, quick_admin: dict[str, str], database: Database
) -> None:
    body = await _seed(client, quick_admin)
    now = clock.now()
    async with database.engine.begin() as conn:
        await conn.execute(
            insert(ProviderAccount).values(
                coworker_id=body["CoworkerId"],
                provider="caldav",
                email="ada@example.com",
                refresh_token_enc=database.cipher.encrypt('{"password":"hunter2"}'),
                server_url=SERVER,
                username="ada",
                scopes=[],
                status="active",
                created_at=now,
                updated_at=now,
            )
        )
    plain = {k: v for k, v in body.items() if k not in ("ServerUrl", "Username", "CalendarId")}
    rid = await create(client, quick_admin, "coworkercaldavcalendars", plain)
    record = await _get(client, quick_admin, rid)
    assert (record["ServerUrl"], record["Username"]) == (SERVER, "ada")
    assert "hunter2" not in str(record)
    listing = await client.get(PATH, headers=quick_admin)
    assert "hunter2" not in listing.text
