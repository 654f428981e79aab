"""The poll schedule as stored (sync/polling.py) and the reconcile's first read
(sync/reconcile/start.py), against PostgreSQL at a fixed clock: the interval stays
short for the active polls after a change, then doubles up to the cap, a change
resets it, and the jitter keeps every next poll within its fraction; "owes nothing"
is read for polled calendars only and judges a block's title by the booking's member,
not the connection's."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from tests.support.timing import START

from spacecal import clock
from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.db.models import (
    Booking,
    Business,
    Connection,
    Coworker,
    EventLink,
    ProviderAccount,
    Resource,
)
from spacecal.sync.polling import record_poll
from spacecal.sync.reconcile.start import read_start

SETTINGS = Settings(
    caldav_poll_seconds=60,
    caldav_poll_max_seconds=900,
    caldav_poll_jitter=0.1,
    caldav_poll_active_polls=3,
)


@dataclass
class Seeded:
    caldav: int
    google: int
    account: int
    bob_booking: int


def _stamps(now: datetime) -> dict[str, object]:
    return {"unique_id": uuid.uuid4(), "created_on": now, "updated_on": now}


async def _seed(db: Database, now: datetime) -> Seeded:
    """Alice's CalDAV and Google connections of Room A; Bob booked it tomorrow."""
    async with db.engine.begin() as conn:
        business = await conn.scalar(
            insert(Business)
            .values(
                name="Riverside",
                time_zone="UTC",
                availability_days_ahead=14,
                availability_shows_names=True,
                **_stamps(now),
            )
            .returning(Business.id)
        )
        room = await conn.scalar(
            insert(Resource)
            .values(business_id=business, name="Room A", **_stamps(now))
            .returning(Resource.id)
        )
        people = {}
        for name in ("Alice", "Bob"):
            people[name] = await conn.scalar(
                insert(Coworker)
                .values(
                    business_id=business,
                    full_name=name,
                    email=f"{name.lower()}@example.com",
                    **_stamps(now),
                )
                .returning(Coworker.id)
            )
        connections: dict[str, int | None] = {}
        accounts: dict[str, int | None] = {}
        for provider in ("caldav", "google"):
            accounts[provider] = account = await conn.scalar(
                insert(ProviderAccount)
                .values(
                    coworker_id=people["Alice"],
                    provider=provider,
                    scopes=[],
                    status="active",
                    refresh_token_enc=db.cipher.encrypt("secret"),
                    created_at=now,
                    updated_at=now,
                )
                .returning(ProviderAccount.id)
            )
            calendar = f"https://dav.example/cal/{provider}/"
            connections[provider] = await conn.scalar(
                insert(Connection)
                .values(
                    provider=provider,
                    resource_id=room,
                    coworker_id=people["Alice"],
                    name="Room A · Riverside",
                    calendar_id=calendar,
                    verified_calendar_id=calendar,
                    provider_account_id=account,
                    verified_account_id=account,
                    push_supported=provider != "caldav",
                    health="healthy",
                    **_stamps(now),
                )
                .returning(Connection.id)
            )
        tomorrow = now + timedelta(days=1)
        booking = await conn.scalar(
            insert(Booking)
            .values(
                resource_id=room,
                coworker_id=people["Bob"],
                from_time=tomorrow,
                to_time=tomorrow + timedelta(hours=1),
                **_stamps(now),
            )
            .returning(Booking.id)
        )
        for provider in ("caldav", "google"):
            # Bob's booking shown busy in Alice's calendars, titled with his name.
            await conn.execute(
                insert(EventLink).values(
                    connection_id=connections[provider],
                    event_key=f"block-{provider}",
                    booking_id=booking,
                    booking_version=1,
                    kind="block",
                    block_title="Bob",
                    updated_at=now,
                )
            )
    caldav, google, account = connections["caldav"], connections["google"], accounts["caldav"]
    assert caldav is not None and google is not None and account is not None
    assert booking is not None
    return Seeded(caldav, google, account, booking)


async def _schedule(db: Database, connection_id: int) -> tuple[int, int, datetime, datetime]:
    async with db.engine.connect() as conn:
        row = (
            await conn.execute(
                select(
                    Connection.poll_interval_seconds,
                    Connection.poll_quiet_polls,
                    Connection.poll_next_at,
                    Connection.last_poll_at,
                ).where(Connection.id == connection_id)
            )
        ).one()
    return row[0], row[1], row[2], row[3]


