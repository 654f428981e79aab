"""CalDAV from the member's side, end to end, against real servers (Radicale over
http, Xandikos over https with its certificate trusted through
SPACECAL_CALDAV_CA_FILE), with SPACECAL_ALLOW_PRIVATE_TARGETS on: connect through the
portal, a calendar per resource, the member's app writing events with plain PUT and
DELETE, the poll (the sweep's schedule) turning them into bookings, and bookings made
elsewhere written back."""

from __future__ import annotations

import ssl
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import httpx2
import pytest
from sqlalchemy import event, func, select, update
from tests.support.caldav_servers import CalDavServer
from tests.support.environments import SyncEnv, make_env
from tests.support.portal import PASSWORD, find_form, forms

from spacecal import clock
from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.db.models import (
    Booking,
    Connection,
    ProviderAccount,
    SubscriptionGeneration,
    SyncRun,
)
from spacecal.sync.reconcile.task import reconcile
from spacecal.sync.runtime import SyncRuntime
from spacecal.sync.upkeep.keepalive_pass import keepalive_pass
from spacecal.sync.upkeep.sweep import sweep

DAY = datetime(2031, 1, 16, tzinfo=UTC)  # the day after the environments' START
BOGUS_TOKEN = "http://radicale.org/ns/sync/" + "0" * 64  # never issued by either server


@dataclass
class CalEnv:
    sync: SyncEnv
    server: CalDavServer
    http: httpx2.AsyncClient  # the member's own calendar app
    calendars: list[str] = field(default_factory=list)

    @property
    def engine(self) -> Any:
        return self.sync.engine

    async def connect(self, password: str | None = None, who: str = "alice") -> httpx2.Response:
        browser = self.sync.env.new_browser()
        await browser.sign_in(f"{who}@example.com")
        page = await browser.get("/portal")
        form = next(f for f in forms(page.text) if f.fields.get("kind") == "other")
        answer = await browser.submit(
            form,
            server_url=self.server.url,
            username=self.server.username,
            password=self.server.password if password is None else password,
        )
        self.browser = browser
        return answer

    async def add(self, resource_id: int) -> str:
        page = await self.browser.post_form(f"/portal/resources/{resource_id}/caldav", action="add")
        assert page.status_code == 200, page.text
        async with self.engine.connect() as conn:
            calendar = await conn.scalar(
                select(Connection.calendar_id).where(
                    Connection.provider == "caldav", Connection.resource_id == resource_id
                )
            )
        assert calendar, "provisioning made no calendar"
        self.calendars.append(str(calendar))
        return str(calendar)

    async def put(self, calendar: str, uid: str, start: datetime, hours: int = 1) -> str:
        end = start + timedelta(hours=hours)
        stamp = "%Y%m%dT%H%M%SZ"
        ics = (
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//member app//EN\r\n"
            f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:{start.strftime(stamp)}\r\n"
            f"DTSTART:{start.strftime(stamp)}\r\nDTEND:{end.strftime(stamp)}\r\n"
            "SUMMARY:Team sync\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        )
        url = urljoin(calendar, f"{uid}.ics")
        answer = await self.http.put(
            url, content=ics.encode(), headers={"Content-Type": "text/calendar"}
        )
        assert answer.status_code in (201, 204), answer.text
        return url

    async def poll(self) -> int:
        """What the periodic sweep does, then the worker; returns the jobs queued."""
        queued = await sweep(self.sync.rt)
        await self.sync.settle()
        return queued

    def later(self, seconds: float) -> None:
        clock.clock.advance(timedelta(seconds=seconds))

    async def live_bookings(self) -> list[Any]:
        async with self.engine.connect() as conn:
            return list(
                (
                    await conn.execute(
                        select(Booking)
                        .where(Booking.cancelled_at.is_(None))
                        .order_by(Booking.from_time)
                    )
                ).all()
            )

    async def connection(self) -> Any:
        async with self.engine.connect() as conn:
            return (
                await conn.execute(select(Connection).where(Connection.provider == "caldav"))
            ).one()


def _verify(server: CalDavServer) -> ssl.SSLContext | bool:
    return ssl.create_default_context(cafile=str(server.ca_file)) if server.ca_file else True


@pytest.fixture
async def cal(
    settings: Settings,
    database: Database,
    member_password_hash: str,
    env_start: datetime,
    caldav_server: CalDavServer,
) -> AsyncIterator[CalEnv]:
    async for env in make_env(
        settings,
        database,
        member_password_hash,
        start=env_start,
        allow_private_targets=True,
        caldav_ca_file=caldav_server.ca_file,
        caldav_timeout_seconds=4.0,
        caldav_poll_seconds=60.0,
        caldav_poll_max_seconds=900.0,
        caldav_poll_jitter=0.1,
    ):
        rt = SyncRuntime(settings=env.rt.settings, db=database, provider_for=env.rt.provider)
        async with httpx2.AsyncClient(
            auth=(caldav_server.username, caldav_server.password),
            verify=_verify(caldav_server),
            timeout=10,
        ) as http:
            cal = CalEnv(SyncEnv(env, rt), caldav_server, http)
            try:
                yield cal
            finally:
                # One user on a shared server: the next test must not adopt these.
                for url in cal.calendars:
                    await http.delete(url)


async def test_a_wrong_password_gets_a_sentence_and_creates_nothing(cal: CalEnv) -> None:
    page = await cal.connect(password="not the password")
    assert page.status_code == 400
    assert 'id="caldav-error"' in page.text
    assert "not the password" not in page.text  # never echoed back
    async with cal.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(ProviderAccount)) == 0
        assert await conn.scalar(select(func.count()).select_from(Connection)) == 0


