"""The fast get-one path (api/get_one.py) answers exactly as the FastAPI route does.

Two apps on one database: the default one (fast path on) and one with
`api_fast_get_one=False` (get-one through the FastAPI route). Every request of a
matrix of record paths x ids x principals must get the same status, headers and body
bytes from both. Then what the fast path adds: concurrent reads share queries, a
request sees writes committed before it, and a failed query fails its waiters only.
"""

from __future__ import annotations

import asyncio
from base64 import b64encode
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx2
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy import BigInteger, Column, MetaData, Table, text
from tests.support.api import create
from tests.support.api_env import PASSWORD, MakeUser

from spacecal.api.batching import CoalescedReads
from spacecal.api.get_one import GetOneFastPath
from spacecal.app import create_app
from spacecal.config import Settings
from spacecal.db.engine import Database, make_engine
from spacecal.records.connections import GOOGLE_CALENDARS
from spacecal.records.spec import RecordSpec

PATHS = ("coworkergooglecalendars", "coworkermsofficecalendars", "coworkermsoffecalendars")


@pytest.fixture
async def generic(
    clean: None, settings: Settings, database: Database
) -> AsyncIterator[httpx2.AsyncClient]:
    """The same app with get-one served by the FastAPI route (the reference)."""
    app = create_app(settings.model_copy(update={"api_fast_get_one": False}), database)
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://spacecal.test") as c:
        yield c


@pytest.fixture
async def fast_app(clean: None, settings: Settings, database: Database) -> FastAPI:
    return create_app(settings, database)


@pytest.fixture
async def fast(fast_app: FastAPI) -> AsyncIterator[httpx2.AsyncClient]:
    """The default app: get-one on the fast path."""
    transport = httpx2.ASGITransport(app=fast_app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://spacecal.test") as c:
        yield c


def _queries(app: FastAPI) -> int:
    """Queries the fast path's readers ran so far (0 if it never served a request)."""
    node: Any = app.middleware_stack
    while node is not None and not isinstance(node, GetOneFastPath):
        node = getattr(node, "app", None)
    return sum(r.queries for r in node.readers().values()) if node is not None else 0


def _basic(email: str, password: str = PASSWORD) -> dict[str, str]:
    return {"Authorization": "Basic " + b64encode(f"{email}:{password}".encode()).decode()}


async def _seed(
    client: httpx2.AsyncClient, admin: dict[str, str], database: Database
) -> dict[str, int]:
    """A Google and a Microsoft record with every computed field non-trivial (a member,
    an account that needs reconnecting, a failing health with its error), and a Google
    record with nothing optional set."""
    business = await create(
        client, admin, "businesses", {"Name": "Riverside", "TimeZone": "Europe/London"}
    )
    resource = await create(
        client, admin, "resources", {"BusinessId": business, "Name": "Meeting Room A"}
    )
    coworker = await create(
        client,
        admin,
        "coworkers",
        {"FullName": "Ada Lovelace · ☕", "Email": "ada@example.com", "BusinessId": business},
    )
    now = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    async with database.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO provider_accounts (coworker_id, provider, scopes, status,"
                " created_at, updated_at) VALUES (:c, 'microsoft', '{}', 'needs_reconnect',"
                " :now, :now)"
            ),
            {"c": coworker, "now": now},
        )
    common = {
        "ResourceId": resource,
        "SubscriptionId": "sub-1",
        "CalendarId": "cal-1",
        "SubscriptionExpireDate": "2026-12-01T10:30:00.250Z",
    }
    google = await create(
        client,
        admin,
        "coworkergooglecalendars",
        {
            **common,
            "CoworkerId": coworker,
            "Name": 'Room "A" · Riverside',
            "WatchResourceId": "res-1",
            "EventSyncToken": "sync-token-1",
            "SystemId": "ext-7",
        },
    )
    bare = await create(
        client,
        admin,
        "coworkergooglecalendars",
        {**common, "Name": "Desk 4", "WatchResourceId": "res-2"},
    )
    office = await create(
        client,
        admin,
        "coworkermsofficecalendars",
        {**common, "CoworkerId": coworker, "Name": "Meeting Room A · Office"},
    )
    async with database.engine.begin() as conn:
        await conn.execute(
            text("UPDATE connections SET health = 'failing', last_error = :e WHERE id = :id"),
            {"e": "Microsoft said: token revoked", "id": office},
        )
    return {"google": google, "bare": bare, "office": office}


async def _same(
    fast: httpx2.AsyncClient, generic: httpx2.AsyncClient, url: str, headers: dict[str, str]
) -> int:
    headers = {**headers, "X-Request-ID": "parity-1"}  # both echo it (spacecal.logs)
    a = await fast.get(url, headers=headers)
    b = await generic.get(url, headers=headers)
    assert a.status_code == b.status_code, (url, headers, a.text, b.text)
    assert a.content == b.content, (url, headers)
    assert a.headers.multi_items() == b.headers.multi_items(), (url, headers)
    assert a.headers["x-request-id"] == "parity-1"
    return a.status_code


