"""Deliveries: every action reaches a real receiver on loopback, signed with its
webhook's secret, holding the record as the API shows it at the change; nothing is
sent for a change that rolled back; a receiver that keeps failing gets retries, then
the webhook is turned off and says why."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta
from typing import Any

import httpx2
import pytest
from sqlalchemy import insert, text, update

from hooks.conftest import Receiver, RunWorker, create, outbound_jobs
from spacecal import clock
from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.db.models import Booking, Connection, ProviderAccount
from spacecal.failures import Loop, backoff
from spacecal.outbound.delivery import deliver
from spacecal.outbound.signing import SIGNATURE_HEADER, verify
from spacecal.providers.guard import guarded_client
from spacecal.sync.tokens import mark_needs_reconnect

HOOKS = "/api/sys/webhooks"
ACTIONS = (
    "BookingCreate",
    "BookingUpdate",
    "BookingDelete",
    "CoworkerCalendarConnect",
    "CoworkerCalendarDisconnect",
    "CoworkerCalendarNeedsReconnect",
    "CoworkerCalendarSyncFail",
)


def _secret(action: str) -> str:
    return f"secret-for-{action}-0d5e"


async def _hook(
    client: httpx2.AsyncClient,
    admin: dict[str, str],
    receiver: Receiver,
    action: str,
    *,
    name: str | None = None,
    url: str | None = None,
    secret: str | None = None,
) -> int:
    return await create(
        client,
        admin,
        HOOKS,
        {
            "Name": f"{action} hook",
            "Action": action,
            "URL": url or receiver.url(name or action),
            "Secret": secret or _secret(action),
        },
    )


async def _space(client: httpx2.AsyncClient, admin: dict[str, str]) -> dict[str, int]:
    business = await create(
        client, admin, "/api/spaces/businesses", {"Name": "Riverside", "TimeZone": "UTC"}
    )
    resource = await create(
        client,
        admin,
        "/api/spaces/resources",
        {"BusinessId": business, "Name": "Meeting Room A"},
    )
    coworker = await create(
        client,
        admin,
        "/api/spaces/coworkers",
        {"BusinessId": business, "FullName": "Ada Lovelace", "Email": "ada@example.com"},
    )
    return {"business": business, "resource": resource, "coworker": coworker}


def _slot(days: int = 2, hour: int = 10) -> tuple[str, str]:
    day = (clock.now() + timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)
    return day.isoformat(), (day + timedelta(hours=1)).isoformat()


async def _book(client: httpx2.AsyncClient, admin: dict[str, str], space: dict[str, int]) -> int:
    start, end = _slot()
    return await create(
        client,
        admin,
        "/api/spaces/bookings",
        {
            "ResourceId": space["resource"],
            "CoworkerId": space["coworker"],
            "FromTime": start,
            "ToTime": end,
        },
    )


def _received(receiver: Receiver, name: str) -> list[dict[str, Any]]:
    """The records a hook received, each checked: one record in an array, signed."""
    records = []
    for call in receiver.to(name):
        assert call.headers["content-type"].startswith("application/json")
        assert verify(call.body, _secret(name), call.headers[SIGNATURE_HEADER.lower()]), name
        assert call.headers[SIGNATURE_HEADER.lower()].isupper()
        body = json.loads(call.body)
        assert isinstance(body, list) and len(body) == 1
        records.append(body[0])
    return records


async def test_every_action_is_delivered_signed_with_the_record_at_the_change(
    client: httpx2.AsyncClient,
    admin: dict[str, str],
    receiver: Receiver,
    work: RunWorker,
    database: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    hooks = {action: await _hook(client, admin, receiver, action) for action in ACTIONS}
    space = await _space(client, admin)

    # Bookings through the API: created, moved, cancelled (a second DELETE changes
    # nothing and announces nothing).
    booking = await _book(client, admin, space)
    as_created = (await client.get(f"/api/spaces/bookings/{booking}", headers=admin)).json()
    start, end = _slot(hour=14)
    moved = {**as_created, "FromTime": start, "ToTime": end, "Notes": "moved"}
    assert (await client.put("/api/spaces/bookings", json=moved, headers=admin)).status_code == 200
    as_moved = (await client.get(f"/api/spaces/bookings/{booking}", headers=admin)).json()
    for _ in range(2):
        deleted = await client.delete(f"/api/spaces/bookings/{booking}", headers=admin)
        assert deleted.status_code == 200
    as_cancelled = (await client.get(f"/api/spaces/bookings/{booking}", headers=admin)).json()

    # A connection: made (plain data, health "new"), then the sync engine's writes.
    async with database.engine.begin() as conn:
        account = await conn.scalar(
            insert(ProviderAccount)
            .values(
                coworker_id=space["coworker"],
                provider="google",
                email="ada@example.com",
                scopes=[],
                status="active",
                created_at=clock.now(),
                updated_at=clock.now(),
            )
            .returning(ProviderAccount.id)
        )
    assert account is not None
    calendar = await create(
        client,
        admin,
        "/api/spaces/coworkergooglecalendars",
        {
            "ResourceId": space["resource"],
            "CoworkerId": space["coworker"],
            "Name": "Meeting Room A · Riverside",
            "SubscriptionId": "chan-1",
            "CalendarId": "cal-1@group.calendar.google.com",
            "SubscriptionExpireDate": (clock.now() + timedelta(days=7)).isoformat(),
            "WatchResourceId": "watch-1",
        },
    )
    await _set_health(database, calendar, "provisioning")
    await _set_health(database, calendar, "healthy")  # connected
    as_connected = (
        await client.get(f"/api/spaces/coworkergooglecalendars/{calendar}", headers=admin)
    ).json()
    # Fields read from other records (NeedsReconnect: the account) are read when the
    # delivery is rendered, so deliver now, as a running worker would within moments.
    await work()
    await _set_health(database, calendar, "failing", "HTTPError: 500 from Google")
    await _set_health(database, calendar, "failing", "still failing")  # no new transition
    await _set_health(database, calendar, "healthy")  # recovered: not a new connection
    await mark_needs_reconnect(database.engine, account, "invalid_grant")
    as_reconnect = (
        await client.get(f"/api/spaces/coworkergooglecalendars/{calendar}", headers=admin)
    ).json()
    gone = await client.delete(f"/api/spaces/coworkergooglecalendars/{calendar}", headers=admin)
    assert gone.status_code == 200

    assert len(await outbound_jobs(database)) == 7
    await work()

    assert _received(receiver, "BookingCreate") == [as_created]
    assert _received(receiver, "BookingUpdate") == [as_moved]
    assert _received(receiver, "BookingDelete") == [as_cancelled]
    assert as_cancelled["CancelledOn"] is not None
    assert _received(receiver, "CoworkerCalendarConnect") == [as_connected]
    [failing] = _received(receiver, "CoworkerCalendarSyncFail")
    assert (failing["Id"], failing["Health"], failing["LastError"]) == (
        calendar,
        "failing",
        "HTTPError: 500 from Google",
    )
    [reconnect] = _received(receiver, "CoworkerCalendarNeedsReconnect")
    assert reconnect == as_reconnect
    assert reconnect["NeedsReconnect"] is True
    # The deleted record, as it was: rendered from the trigger's snapshot.
    [disconnected] = _received(receiver, "CoworkerCalendarDisconnect")
    assert disconnected == as_reconnect
    assert "delta_link" not in json.dumps(disconnected)

    for action, hook_id in hooks.items():
        record = (await client.get(f"{HOOKS}/{hook_id}", headers=admin)).json()
        assert record["ErrorCount"] == 0 and record["Active"] is True, action
        assert record["LastTrigger"] is not None, action
    for action in ACTIONS:
        assert _secret(action) not in caplog.text


async def _set_health(
    database: Database, connection_id: int, health: str, error: str | None = None
) -> None:
    """What the sync engine writes (reconcile, provisioning, keep-alive)."""
    async with database.engine.begin() as conn:
        await conn.execute(
            update(Connection)
            .where(Connection.id == connection_id)
            .values(health=health, last_error=error)
        )


async def test_any_writer_is_covered_and_a_rolled_back_change_sends_nothing(
    client: httpx2.AsyncClient,
    admin: dict[str, str],
    receiver: Receiver,
    work: RunWorker,
    database: Database,
) -> None:
    await _hook(client, admin, receiver, "BookingCreate")
    space = await _space(client, admin)
    start, end = _slot()
    row = {
        "resource_id": space["resource"],
        "coworker_id": space["coworker"],
        "from_time": start,
        "to_time": end,
        "source": "google",  # as the sync commit writes it
        "version": 1,
        "unique_id": uuid.uuid4(),
        "created_on": clock.now(),
        "updated_on": clock.now(),
    }
    async with database.engine.connect() as conn:
        transaction = await conn.begin()
        await conn.execute(insert(Booking).values(**row))
        assert len(await _jobs_in(conn)) == 1  # deferred with the change...
        await transaction.rollback()
    assert await outbound_jobs(database) == []  # ...and gone with it

    # The API refuses an overlapping booking: nothing is announced for it either.
    await _book(client, admin, space)
    overlapping = {
        "ResourceId": space["resource"],
        "FromTime": start,
        "ToTime": end,
    }
    refused = await client.post("/api/spaces/bookings", json=overlapping, headers=admin)
    assert refused.status_code == 400
    assert len(await outbound_jobs(database)) == 1

    async with database.engine.begin() as conn:  # a committed raw write is announced
        await conn.execute(
            insert(Booking).values(
                **{
                    **row,
                    "from_time": _slot(3)[0],
                    "to_time": _slot(3)[1],
                    "unique_id": uuid.uuid4(),
                }
            )
        )
    await work()
    assert [r["Source"] for r in _received(receiver, "BookingCreate")] == ["api", "google"]


async def _jobs_in(conn: Any) -> list[Any]:
    """Deliveries the change recorded in its own transaction: outbox rows (migration
    0012), which the dispatcher turns into jobs after the commit."""
    rows = await conn.execute(text("SELECT id FROM job_outbox WHERE queue_name = 'outbound'"))
    return list(rows)


async def test_only_active_webhooks_of_the_action_fire(
    client: httpx2.AsyncClient,
    admin: dict[str, str],
    receiver: Receiver,
    database: Database,
) -> None:
    on = await _hook(client, admin, receiver, "BookingCreate", name="on")
    off = await _hook(client, admin, receiver, "BookingCreate", name="off")
    await _hook(client, admin, receiver, "BookingUpdate")
    record = (await client.get(f"{HOOKS}/{off}", headers=admin)).json()
    await client.put(HOOKS, json={**record, "Active": False}, headers=admin)
    space = await _space(client, admin)
    await _book(client, admin, space)
    jobs = await outbound_jobs(database)
    assert [(j["args"]["webhook_id"], j["args"]["action"]) for j in jobs] == [(on, "BookingCreate")]


async def test_a_failing_receiver_gets_retries_then_the_webhook_is_turned_off(
    client: httpx2.AsyncClient,
    admin: dict[str, str],
    receiver: Receiver,
    work: RunWorker,
    database: Database,
) -> None:
    hook_id = await _hook(client, admin, receiver, "BookingCreate")
    receiver.statuses = [500] * 10
    space = await _space(client, admin)
    await _book(client, admin, space)
    await work()  # backoff 0 in these settings: every retry is due at once

    calls = receiver.to("BookingCreate")
    assert len(calls) == 3  # outbound_disable_after = 3
    assert len({c.body for c in calls}) == 1  # one body, re-sent as it was
    assert len({c.headers[SIGNATURE_HEADER.lower()] for c in calls}) == 1
    assert [c.headers["x-spacecal-attempt"] for c in calls] == ["1", "2", "3"]
    record = (await client.get(f"{HOOKS}/{hook_id}", headers=admin)).json()
    assert record["Active"] is False
    assert record["ErrorCount"] == 3
    assert record["LastError"] == (
        "Turned off after 3 consecutive failed deliveries; the last: HTTP 500 from "
        "127.0.0.1. Fix the receiver, then set Active to true."
    )
    assert record["LastTrigger"] is None

    # Turned off: a new booking defers nothing for it.
    before = len(await outbound_jobs(database))
    start, end = _slot(days=3)
    await create(
        client,
        admin,
        "/api/spaces/bookings",
        {"ResourceId": space["resource"], "FromTime": start, "ToTime": end},
    )
    assert len(await outbound_jobs(database)) == before

    # Fixed and switched back on: the count starts afresh and deliveries resume.
    receiver.statuses = []
    await client.put(HOOKS, json={**record, "Active": True}, headers=admin)
    record = (await client.get(f"{HOOKS}/{hook_id}", headers=admin)).json()
    assert (record["Active"], record["ErrorCount"]) == (True, 0)
    start, end = _slot(days=4)
    await create(
        client,
        admin,
        "/api/spaces/bookings",
        {"ResourceId": space["resource"], "FromTime": start, "ToTime": end},
    )
    await work()
    record = (await client.get(f"{HOOKS}/{hook_id}", headers=admin)).json()
    assert (record["Active"], record["ErrorCount"]) == (True, 0)
    assert record["LastTrigger"] is not None


async def test_a_success_resets_the_count(
    client: httpx2.AsyncClient,
    admin: dict[str, str],
    receiver: Receiver,
    work: RunWorker,
) -> None:
    hook_id = await _hook(client, admin, receiver, "BookingCreate")
    receiver.statuses = [503, 500]
    await _book(client, admin, await _space(client, admin))
    await work()
    assert len(receiver.to("BookingCreate")) == 3
    record = (await client.get(f"{HOOKS}/{hook_id}", headers=admin)).json()
    assert (record["Active"], record["ErrorCount"]) == (True, 0)
    assert record["LastError"] == "HTTP 500 from 127.0.0.1"  # the last failure, kept
    assert record["LastTrigger"] is not None


async def _runs_in(database: Database, job: dict[str, Any]) -> float:
    """Seconds from PostgreSQL's now() until the job may run: procrastinate compares
    job times with that clock, never with spacecal's (DESIGN, Time)."""
    async with database.engine.connect() as conn:
        seconds = await conn.scalar(
            text("SELECT EXTRACT(EPOCH FROM CAST(:at AS timestamptz) - now())"),
            {"at": job["scheduled_at"]},
        )
    return float(seconds)