async def test_failed_connects_are_throttled_per_member(cal: CalEnv) -> None:
    # A connect checks a password on someone's server: 5 failures, then the portal
    # says to wait, even for the right password (no request reaches the server).
    for _ in range(5):
        page = await cal.connect(password="guess")
        assert page.status_code == 400
    page = await cal.connect()
    assert page.status_code == 429
    assert "Too many failed attempts" in page.text and "Wait 15 minutes" in page.text
    async with cal.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(ProviderAccount)) == 0
    # Another member is not held back by alice's failures.
    page = await cal.connect(who="bob")
    assert page.status_code == 200, page.text


async def test_connect_add_and_book_by_event_then_move_and_delete(cal: CalEnv) -> None:
    page = await cal.connect()
    assert page.status_code == 200, page.text
    assert "is connected" in page.text
    async with cal.engine.connect() as conn:
        account = (await conn.execute(select(ProviderAccount))).one()
    assert account.provider == "caldav" and account.server_url
    assert account.job_lock and account.job_lock.startswith("caldav:")
    assert cal.server.password.encode() not in (account.refresh_token_enc or b"")
    space = cal.sync.env.space
    calendar = await cal.add(space.room_id)
    row = await cal.connection()
    assert row.push_supported is False and row.server_url == account.server_url
    assert row.username == cal.server.username
    # Push-only work leaves a polled connection alone: no subscription at set-up,
    # nothing for the keep-alive pass to renew.
    async with cal.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(SubscriptionGeneration)) == 0
    assert await keepalive_pass(cal.sync.rt) == 0
    # The record never shows the password (nor the secret).
    records = await cal.sync.env.records("coworkercaldavcalendars")
    assert [r["CalendarId"] for r in records] == [calendar]
    assert records[0]["ServerUrl"] == account.server_url
    assert cal.server.password not in str(records)

    # The member's app creates an event: the next poll books the room.
    start = DAY.replace(hour=10)
    url = await cal.put(calendar, f"m-{uuid.uuid4().hex}", start)
    assert await cal.poll() >= 1
    (booking,) = await cal.live_bookings()
    assert (booking.from_time, booking.source) == (start, "caldav")
    assert booking.caldav_event_id and booking.caldav_event_id.endswith(url.rsplit("/", 1)[1])

    # Moved in the app: moved after the next poll (due once its time passed).
    uid = url.rsplit("/", 1)[1].removesuffix(".ics")
    await cal.put(calendar, uid, start + timedelta(hours=2))
    assert await cal.poll() == 0  # not due yet: nothing queued
    cal.later(120)
    assert await cal.poll() == 1
    (booking,) = await cal.live_bookings()
    assert booking.from_time == start + timedelta(hours=2)

    # Deleted in the app: cancelled.
    answer = await cal.http.delete(url)
    assert answer.status_code in (200, 204)
    cal.later(120)
    await cal.poll()
    assert await cal.live_bookings() == []