async def test_fast_and_generic_answer_the_same_bytes(
    fast_app: FastAPI,
    fast: httpx2.AsyncClient,
    generic: httpx2.AsyncClient,
    quick_user: MakeUser,
    database: Database,
) -> None:
    admin = await quick_user("admin@example.com", full_admin=True)
    ids = await _seed(fast, admin, database)
    principals: dict[str, dict[str, str]] = {
        "anonymous": {},
        "unknown scheme": {"Authorization": "Token abc"},
        "empty bearer": {"Authorization": "Bearer "},
        "unknown bearer": {"Authorization": "Bearer not-a-token"},
        "basic not base64": {"Authorization": "Basic !!!"},
        "basic without colon": {"Authorization": "Basic " + b64encode(b"ada").decode()},
        "full admin": admin,
        "google reader": await quick_user(
            "greader@example.com", roles=["CoworkerGoogleCalendar-Read"]
        ),
        "google lister only": await quick_user(
            "glister@example.com", roles=["CoworkerGoogleCalendar-List"]
        ),
        "office reader": await quick_user(
            "oreader@example.com", roles=["CoworkerMsOfficeCalendar-Read"]
        ),
        "no roles": await quick_user("nobody@example.com"),
        "google reader, Basic": _basic("greader@example.com"),
        "office reader, Basic, mixed case scheme": {
            "authorization": _basic("oreader@example.com")["Authorization"].replace(
                "Basic", "bAsIc"
            )
        },
    }
    raw_ids = [
        str(ids["google"]),
        str(ids["bare"]),
        str(ids["office"]),
        "999999",  # no such record
        "abc",
        "0",
        "-3",
        "1.5",
        "%205",  # " 5"
        "%EF%BC%92",  # a full-width digit two
        "2147483648",  # past int4
        "9223372036854775807",
        "99999999999999999999999",
    ]
    seen: set[int] = set()
    for who, headers in principals.items():
        for path in PATHS:
            for raw in raw_ids:
                seen.add(await _same(fast, generic, f"/api/spaces/{path}/{raw}", headers))
    assert seen == {200, 400, 401, 403, 404}
    # Not ids, or not get-one: both apps leave these to routing.
    for url in (
        "/api/spaces/coworkergooglecalendars/",
        f"/api/spaces/coworkergooglecalendars/{ids['google']}/",
        f"/api/spaces/coworkergooglecalendars/{ids['google']}/x",
        "/api/spaces/CoworkerGoogleCalendars/1",
        "/api/spaces/nosuchrecords/1",
        f"/api/spaces/coworkergooglecalendars/{ids['google']}?extra=1",
    ):
        await _same(fast, generic, url, admin)
    # The default app answered through the fast path.
    assert _queries(fast_app) > 0
    # One read with a wrong password, per app (each counts it towards the limiter).
    await _same(
        fast,
        generic,
        f"/api/spaces/coworkergooglecalendars/{ids['google']}",
        _basic("greader@example.com", "wrong password"),
    )


async def test_what_the_record_says(
    client: httpx2.AsyncClient, quick_admin: dict[str, str], database: Database
) -> None:
    """The documented shape, not only agreement between two paths."""
    ids = await _seed(client, quick_admin, database)
    office = await client.get(
        f"/api/spaces/coworkermsofficecalendars/{ids['office']}", headers=quick_admin
    )
    assert office.status_code == 200
    record = office.json()
    assert record["CoworkerFullName"] == "Ada Lovelace · ☕"
    assert record["NeedsReconnect"] is True
    assert record["Health"] == "failing"
    assert record["LastError"] == "Microsoft said: token revoked"
    assert record["SubscriptionExpireDate"] == "2026-12-01T10:30:00.250000Z"
    assert record["IsNew"] is True  # never updated through the API
    assert "WatchResourceId" not in record
    google = (
        await client.get(
            f"/api/spaces/coworkergooglecalendars/{ids['google']}", headers=quick_admin
        )
    ).json()
    assert google["SystemId"] == "ext-7"
    assert google["ToStringText"] == 'Room "A" · Riverside'
    assert google["NeedsReconnect"] is False  # the account is Microsoft's
    assert set(google) - set(record) == {"WatchResourceId", "EventSyncToken"}
    # The other provider's record is not found under this path.
    wrong = await client.get(
        f"/api/spaces/coworkergooglecalendars/{ids['office']}", headers=quick_admin
    )
    assert wrong.status_code == 404
    assert wrong.json() == {
        "Status": 404,
        "Message": f"CoworkerGoogleCalendar with Id {ids['office']} was not found.",
        "Value": None,
        "WasSuccessful": False,
        "Errors": None,
    }
    anonymous = await client.get(f"/api/spaces/coworkergooglecalendars/{ids['google']}")
    assert anonymous.status_code == 401
    assert "Bearer" in anonymous.headers["www-authenticate"]