async def test_retries_back_off_exponentially(
    client: httpx2.AsyncClient,
    admin: dict[str, str],
    receiver: Receiver,
    database: Database,
    hook_settings: Settings,
) -> None:
    settings = hook_settings.model_copy(
        update={
            "outbound_backoff_base_seconds": 10.0,
            "outbound_backoff_cap_seconds": 25.0,
            "outbound_disable_after": 10,
        }
    )
    policy = backoff(settings, Loop.DELIVERY)
    assert [policy.delay(n).total_seconds() for n in (1, 2, 3, 4)] == [10, 20, 25, 25]
    hook_id = await _hook(client, admin, receiver, "BookingCreate")
    receiver.statuses = [500] * 5
    clock.clock.freeze()
    try:
        await _book(client, admin, await _space(client, admin))
        [job] = await outbound_jobs(database)
        async with guarded_client(allow_private=True) as http:
            outcome = await deliver(database, settings, http, **job["args"])
            assert (outcome.status, outcome.http_status) == ("failed", 500)
            retry = (await outbound_jobs(database))[-1]
            assert retry["delay"] == timedelta(seconds=10)
            assert retry["args"]["attempt"] == 2
            outcome = await deliver(database, settings, http, **retry["args"])
            retry = (await outbound_jobs(database))[-1]
            assert retry["delay"] == timedelta(seconds=20)
            # The last allowed attempt defers nothing more.
            last = await deliver(
                database,
                settings.model_copy(update={"outbound_max_attempts": 3}),
                http,
                **retry["args"],
            )
            assert last.status == "failed"
            assert (await outbound_jobs(database))[-1]["args"]["attempt"] == 3
    finally:
        clock.clock.reset()
    record = (await client.get(f"{HOOKS}/{hook_id}", headers=admin)).json()
    assert (record["Active"], record["ErrorCount"]) == (True, 3)