async def test_active_polls_keep_the_short_interval_then_it_doubles_to_the_cap(
    database: Database, clean: None
) -> None:
    now = START
    seeded = await _seed(database, now)
    seen: list[int] = []

    async def poll(changed: bool) -> None:
        nonlocal now
        await record_poll(database.reads, SETTINGS, seeded.caldav, changed=changed, now=now)
        interval, _, next_at, last = await _schedule(database, seeded.caldav)
        assert last == now
        # Jitter: within ±10 % of the interval, never a poll in the past.
        delay = (next_at - now).total_seconds()
        assert interval * 0.9 - 0.5 <= delay <= interval * 1.1 + 0.5
        seen.append(interval)
        now = next_at

    await poll(False)  # the first poll of a new connection counts as active
    for _ in range(8):
        await poll(False)
    assert seen == [60, 60, 60, 60, 120, 240, 480, 900, 900]
    assert (await _schedule(database, seeded.caldav))[1] == 8
    # A change: short again, and the next three quiet polls keep it short.
    seen.clear()
    await poll(True)
    assert (await _schedule(database, seeded.caldav))[1] == 0
    for _ in range(5):
        await poll(False)
    assert seen == [60, 60, 60, 60, 120, 240]


async def test_without_active_polls_a_quiet_poll_doubles_at_once(
    database: Database, clean: None
) -> None:
    seeded = await _seed(database, START)
    settings = SETTINGS.model_copy(update={"caldav_poll_active_polls": 0})
    seen = []
    for i in range(4):
        changed = i == 0
        now = START + timedelta(hours=i)
        await record_poll(database.reads, settings, seeded.caldav, changed=changed, now=now)
        seen.append((await _schedule(database, seeded.caldav))[0])
    assert seen == [60, 120, 240, 480]


async def test_the_first_read_says_what_a_quiet_poll_may_skip(
    database: Database, clean: None
) -> None:
    clock.clock.set(START)
    try:
        now = START
        seeded = await _seed(database, now)
        caldav = await read_start(database.reads, seeded.caldav, now, 3)
        google = await read_start(database.reads, seeded.google, now, 3)
        assert caldav is not None and google is not None
        assert caldav.target.connection_id == seeded.caldav and caldav.target.calendar_verified
        # Bob's block carries Bob's name: a polled calendar owes nothing (the title is
        # judged by the booking's member, not by the connection's, Alice).
        assert caldav.owes_nothing
        # A pushed provider's too (an echo-only pull then ends the reconcile: echoes.py).
        assert google.owes_nothing
        # A blocks-only pass does not ask (it owes its blocks by definition).
        unasked = await read_start(database.reads, seeded.caldav, now, 3, ask_owed=False)
        assert unasked is not None and not unasked.owes_nothing
        assert not caldav.pending_blocks
        # The account's token row comes with it, for AccountTokens.preload.
        assert caldav.account is not None and caldav.account.status == "active"
        assert database.cipher.decrypt(caldav.account.refresh_token_enc or b"") == "secret"
        assert caldav.paused_until is None

        async with database.engine.begin() as conn:
            await conn.execute(
                update(EventLink)
                .where(EventLink.connection_id == seeded.caldav)
                .values(block_title="Booked")
            )
            await conn.execute(
                update(ProviderAccount)
                .where(ProviderAccount.id == seeded.account)
                .values(writes_paused_until=now + timedelta(hours=1))
            )
        caldav = await read_start(database.reads, seeded.caldav, now, 3)
        assert caldav is not None
        assert not caldav.owes_nothing  # the block's title is behind
        assert caldav.paused_until == now + timedelta(hours=1)

        async with database.engine.begin() as conn:
            await conn.execute(
                update(EventLink)
                .where(EventLink.connection_id == seeded.caldav)
                .values(block_title="Bob")
            )
            await conn.execute(
                update(Connection)
                .where(Connection.id == seeded.caldav)
                .values(consecutive_failures=1)
            )
        caldav = await read_start(database.reads, seeded.caldav, now, 3)
        assert caldav is not None and not caldav.owes_nothing  # a failure to recover from
        assert await read_start(database.reads, 10**9, now, 3) is None
    finally:
        clock.clock.reset()
