"""The WebHook record at /api/sys/webhooks: CRUD, roles, validation, and a Secret that
is accepted but never shown."""

from __future__ import annotations

import logging

import httpx2
import pytest
from sqlalchemy import select
from tests.support.api_env import MakeUser

from hooks.conftest import create
from spacecal.api.users import KNOWN_ROLES
from spacecal.db.engine import Database
from spacecal.db.models import WebHook

PATH = "/api/sys/webhooks"
SECRET = "s3cr3t-Hook-Value-7f1c9a"


def _body(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "Name": "Bookings to the CRM",
        "Action": "BookingCreate",
        "URL": "https://crm.example.com/hooks/bookings?token=abc",
        "Secret": SECRET,
    }
    body.update(changes)
    return body


async def _stored_secret(database: Database, hook_id: int) -> str | None:
    async with database.engine.connect() as conn:
        sealed = await conn.scalar(select(WebHook.secret_enc).where(WebHook.id == hook_id))
    return None if sealed is None else database.cipher.decrypt(sealed)


async def test_create_read_search_update_delete(
    client: httpx2.AsyncClient, admin: dict[str, str], database: Database
) -> None:
    answer = await client.post(PATH, json=_body(), headers=admin)
    assert answer.status_code == 200, answer.text
    assert answer.json()["Message"] == "WebHook was successfully created."
    hook_id = answer.json()["Value"]["Id"]

    record = (await client.get(f"{PATH}/{hook_id}", headers=admin)).json()
    assert record["Name"] == "Bookings to the CRM"
    assert record["Action"] == "BookingCreate"
    assert record["URL"] == "https://crm.example.com/hooks/bookings?token=abc"
    assert record["Active"] is True
    assert (record["LastTrigger"], record["LastError"], record["ErrorCount"]) == (None, None, 0)
    assert record["ToStringText"] == "Bookings to the CRM"
    assert "Secret" not in record
    assert await _stored_secret(database, hook_id) == SECRET

    other = await create(
        client, admin, PATH, _body(Name="Failures", Action="Coworker Calendar Sync Fail")
    )
    found = (
        await client.get(PATH, params={"WebHook_Action": "BookingCreate"}, headers=admin)
    ).json()
    assert [r["Id"] for r in found["Records"]] == [hook_id]
    assert (await client.get(f"{PATH}/{other}", headers=admin)).json()["Action"] == (
        "CoworkerCalendarSyncFail"
    )

    # A full replace without Secret keeps it (nobody can read it back to resend it).
    changed = _body(Id=hook_id, Name="Renamed", Active=False)
    del changed["Secret"]
    assert (await client.put(PATH, json=changed, headers=admin)).status_code == 200
    record = (await client.get(f"{PATH}/{hook_id}", headers=admin)).json()
    assert (record["Name"], record["Active"]) == ("Renamed", False)
    assert await _stored_secret(database, hook_id) == SECRET
    # A new one replaces it; "" removes it.
    await client.put(PATH, json=_body(Id=hook_id, Secret="another-one"), headers=admin)
    assert await _stored_secret(database, hook_id) == "another-one"
    await client.put(PATH, json=_body(Id=hook_id, Secret=""), headers=admin)
    assert await _stored_secret(database, hook_id) is None

    deleted = await client.delete(f"{PATH}/{hook_id}", headers=admin)
    assert deleted.json()["Message"] == "WebHook was successfully deleted."
    assert (await client.get(f"{PATH}/{hook_id}", headers=admin)).status_code == 404


async def test_the_secret_never_comes_back(
    client: httpx2.AsyncClient,
    admin: dict[str, str],
    database: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    created = await client.post(PATH, json=_body(), headers=admin)
    hook_id = created.json()["Value"]["Id"]
    seen.append(created.text)
    for answer in (
        await client.get(f"{PATH}/{hook_id}", headers=admin),
        await client.get(PATH, headers=admin),
        await client.get(PATH, params={"id": f"[{hook_id}]"}, headers=admin),
        await client.put(PATH, json=_body(Id=hook_id), headers=admin),
        # Refused writes: an error names the field, never the value.
        await client.post(PATH, json=_body(Secret=SECRET * 30), headers=admin),
        await client.post(PATH, json=_body(URL="ftp://x", Secret=SECRET), headers=admin),
        await client.put(PATH, json=_body(Id=hook_id, Secret=SECRET + "\x00"), headers=admin),
        await client.get("/openapi.json"),
    ):
        seen.append(answer.text)
    too_long = await client.post(PATH, json=_body(Secret=SECRET * 30), headers=admin)
    assert too_long.status_code == 400
    assert too_long.json()["Errors"] == [
        {
            "AttemptedValue": None,
            "Message": "must be at most 400 characters",
            "PropertyName": "Secret",
        }
    ]
    for text in seen:
        assert SECRET not in text
    assert SECRET not in caplog.text
    async with database.engine.connect() as conn:
        sealed = await conn.scalar(select(WebHook.secret_enc).where(WebHook.id == hook_id))
    assert sealed is not None and SECRET.encode() not in sealed


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"URL": "ftp://files.example.com/in"},
            "URL",
            "must be an http:// or https:// URL with a host",
        ),
        ({"URL": "crm.example.com/hook"}, "URL", "must be an http:// or https:// URL with a host"),
        ({"URL": "https://"}, "URL", "must be an http:// or https:// URL with a host"),
        (
            {"URL": "https://a b.example.com/"},
            "URL",
            "must not contain spaces or control characters",
        ),
        ({"URL": "http://example.com:99999/"}, "URL", "must be an http:// or https:// URL"),
        (
            {"URL": "https://me:pw@example.com/"},
            "URL",
            "must not hold a user name or password; use Secret to sign instead",
        ),
        ({"URL": None}, "URL", "is a required field"),
        ({"Name": ""}, "Name", "is a required field"),
        (
            {"Action": "InvoicePaid"},
            "Action",
            "must be one of: BookingCreate, BookingUpdate, "
            "BookingDelete, CoworkerCalendarConnect, CoworkerCalendarDisconnect, "
            "CoworkerCalendarNeedsReconnect, CoworkerCalendarSyncFail",
        ),
        ({"Active": "maybe"}, "Active", "must be true or false"),
        ({"ErrorCount": 0, "Bogus": 1}, "Bogus", "is not a field of WebHook"),
    ],
)
async def test_invalid_input_is_a_400_naming_the_field(
    client: httpx2.AsyncClient,
    admin: dict[str, str],
    changes: dict[str, object],
    field: str,
    message: str,
) -> None:
    answer = await client.post(PATH, json=_body(**changes), headers=admin)
    assert answer.status_code == 400, answer.text
    errors = answer.json()["Errors"]
    assert {"PropertyName": field, "Message": message} in [
        {"PropertyName": e["PropertyName"], "Message": e["Message"]} for e in errors
    ]
    listed = (await client.get(PATH, headers=admin)).json()
    assert listed["TotalItems"] == 0