async def test_redirects_stay_on_the_same_host_and_timeouts_are_short(
    client: httpx2.AsyncClient,
    admin: dict[str, str],
    receiver: Receiver,
    work: RunWorker,
    database: Database,
    hook_settings: Settings,
) -> None:
    same = await _hook(
        client,
        admin,
        receiver,
        "BookingCreate",
        url=f"{receiver.base}/redirect?to=/hook/BookingCreate",
    )
    other = await _hook(
        client,
        admin,
        receiver,
        "BookingCreate",
        name="elsewhere",
        # Same machine, another host name: still not followed.
        url=f"{receiver.base}/redirect?to={receiver.url('elsewhere', host='localhost')}",
    )
    await _book(client, admin, await _space(client, admin))
    jobs = await outbound_jobs(database)
    async with guarded_client(allow_private=True) as http:
        outcomes = {
            j["args"]["webhook_id"]: await deliver(database, hook_settings, http, **j["args"])
            for j in jobs
        }
    assert outcomes[same].status == "delivered"
    assert len(_received(receiver, "BookingCreate")) == 1  # signed, at the target
    assert outcomes[other].status == "failed"
    assert receiver.to("elsewhere") == []
    record = (await client.get(f"{HOOKS}/{other}", headers=admin)).json()
    assert record["LastError"] == "127.0.0.1 redirected to another host (localhost); not followed"

    slow = hook_settings.model_copy(update={"outbound_timeout_seconds": 0.3})
    receiver.delay = 1.5
    timed = await _hook(client, admin, receiver, "BookingUpdate", name="slow")
    async with database.engine.begin() as conn:
        await conn.execute(text("DELETE FROM procrastinate_jobs"))
        await conn.execute(update(Booking).values(version=Booking.version + 1))
    [job] = await outbound_jobs(database)
    async with guarded_client(allow_private=True) as http:
        started = clock.now()
        outcome = await deliver(database, slow, http, **job["args"])
        assert clock.now() - started < timedelta(seconds=1.2)
    assert outcome.status == "failed"
    record = (await client.get(f"{HOOKS}/{timed}", headers=admin)).json()
    assert record["LastError"] == "no answer from 127.0.0.1 within 0.3 s"
    receiver.delay = 0


async def test_a_webhook_without_secret_sends_no_signature(
    client: httpx2.AsyncClient,
    admin: dict[str, str],
    receiver: Receiver,
    work: RunWorker,
) -> None:
    await create(
        client,
        admin,
        HOOKS,
        {"Name": "plain", "Action": "BookingCreate", "URL": receiver.url("plain")},
    )
    await _book(client, admin, await _space(client, admin))
    await work()
    [call] = receiver.to("plain")
    assert SIGNATURE_HEADER.lower() not in call.headers
    assert call.headers["x-spacecal-action"] == "BookingCreate"
    assert json.loads(call.body)[0]["Source"] == "api"
