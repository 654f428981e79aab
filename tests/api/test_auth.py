"""Authentication and roles: the token endpoint, expiry, Bearer and Basic, 401 versus
403, one role per operation, and the failed-login limiter."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx2
import pytest
from tests.support.api import create

from spacecal import clock
from spacecal.app import create_app
from spacecal.config import Settings
from spacecal.db.engine import Database

PASSWORD = "correct horse battery"  # tests/api/conftest.py
RECORDS = {
    "CoworkerGoogleCalendar": "coworkergooglecalendars",
    "CoworkerMsOfficeCalendar": "coworkermsofficecalendars",
    "Business": "businesses",
    "Resource": "resources",
    "Coworker": "coworkers",
    "Booking": "bookings",
}
OPERATIONS = ("List", "Read", "Create", "Edit", "Delete")
BAD_CREDENTIALS = {
    "error": "invalid_grant",
    "error_description": "The user name or password is incorrect.",
}


@pytest.fixture
def moved_clock() -> Iterator[None]:
    clock.clock.reset()
    yield
    clock.clock.reset()


def basic(email: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{email}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def password_grant(client: httpx2.AsyncClient, email: str, password: str) -> httpx2.Response:
    return await client.post(
        "/api/token", data={"grant_type": "password", "username": email, "password": password}
    )


def assert_unauthenticated(answer: httpx2.Response) -> None:
    assert answer.status_code == 401, answer.text
    challenge = answer.headers["WWW-Authenticate"]
    assert "Bearer" in challenge and "Basic" in challenge
    envelope = answer.json()
    assert envelope["Status"] == 401 and envelope["WasSuccessful"] is False
    assert envelope["Value"] is None and envelope["Message"]


# --- the token endpoint --------------------------------------------------------------


async def test_password_grant_answers_the_reference_shape(
    client: httpx2.AsyncClient, make_user: Any
) -> None:
    headers = await make_user("ops@example.com", full_admin=True)
    answer = await password_grant(client, "ops@example.com", PASSWORD)
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    token = answer.json()
    assert set(token) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert token["token_type"] == "bearer"
    assert token["expires_in"] == 604799
    assert token["access_token"] != token["refresh_token"]
    for auth in (headers, {"Authorization": f"Bearer {token['access_token']}"}):
        assert (await client.get("/api/spaces/businesses", headers=auth)).status_code == 200
    # The email is matched case-insensitively.
    assert (await password_grant(client, "OPS@Example.com", PASSWORD)).status_code == 200


async def test_password_grant_refusals(client: httpx2.AsyncClient, make_user: Any) -> None:
    await make_user("ops@example.com", full_admin=True)
    for email, password in (
        ("ops@example.com", "wrong password"),
        ("nobody@example.com", PASSWORD),
    ):
        answer = await password_grant(client, email, password)
        assert answer.status_code == 400
        assert answer.json() == BAD_CREDENTIALS

    json_body = await client.post(
        "/api/token",
        json={"grant_type": "password", "username": "ops@example.com", "password": PASSWORD},
    )
    assert json_body.status_code == 400
    assert json_body.json()["error"] == "unsupported_grant_type"
    for form, error in (
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
        ({"username": "ops@example.com", "password": PASSWORD}, "unsupported_grant_type"),
        ({"grant_type": "password", "username": "ops@example.com"}, "invalid_request"),
        ({"grant_type": "refresh_token"}, "invalid_request"),
        ({"grant_type": "refresh_token", "refresh_token": "made-up"}, "invalid_grant"),
    ):
        answer = await client.post("/api/token", data=form)
        assert answer.status_code == 400, form
        assert answer.json()["error"] == error, form
        assert answer.json()["error_description"]


async def test_refresh_token_works_once_and_gives_a_new_pair(
    client: httpx2.AsyncClient, make_user: Any
) -> None:
    await make_user("ops@example.com", full_admin=True)
    first = (await password_grant(client, "ops@example.com", PASSWORD)).json()
    renew = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}

    answer = await client.post("/api/token", data=renew)
    assert answer.status_code == 200, answer.text
    second = answer.json()
    assert set(second) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    bearer = {"Authorization": f"Bearer {second['access_token']}"}
    assert (await client.get("/api/spaces/businesses", headers=bearer)).status_code == 200

    again = await client.post("/api/token", data=renew)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    # Tokens are not interchangeable.
    swapped = {"grant_type": "refresh_token", "refresh_token": second["access_token"]}
    assert (await client.post("/api/token", data=swapped)).json()["error"] == "invalid_grant"
    refresh_as_bearer = {"Authorization": f"Bearer {second['refresh_token']}"}
    assert_unauthenticated(await client.get("/api/spaces/businesses", headers=refresh_as_bearer))


async def test_access_tokens_expire_and_refresh_tokens_outlive_them(
    client: httpx2.AsyncClient, make_user: Any, settings: Settings, moved_clock: None
) -> None:
    await make_user("ops@example.com", full_admin=True)
    pair = (await password_grant(client, "ops@example.com", PASSWORD)).json()
    # Never used before the jump, so the 5 s in-process bearer cache has not seen it.
    clock.clock.advance(timedelta(seconds=settings.access_token_ttl_seconds + 1))
    bearer = {"Authorization": f"Bearer {pair['access_token']}"}
    answer = await client.get("/api/spaces/businesses", headers=bearer)
    assert_unauthenticated(answer)
    assert answer.json()["Message"] == "The access token is invalid or has expired."

    renewed = await client.post(
        "/api/token", data={"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}
    )
    assert renewed.status_code == 200, renewed.text
    fresh = {"Authorization": f"Bearer {renewed.json()['access_token']}"}
    assert (await client.get("/api/spaces/businesses", headers=fresh)).status_code == 200

    # Past the refresh token's own lifetime, it is refused too.
    stale = renewed.json()["refresh_token"]
    clock.clock.advance(timedelta(seconds=settings.refresh_token_ttl_seconds + 1))
    late = await client.post(
        "/api/token", data={"grant_type": "refresh_token", "refresh_token": stale}
    )
    assert late.json()["error"] == "invalid_grant"


# --- Bearer, Basic, 401 --------------------------------------------------------------


async def test_basic_auth_works_and_wrong_credentials_are_401(
    client: httpx2.AsyncClient, make_user: Any
) -> None:
    await make_user("ops@example.com", roles=["Business-List"])
    answer = await client.get("/api/spaces/businesses", headers=basic("ops@example.com", PASSWORD))
    assert answer.status_code == 200
    for headers in (
        basic("ops@example.com", "wrong password"),
        basic("nobody@example.com", PASSWORD),
        {"Authorization": "Basic !!!not-base64!!!"},
        {"Authorization": "Basic " + base64.b64encode(b"no-colon-here").decode()},
    ):
        assert_unauthenticated(await client.get("/api/spaces/businesses", headers=headers))


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer not-a-token",
        "Token abc",
        "Digest username=x",
        "bearer",
    ],
)
async def test_missing_or_bad_credentials_are_401_with_a_challenge(
    client: httpx2.AsyncClient, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    for method, path in (
        ("GET", "/api/spaces/coworkergooglecalendars"),
        ("GET", "/api/spaces/coworkermsofficecalendars/1"),
        ("POST", "/api/spaces/bookings"),
        ("PUT", "/api/spaces/resources"),
        ("DELETE", "/api/spaces/businesses/1"),
    ):
        assert_unauthenticated(await client.request(method, path, headers=headers, json={}))


# --- roles -----------------------------------------------------------------------------


@dataclass
class World:
    targets: dict[str, int]
    spares: dict[str, int]
    bodies: dict[str, dict[str, Any]]


def _at(days: int, hhmm: str) -> str:
    zone = ZoneInfo("UTC")
    day = clock.now().astimezone(zone).date() + timedelta(days=days)
    hours, minutes = (int(x) for x in hhmm.split(":"))
    return datetime.combine(day, time(hours, minutes), tzinfo=UTC).isoformat()


@pytest.fixture
async def world(client: httpx2.AsyncClient, quick_admin: dict[str, str]) -> World:
    a = quick_admin
    business = await create(client, a, "businesses", {"Name": "B", "TimeZone": "UTC"})
    resource = await create(client, a, "resources", {"BusinessId": business, "Name": "R"})
    coworker_body = {"FullName": "Ada", "Email": "ada@example.com", "BusinessId": business}
    conn = {
        "ResourceId": resource,
        "Name": "C",
        "SubscriptionId": "s",
        "CalendarId": "c",
        "SubscriptionExpireDate": "2026-12-01T00:00:00Z",
    }
    bodies: dict[str, dict[str, Any]] = {
        "Business": {"Name": "B2", "TimeZone": "UTC"},
        "Resource": {"BusinessId": business, "Name": "R2"},
        "Coworker": coworker_body,
        "Booking": {"ResourceId": resource, "FromTime": _at(2, "10:00"), "ToTime": _at(2, "11:00")},
        "CoworkerGoogleCalendar": {**conn, "WatchResourceId": "w"},
        "CoworkerMsOfficeCalendar": conn,
    }
    targets = {"Business": business, "Resource": resource}
    spares = {
        "Business": await create(client, a, "businesses", bodies["Business"]),
        "Resource": await create(client, a, "resources", bodies["Resource"]),
    }
    for name in ("Coworker", "CoworkerGoogleCalendar", "CoworkerMsOfficeCalendar"):
        targets[name] = spares[name] = await create(client, a, RECORDS[name], bodies[name])
    booking = {"ResourceId": resource, "FromTime": _at(1, "10:00"), "ToTime": _at(1, "11:00")}
    targets["Booking"] = spares["Booking"] = await create(client, a, "bookings", booking)
    return World(targets, spares, bodies)


async def attempt(
    client: httpx2.AsyncClient, headers: dict[str, str], world: World, record: str, op: str
) -> httpx2.Response:
    base = f"/api/spaces/{RECORDS[record]}"
    if op == "List":
        return await client.get(base, headers=headers)
    if op == "Read":
        return await client.get(f"{base}/{world.targets[record]}", headers=headers)
    if op == "Create":
        # Only a full administrator names a new connection's calendar and channel
        # (records/ownership.py): a role user leaves those fields out.
        owned = {"CalendarId", "SubscriptionId", "SubscriptionExpireDate", "WatchResourceId"}
        body = {k: v for k, v in world.bodies[record].items() if k not in owned}
        return await client.post(base, json=body, headers=headers)
    if op == "Edit":
        body = {**world.bodies[record], "Id": world.targets[record]}
        if record == "Booking":
            body.update(FromTime=_at(3, "10:00"), ToTime=_at(3, "11:00"))
        return await client.put(base, json=body, headers=headers)
    assert op == "Delete"
    return await client.delete(f"{base}/{world.spares[record]}", headers=headers)


@pytest.mark.parametrize("op", OPERATIONS)
@pytest.mark.parametrize("record", list(RECORDS))
async def test_each_role_grants_exactly_its_operation(
    client: httpx2.AsyncClient, quick_user: Any, world: World, record: str, op: str
) -> None:
    role = f"{record}-{op}"
    headers = await quick_user("limited@example.com", roles=[role])
    # Refusals first: a refused Delete must not have removed what the allowed one needs.
    for other in OPERATIONS:
        if other == op:
            continue
        answer = await attempt(client, headers, world, record, other)
        assert answer.status_code == 403, (role, other, answer.text)
        assert answer.json()["Message"] == (
            f"This operation needs the {record}-{other} role "
            "(or a full unrestricted administrator)."
        )
        assert answer.json()["WasSuccessful"] is False
        assert "WWW-Authenticate" not in answer.headers
    answer = await attempt(client, headers, world, record, op)
    assert answer.status_code == 200, (role, answer.text)


async def test_get_many_needs_read_not_list(
    client: httpx2.AsyncClient, quick_user: Any, world: World
) -> None:
    path = "/api/spaces/coworkergooglecalendars"
    ids = {"id": f"[{world.targets['CoworkerGoogleCalendar']}]"}
    lister = await quick_user("lister@example.com", roles=["CoworkerGoogleCalendar-List"])
    reader = await quick_user("reader@example.com", roles=["CoworkerGoogleCalendar-Read"])
    assert (await client.get(path, params=ids, headers=lister)).status_code == 403
    answer = await client.get(path, params=ids, headers=reader)
    assert answer.status_code == 200 and len(answer.json()) == 1
    # A role on one record grants nothing on another, Google or Microsoft alike.
    other = await client.get("/api/spaces/coworkermsofficecalendars", headers=lister)
    assert other.status_code == 403


# --- the failed-login limiter ------------------------------------------------------------


@pytest.fixture
async def two_addresses(
    clean: None, settings: Settings, database: Database
) -> AsyncIterator[tuple[httpx2.AsyncClient, httpx2.AsyncClient]]:
    """Two clients at different addresses talking to one app (one limiter)."""
    app = create_app(settings, database)
    first = httpx2.ASGITransport(app=app, client=("203.0.113.1", 1000))
    second = httpx2.ASGITransport(app=app, client=("203.0.113.2", 1000))
    async with (
        httpx2.AsyncClient(transport=first, base_url="http://spacecal.test") as a,
        httpx2.AsyncClient(transport=second, base_url="http://spacecal.test") as b,
    ):
        yield a, b


def assert_limited(answer: httpx2.Response) -> None:
    assert answer.status_code == 429, answer.text
    assert int(answer.headers["Retry-After"]) >= 1


async def test_failed_logins_are_limited_per_account_and_address(
    two_addresses: tuple[httpx2.AsyncClient, httpx2.AsyncClient],
    database: Database,
    settings: Settings,
) -> None:
    from spacecal.api.users import create_user

    a, b = two_addresses
    await create_user(database.engine, "ops@example.com", PASSWORD, [], True, settings)
    for n in range(settings.login_max_failures):
        answer = await password_grant(a, "ops@example.com", "wrong password")
        assert answer.json() == BAD_CREDENTIALS, n
    # Now even the right password is refused from that address, and by Basic...
    limited = await password_grant(a, "ops@example.com", PASSWORD)
    assert_limited(limited)
    assert limited.json()["error"] == "invalid_grant"
    assert_limited(
        await a.get("/api/spaces/businesses", headers=basic("ops@example.com", PASSWORD))
    )
    # ...but not from an address with no failures of its own (issue 17 item 6).
    assert (await password_grant(b, "ops@example.com", PASSWORD)).status_code == 200
    answer = await b.get("/api/spaces/businesses", headers=basic("ops@example.com", PASSWORD))
    assert answer.status_code == 200


async def test_failed_logins_are_limited_per_address(
    two_addresses: tuple[httpx2.AsyncClient, httpx2.AsyncClient],
    database: Database,
    settings: Settings,
) -> None:
    from spacecal.api.users import create_user

    a, b = two_addresses
    await create_user(database.engine, "ops@example.com", PASSWORD, [], True, settings)
    for n in range(settings.login_address_max_failures):
        headers = basic(f"guess{n}@example.com", "wrong password")
        assert_unauthenticated(await a.get("/api/spaces/businesses", headers=headers))
    assert_limited(await password_grant(a, "ops@example.com", PASSWORD))
    assert_limited(
        await a.get("/api/spaces/businesses", headers=basic("ops@example.com", PASSWORD))
    )
    # The other address may still sign in.
    assert (await password_grant(b, "ops@example.com", PASSWORD)).status_code == 200