async def test_secret_is_neither_a_filter_nor_an_order(
    client: httpx2.AsyncClient, admin: dict[str, str]
) -> None:
    await create(client, admin, PATH, _body())
    by_filter = await client.get(PATH, params={"WebHook_Secret": "x"}, headers=admin)
    assert by_filter.status_code == 400
    assert by_filter.json()["Errors"][0]["PropertyName"] == "WebHook_Secret"
    by_order = await client.get(PATH, params={"orderBy": "Secret"}, headers=admin)
    assert by_order.status_code == 400
    assert by_order.json()["Errors"][0]["PropertyName"] == "orderBy"


async def test_roles(client: httpx2.AsyncClient, quick_user: MakeUser) -> None:
    assert {f"WebHook-{op}" for op in ("List", "Read", "Create", "Edit", "Delete")} <= KNOWN_ROLES
    admin = await quick_user("root@example.com", full_admin=True)
    hook_id = await create(client, admin, PATH, _body())
    assert (await client.get(PATH)).status_code == 401

    calls = {
        "List": ("GET", PATH, None),
        "Read": ("GET", f"{PATH}/{hook_id}", None),
        "Create": ("POST", PATH, _body(Name="New")),
        "Edit": ("PUT", PATH, _body(Id=hook_id, Name="Edited")),
        "Delete": ("DELETE", f"{PATH}/{hook_id}", None),
    }
    users = {
        op: await quick_user(f"{op.lower()}@example.com", roles=[f"WebHook-{op}"]) for op in calls
    }
    for op, (method, path, body) in calls.items():
        for other, headers in users.items():
            if other == op:
                continue
            refused = await client.request(method, path, json=body, headers=headers)
            assert refused.status_code == 403, (op, other)
            assert f"WebHook-{op}" in refused.json()["Message"]
    for op, (method, path, body) in calls.items():
        answer = await client.request(method, path, json=body, headers=users[op])
        assert answer.status_code == 200, (op, answer.text)
    # Another record's roles open nothing here.
    booking_admin = await quick_user(
        "bookings@example.com", roles=[f"Booking-{op}" for op in calls]
    )
    assert (await client.get(PATH, headers=booking_admin)).status_code == 403


async def test_openapi_documents_the_record(client: httpx2.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert {"get", "post", "put"} <= set(schema["paths"][PATH])
    assert {"get", "delete"} <= set(schema["paths"][PATH + "/{id}"])
    shown = schema["components"]["schemas"]["WebHook"]["properties"]
    assert "Secret" not in shown
    assert {"Name", "Action", "URL", "Active", "LastTrigger", "LastError", "ErrorCount"} <= set(
        shown
    )
    assert shown["ErrorCount"]["readOnly"] is True
    written = schema["components"]["schemas"]["WebHookCreate"]["properties"]
    assert written["Secret"]["writeOnly"] is True
    assert "ErrorCount" not in written
    params = {p["name"] for p in schema["paths"][PATH]["get"]["parameters"]}
    assert "WebHook_Action" in params and "WebHook_Secret" not in params


async def test_secrets_survive_a_key_rotation(
    client: httpx2.AsyncClient, admin: dict[str, str], database: Database
) -> None:
    from cryptography.fernet import Fernet

    from spacecal.crypto import TokenCipher
    from spacecal.db.rekey import reencrypt_tokens, reseal_webhook_secrets

    hook_id = await create(client, admin, PATH, _body())
    unsigned = await create(client, admin, PATH, _body(Secret=None))
    new_key = Fernet.generate_key().decode()
    rotating = TokenCipher([new_key, *database.cipher.keys])
    async with database.engine.begin() as conn:
        assert await reseal_webhook_secrets(conn, rotating) == 1
    # `spacecal keys reencrypt` does it with the provider tokens, in one transaction.
    newer = Fernet.generate_key().decode()
    assert await reencrypt_tokens(database.engine, TokenCipher([newer, *rotating.keys])) == 1
    new_key = newer
    async with database.engine.connect() as conn:
        sealed = await conn.scalar(select(WebHook.secret_enc).where(WebHook.id == hook_id))
        assert await conn.scalar(select(WebHook.secret_enc).where(WebHook.id == unsigned)) is None
    assert sealed is not None
    assert TokenCipher([new_key]).decrypt(sealed) == SECRET  # the old key is no longer needed