async def test_a_booking_made_elsewhere_is_written_and_a_conflict_is_marked(cal: CalEnv) -> None:
    await cal.connect()
    space = cal.sync.env.space
    calendar = await cal.add(space.room_id)
    start = DAY.replace(hour=14)
    answer = await cal.sync.env.api.post(
        "/api/spaces/bookings",
        json={
            "ResourceId": space.room_id,
            "CoworkerId": space.alice,
            "FromTime": start.isoformat().replace("+00:00", "Z"),
            "ToTime": (start + timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
        },
    )
    assert answer.status_code == 200, answer.text
    await cal.sync.settle()
    listing = await cal.http.request("PROPFIND", calendar, headers={"Depth": "1"}, content=b"")
    assert listing.status_code == 207
    assert listing.text.count(".ics") >= 1, "the booking was not written to the calendar"

    # Bob holds 16:00; Alice's event over it is refused and marked in place.
    bob = DAY.replace(hour=16)
    answer = await cal.sync.env.api.post(
        "/api/spaces/bookings",
        json={
            "ResourceId": space.room_id,
            "CoworkerId": space.bob,
            "FromTime": bob.isoformat().replace("+00:00", "Z"),
            "ToTime": (bob + timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
        },
    )
    assert answer.status_code == 200, answer.text
    url = await cal.put(calendar, f"m-{uuid.uuid4().hex}", bob)
    cal.later(120)
    await cal.poll()
    event = await cal.http.get(url)
    assert event.status_code == 200
    assert "Not booked" in event.text


async def test_poll_intervals_shorten_on_change_and_double_while_quiet(cal: CalEnv) -> None:
    await cal.connect()
    calendar = await cal.add(cal.sync.env.space.room_id)
    await cal.poll()
    seen: list[int] = []
    async with cal.engine.connect() as conn:
        runs_before = await conn.scalar(select(func.count()).select_from(SyncRun))
    for _ in range(11):
        row = await cal.connection()
        assert row.poll_next_at is not None and row.last_poll_at is not None
        interval = row.poll_interval_seconds
        seen.append(interval)
        # Jitter: within ±10 % of the interval.
        delay = (row.poll_next_at - row.last_poll_at).total_seconds()
        assert interval * 0.9 - 1 <= delay <= interval * 1.1 + 1
        cal.later(delay + 1)
        assert await cal.poll() == 1
    # Quiet: the last change (the first polls may still see spacecal's own set-up
    # writes) and the three active polls after it keep 60 s
    # (SPACECAL_CALDAV_POLL_ACTIVE_POLLS), then it doubles at each poll, capped.
    quiet = seen[seen.index(120) - 4 :]
    assert quiet[:9] == [60, 60, 60, 60, 120, 240, 480, 900, 900], seen
    # Quiet polls took the one-statement path (sync/reconcile/owed.py): no sync runs.
    async with cal.engine.connect() as conn:
        runs_after = await conn.scalar(select(func.count()).select_from(SyncRun))
    assert runs_after - runs_before <= 2
    await cal.put(calendar, f"m-{uuid.uuid4().hex}", DAY.replace(hour=9))
    row = await cal.connection()
    cal.later((row.poll_next_at - clock.now()).total_seconds() + 1)
    await cal.poll()
    assert (await cal.connection()).poll_interval_seconds == 60  # a change: short again


async def test_a_quiet_poll_is_one_read_and_one_update_around_its_report(cal: CalEnv) -> None:
    """What a quiet poll costs spacecal's database (docs/performance.md): the first
    read (sync/reconcile/start.py) and the UPDATE recording it, nothing else."""
    await cal.connect()
    await cal.add(cal.sync.env.space.room_id)
    await cal.poll()
    row = await cal.connection()
    quiet_before = row.poll_quiet_polls
    cal.later((row.poll_next_at - clock.now()).total_seconds() + 1)
    statements: list[str] = []

    def seen(*args: Any) -> None:
        statements.append(str(args[2]).split(None, 1)[0].upper())

    engine = cal.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        outcome = await reconcile(cal.sync.rt, row.id)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert (outcome.status, outcome.pulled, outcome.writes) == ("ok", 0, 0)
    assert statements == ["SELECT", "UPDATE"], statements
    after = await cal.connection()
    assert after.poll_quiet_polls == quiet_before + 1
    assert after.last_poll_at == after.last_sync_at
    assert row.last_poll_at is not None and after.last_poll_at > row.last_poll_at


async def test_an_invalid_sync_token_means_a_full_resync(cal: CalEnv) -> None:
    await cal.connect()
    calendar = await cal.add(cal.sync.env.space.room_id)
    url = await cal.put(calendar, f"m-{uuid.uuid4().hex}", DAY.replace(hour=11))
    await cal.poll()
    assert len(await cal.live_bookings()) == 1
    # A token the server never issued, then the event deleted behind it.
    async with cal.engine.begin() as conn:
        await conn.execute(
            update(Connection)
            .where(Connection.provider == "caldav")
            .values(event_sync_token=BOGUS_TOKEN)
        )
    await cal.http.delete(url)
    cal.later(3600)
    await cal.poll()
    assert await cal.live_bookings() == []
    async with cal.engine.connect() as conn:
        full = await conn.scalar(select(func.bool_or(SyncRun.full_sync)))
    assert full is True
    token = (await cal.connection()).event_sync_token
    assert token and token != BOGUS_TOKEN


async def test_a_server_failure_backs_off(cal: CalEnv) -> None:
    await cal.connect()
    await cal.add(cal.sync.env.space.room_id)
    await cal.poll()
    # The calendar's server stops answering properly: point the stored secret at a
    # closed port on loopback (a transport error: Transient).
    async with cal.engine.begin() as conn:
        await conn.execute(
            update(Connection).where(Connection.provider == "caldav").values(event_sync_token=None)
        )
    cal.server.process.send_signal(19)  # SIGSTOP: the server hangs (a timeout)
    try:
        row = await cal.connection()
        cal.later((row.poll_next_at - clock.now()).total_seconds() + 1)
        await cal.poll()
    finally:
        cal.server.process.send_signal(18)  # SIGCONT
    row = await cal.connection()
    assert row.consecutive_failures == 1
    assert row.retry_at is not None and row.retry_at > clock.now()
    assert row.last_error
    assert cal.server.password not in row.last_error


async def test_picking_one_of_the_members_calendars_explicitly(cal: CalEnv) -> None:
    """Where a server refuses to create calendars the member picks one; the page
    lists the account's calendars and only a listed URL is accepted."""
    await cal.connect()
    async with cal.engine.connect() as conn:
        account = (await conn.execute(select(ProviderAccount))).one()
    home = cal.sync.rt.provider_for("caldav")
    secret = cal.sync.env.rt.db.cipher.decrypt(account.refresh_token_enc)
    # The member's own calendar, made by their app.
    mine = await home.create_calendar(secret, "Team room", "Europe/London")
    cal.calendars.append(mine.id)
    room = cal.sync.env.space.room_id
    page = await cal.browser.get(f"/portal/resources/{room}/caldav/pick")
    assert page.status_code == 200, page.text
    assert mine.id in page.text
    # A URL the server does not list for this account is refused.
    answer = await cal.browser.post_form(
        f"/portal/resources/{room}/caldav/pick", calendar_id=mine.id + "../other/"
    )
    assert answer.status_code == 409
    async with cal.engine.connect() as conn:
        assert await conn.scalar(select(Connection.calendar_id)) is None
    page = await cal.browser.get(f"/portal/resources/{room}/caldav/pick")
    answer = await cal.browser.post_form(
        f"/portal/resources/{room}/caldav/pick", calendar_id=mine.id
    )
    assert answer.status_code == 200, answer.text
    row = await cal.connection()
    assert (row.calendar_id, row.verified_calendar_id) == (mine.id, mine.id)
    assert row.health == "healthy"
    # It books like a calendar spacecal made.
    await cal.put(mine.id, f"m-{uuid.uuid4().hex}", DAY.replace(hour=12))
    await cal.poll()
    assert len(await cal.live_bookings()) == 1


async def test_the_admin_console_shows_the_last_and_next_poll(cal: CalEnv) -> None:
    await cal.connect()
    await cal.add(cal.sync.env.space.room_id)
    await cal.poll()
    row = await cal.connection()
    admin = cal.sync.env.new_browser()
    page = await admin.get("/admin/signin")
    page = await admin.submit(
        find_form(page.text, "/admin/signin"), email="admin@example.com", password=PASSWORD
    )
    assert page.status_code == 200, page.text
    page = await admin.get("/admin/connections?provider=caldav")
    assert page.status_code == 200, page.text
    assert f'data-id="{row.id}"' in page.text
    assert "next poll" in page.text
    page = await admin.get(f"/admin/connections/{row.id}")
    assert page.status_code == 200, page.text
    assert 'id="polling"' in page.text
    assert f"every {row.poll_interval_seconds} s" in page.text
    assert row.server_url in page.text
    assert cal.server.password not in page.text
    await admin.aclose()