async def test_concurrent_reads_share_queries_and_answer_each_request(
    fast_app: FastAPI,
    fast: httpx2.AsyncClient,
    generic: httpx2.AsyncClient,
    quick_admin: dict[str, str],
    database: Database,
) -> None:
    ids = await _seed(fast, quick_admin, database)
    urls = [
        f"/api/spaces/coworkergooglecalendars/{ids['google']}",
        f"/api/spaces/coworkergooglecalendars/{ids['bare']}",
        f"/api/spaces/coworkergooglecalendars/{ids['office']}",  # other provider: 404
        "/api/spaces/coworkergooglecalendars/424242",  # missing: 404
        f"/api/spaces/coworkermsofficecalendars/{ids['office']}",
    ] * 10
    await fast.get(urls[0], headers=quick_admin)  # the token is checked once, then cached
    before = _queries(fast_app)
    answers = await asyncio.gather(*(fast.get(u, headers=quick_admin) for u in urls))
    queries = _queries(fast_app) - before
    assert 2 <= queries < len(urls) // 2, queries  # 50 requests, a few queries
    for url, answer in zip(urls, answers, strict=True):
        reference = await generic.get(url, headers=quick_admin)
        assert (answer.status_code, answer.content) == (reference.status_code, reference.content)
    assert [a.status_code for a in answers[:5]] == [200, 200, 404, 404, 200]


async def test_a_read_sees_writes_committed_before_it(
    client: httpx2.AsyncClient, quick_admin: dict[str, str], database: Database
) -> None:
    ids = await _seed(client, quick_admin, database)
    url = f"/api/spaces/coworkergooglecalendars/{ids['bare']}"
    before = (await client.get(url, headers=quick_admin)).json()
    for n in range(5):
        burst = [asyncio.ensure_future(client.get(url, headers=quick_admin)) for _ in range(8)]
        body = {k: before[k] for k in ("ResourceId", "SubscriptionId", "CalendarId")}
        body |= {
            "Id": ids["bare"],
            "Name": f"Desk 4, take {n}",
            "SubscriptionExpireDate": before["SubscriptionExpireDate"],
            "WatchResourceId": "res-2",
        }
        put = await client.put(
            "/api/spaces/coworkergooglecalendars", json=body, headers=quick_admin
        )
        assert put.status_code == 200, put.text
        after = await client.get(url, headers=quick_admin)
        assert after.json()["Name"] == f"Desk 4, take {n}"
        await asyncio.gather(*burst)


async def test_a_failed_query_fails_its_waiters_and_the_next_read_works(
    database: Database,
) -> None:
    """A real failure: the table does not exist yet. Then it does."""
    probe = Table("get_one_probe", MetaData(), Column("id", BigInteger, primary_key=True))
    spec = RecordSpec(name="Probe", path="probes", table=probe, fields=())
    reads = CoalescedReads(database.reads, spec, lanes=1)
    async with database.engine.begin() as conn:
        await conn.execute(text("DROP TABLE IF EXISTS get_one_probe"))
    results = await asyncio.gather(*(reads.get(i) for i in (1, 2, 3, 1)), return_exceptions=True)
    assert all(isinstance(r, psycopg.errors.UndefinedTable) for r in results), results
    async with database.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE get_one_probe (id bigint PRIMARY KEY)"))
        await conn.execute(text("INSERT INTO get_one_probe VALUES (1), (3)"))
    try:
        rows = await asyncio.gather(*(reads.get(i) for i in (1, 2, 3)))
        assert [row["id"] if row else None for row in rows] == [1, None, 3]
    finally:
        async with database.engine.begin() as conn:
            await conn.execute(text("DROP TABLE get_one_probe"))


async def test_a_read_after_the_connection_died_gets_a_new_one(
    settings: Settings, database: Database
) -> None:
    """Its own one-connection pool, so the rest of the session keeps healthy ones."""
    assert settings.database_url is not None
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        reads = CoalescedReads(
            engine.execution_options(isolation_level="AUTOCOMMIT"), GOOGLE_CALENDARS, lanes=1
        )
        assert await reads.get(10**12) is None
        async with engine.connect() as conn:  # the pool's only connection: the lane's
            pid = await conn.scalar(text("SELECT pg_backend_pid()"))
        async with database.engine.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(psycopg.OperationalError):
            await reads.get(10**12)
        assert await reads.get(10**12) is None
    finally:
        await engine.dispose()
