"""Roles on every route: one generated test per API route x principal.

The routes come from the app itself, so a route added without being classified here
fails `test_every_route_is_classified`. Principals: anonymous, a user with no role,
a user holding each single role that exists (all 30, across every record), and a full
administrator. Expected: anonymous 401; the route's own role or full admin 200; any
other role 403 with nothing changed (the target row, the row count, the issued links).
tests/api/test_auth.py checks the exact refusal messages per record; this file checks
the whole matrix, aliases and the sign-in-link route included.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx2
import pytest
from cryptography.fernet import Fernet
from fastapi.routing import APIRoute
from sqlalchemy import func, select
from starlette.routing import Mount, Route
from tests.support.api import insert_api_user_in
from tests.support.database import reset_database
from tests.support.routes import _leaves

from spacecal import clock
from spacecal.api.users import KNOWN_ROLES
from spacecal.app import create_app
from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.db.models import MemberSignInLink

RECORD_OF_PATH = {  # written out, not derived from the RecordSpecs under test
    "coworkergooglecalendars": "CoworkerGoogleCalendar",
    "coworkermsofficecalendars": "CoworkerMsOfficeCalendar",
    "coworkermsoffecalendars": "CoworkerMsOfficeCalendar",
    "coworkercaldavcalendars": "CoworkerCalDavCalendar",
    "businesses": "Business",
    "resources": "Resource",
    "coworkers": "Coworker",
    "bookings": "Booking",
    "webhooks": "WebHook",  # under /api/sys (spacecal.outbound)
}
PREFIX_OF_RECORD = {"WebHook": "/api/sys"}  # the others live under /api/spaces
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("POST", "/api/token"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
}
WEBHOOKS = {"/webhooks/google", "/webhooks/microsoft", "/webhooks/microsoft/lifecycle"}


@dataclass(frozen=True)
class ApiCall:
    method: str
    path: str  # the route's path; {id} is filled in
    role: str
    get_many: bool = False

    @property
    def record(self) -> str:
        return RECORD_OF_PATH[self.path.split("/")[3]]

    def __str__(self) -> str:
        return f"{self.method} {self.path}{'?id=[..]' if self.get_many else ''}"


def _offline_app() -> Any:
    settings = Settings(database_url="postgresql://u/u", secret_keys=Fernet.generate_key().decode())
    return create_app(settings)


def classify(method: str, path: str) -> ApiCall | str:
    """The role an API route needs, or why it needs none."""
    if (method, path) in PUBLIC:
        return "public"
    if path in WEBHOOKS:
        return "webhook: verified by channel token / clientState (test_webhook_input.py)"
    if path == "/portal" or path.startswith("/portal/"):
        return "portal: member session (test_portal_security.py)"
    if path == "/admin" or path.startswith("/admin/"):
        return "admin console: API user session and roles (tests/admin/)"
    parts = path.split("/")
    if path.startswith(("/api/spaces/", "/api/sys/")) and parts[3] in RECORD_OF_PATH:
        record = RECORD_OF_PATH[parts[3]]
        if path.endswith("/{id}/signinlink") and method == "POST" and record == "Coworker":
            return ApiCall(method, path, "Coworker-Edit")
        item = path.endswith("/{id}")
        op = {
            ("GET", False): "List",
            ("GET", True): "Read",
            ("POST", False): "Create",
            ("PUT", False): "Edit",
            ("DELETE", True): "Delete",
        }.get((method, item))
        if op is not None and len(parts) == (5 if item else 4):
            return ApiCall(method, path, f"{record}-{op}")
    raise AssertionError(f"unclassified route {method} {path}: decide who may call it")


def _routes() -> list[tuple[str, str]]:
    found = []
    for route in _leaves(_offline_app().routes):
        if isinstance(route, Mount):
            # Static files only: the portal's styles, the API docs' scripts (api/docs.py).
            assert route.path in ("/portal/static", "/docs/assets"), route.path
            continue
        assert isinstance(route, APIRoute | Route), route
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                found.append((method, route.path))
    return found


ROUTES = _routes()
API_CALLS = [c for m, p in ROUTES if isinstance(c := classify(m, p), ApiCall)]
API_CALLS += [
    ApiCall("GET", c.path, c.role.replace("-List", "-Read"), get_many=True)
    for c in API_CALLS
    if c.method == "GET" and not c.path.endswith("{id}")
]
PRINCIPALS = ["anonymous", "no-role", *sorted(KNOWN_ROLES), "full-admin"]


def test_every_route_is_classified() -> None:
    kinds = [classify(m, p) for m, p in ROUTES]
    assert len([k for k in kinds if isinstance(k, ApiCall)]) == 9 * 5 + 1
    assert sum(1 for k in kinds if isinstance(k, str) and k.startswith("portal")) >= 8
    assert {m for m, _ in ROUTES} <= {"GET", "POST", "PUT", "DELETE"}


@dataclass
class World:
    client: httpx2.AsyncClient
    db: Database
    headers: dict[str, dict[str, str]]
    ids: dict[str, int]
    counter: itertools.count[int]

    def admin(self) -> dict[str, str]:
        return self.headers["full-admin"]


def _day(days: int, hour: int) -> str:
    day = clock.now().date() + timedelta(days=days)
    return datetime.combine(day, time(hour), tzinfo=UTC).isoformat()


async def _users(db: Database) -> dict[str, dict[str, str]]:
    headers: dict[str, dict[str, str]] = {"anonymous": {}}
    async with db.engine.begin() as conn:
        for n, who in enumerate(PRINCIPALS[1:]):
            headers[who] = await insert_api_user_in(
                conn,
                "unused",
                f"user{n}@example.com",
                roles=[who] if who in KNOWN_ROLES else [],
                full_admin=who == "full-admin",
                token_days=1,
            )
    return headers


@pytest.fixture(scope="module")
async def world(settings: Settings, database: Database) -> AsyncIterator[World]:
    await reset_database(database.engine)
    headers = await _users(database)
    app = create_app(settings, database)
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app), base_url="http://spacecal.test"
    ) as client:
        w = World(client, database, headers, {}, itertools.count(1))
        w.ids["Business"] = await create(w, "Business")
        w.ids["Resource"] = await create(w, "Resource")
        for record in (
            "Coworker",
            "Booking",
            "CoworkerGoogleCalendar",
            "CoworkerMsOfficeCalendar",
            "CoworkerCalDavCalendar",
            "WebHook",
        ):
            w.ids[record] = await create(w, record)
        yield w


def body(w: World, record: str) -> dict[str, Any]:
    n = next(w.counter)
    connection = {
        "ResourceId": w.ids.get("Resource"),
        "Name": f"Calendar {n}",
        "SubscriptionId": f"s{n}",
        "CalendarId": f"c{n}",
        "SubscriptionExpireDate": "2026-12-01T00:00:00Z",
    }
    return {
        "Business": {"Name": f"B{n}", "TimeZone": "UTC"},
        "Resource": {"BusinessId": w.ids.get("Business"), "Name": f"R{n}"},
        "Coworker": {
            "FullName": f"C{n}",
            "Email": f"c{n}@example.com",
            "BusinessId": w.ids.get("Business"),
        },
        # One hour a booking, each on its own hour: never two on one slot.
        "Booking": {
            "ResourceId": w.ids.get("Resource"),
            "FromTime": _day(1 + n // 20, n % 20),
            "ToTime": _day(1 + n // 20, n % 20 + 1),
        },
        "CoworkerGoogleCalendar": {**connection, "WatchResourceId": f"w{n}"},
        "CoworkerMsOfficeCalendar": connection,
        "CoworkerCalDavCalendar": {
            "ResourceId": w.ids.get("Resource"),
            "Name": f"Calendar {n}",
            "CalendarId": f"https://dav.example.com/cal/{n}/",
            "ServerUrl": "https://dav.example.com",
            "Username": f"u{n}",
        },
        "WebHook": {
            "Name": f"H{n}",
            "Action": "BookingUpdate",
            "URL": f"https://hooks.example.com/{n}",
            "Secret": f"hook-secret-{n}",
        },
    }[record]


PATHS = {  # record -> main path
    v: f"{PREFIX_OF_RECORD.get(v, '/api/spaces')}/{k}" for k, v in reversed(RECORD_OF_PATH.items())
}


async def create(w: World, record: str) -> int:
    answer = await w.client.post(PATHS[record], json=body(w, record), headers=w.admin())
    assert answer.status_code == 200, answer.text
    return int(answer.json()["Value"]["Id"])


# Only a full administrator may set a connection's provider-owned fields
# (records/ownership.py; tests/security/test_connection_fields.py): role users leave them out.
PROVIDER_OWNED = {
    "CalendarId",
    "SubscriptionId",
    "SubscriptionExpireDate",
    "WatchResourceId",
    "ServerUrl",
    "Username",
}


async def send(
    w: World, call: ApiCall, headers: dict[str, str], target: int, *, admin: bool = False
) -> httpx2.Response:
    path = call.path.replace("{id}", str(target))
    if call.get_many:
        return await w.client.get(path, params={"id": f"[{target}]"}, headers=headers)
    if call.method in ("GET", "DELETE"):
        return await w.client.request(call.method, path, headers=headers)
    if call.path.endswith("signinlink"):
        return await w.client.post(path, headers=headers)
    payload = body(w, call.record)
    if not admin:
        payload = {k: v for k, v in payload.items() if k not in PROVIDER_OWNED}
    if call.method == "PUT":
        payload["Id"] = target
    return await w.client.request(call.method, path, json=payload, headers=headers)


async def snapshot(w: World, call: ApiCall, target: int) -> Any:
    """What a wrongly allowed call would change."""
    if call.path.endswith("signinlink"):
        async with w.db.engine.connect() as conn:
            return await conn.scalar(select(func.count()).select_from(MemberSignInLink))
    main = PATHS[call.record]
    one = await w.client.get(f"{main}/{target}", headers=w.admin())
    count = await w.client.get(main, headers=w.admin())
    return one.status_code, one.json(), count.json()["TotalItems"]


@pytest.mark.parametrize("who", PRINCIPALS)
@pytest.mark.parametrize("call", API_CALLS, ids=str)
async def test_route_role(world: World, call: ApiCall, who: str) -> None:
    w = world
    allowed = who in (call.role, "full-admin")
    # Mutations that are allowed get a fresh target of their own; refused ones aim at
    # the shared row, so a missing check would visibly change it.
    target = w.ids[call.record]
    if allowed and call.method == "DELETE":
        target = await create(w, call.record)
    before = await snapshot(w, call, target)
    answer = await send(w, call, w.headers[who], target, admin=who == "full-admin")
    if who == "anonymous":
        assert answer.status_code == 401, answer.text
        assert "Bearer" in answer.headers["WWW-Authenticate"]
    elif allowed:
        assert answer.status_code == 200, answer.text
        return
    else:
        assert answer.status_code == 403, answer.text
        assert answer.json()["Message"].startswith(f"This operation needs the {call.role} role")
    assert await snapshot(w, call, target) == before
