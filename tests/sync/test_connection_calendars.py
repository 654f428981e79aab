"""A connection's calendar after the review of issue 17 item 1 (findings 1, 2, 3, 5).

Each test stages the attack the reviewer described: a record Name that matches the
member's own calendar, a delta link left from another calendar, a mark job trusting
an editable Name, and a CalendarId changed between a reconcile's pull and its commit.
The member's private calendar must stay untouched and unread in every case."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from tests.support.bookings import live_bookings, tomorrow_at
from tests.support.environments import SyncEnv

from spacecal import clock
from spacecal.db.models import Connection, ProviderAccount
from spacecal.providers.microsoft.marker import MARKER_PROPERTY_ID
from spacecal.sync.accounts.provisioning import Provisioner
from spacecal.sync.accounts.setup_rows import connection_row, load_setup
from spacecal.sync.naming import sync_window
from spacecal.sync.reconcile import task
from spacecal.sync.reconcile.task import reconcile
from spacecal.sync.reconcile.verify import mark_calendars

RECORDS = "/api/spaces/coworkermsofficecalendars"


async def _row(s: SyncEnv, connection_id: int) -> Any:
    async with s.engine.connect() as conn:
        return (await conn.execute(select(Connection).where(Connection.id == connection_id))).one()


async def _first_row(s: SyncEnv) -> Any:
    async with s.engine.connect() as conn:
        return (
            await conn.execute(select(Connection).where(Connection.provider == "microsoft"))
        ).one()


def _private(s: SyncEnv, email: str, calendar_id: str) -> str:
    start = tomorrow_at(10)
    made = s.env.microsoft.create_event(
        email, calendar_id, "Doctor (private)", start, start + timedelta(hours=1)
    )
    return str(made["id"])


def _title(s: SyncEnv, email: str, event_id: str) -> str:
    return str(s.env.microsoft.mailbox(email).events[event_id].subject)


async def _unprovisioned(s: SyncEnv, name: str) -> int:
    """The row a -Create user's POST leaves (the member, another resource, a Name of
    their choosing, no CalendarId), as set-up finds it when the member reconnects or
    switches that resource on in the portal (connection_row reuses the row)."""
    row_id = await connection_row(s.engine, s.env.space.alice, "microsoft", s.env.space.desk_id)
    async with s.engine.begin() as conn:
        await conn.execute(update(Connection).where(Connection.id == row_id).values(name=name))
    return row_id


# --- finding 1: set-up adopts only a calendar spacecal made, by spacecal's name -------


async def test_set_up_never_adopts_the_members_calendar_named_like_the_record(
    sync_env: SyncEnv,
) -> None:
    """A -Create user's record for the member names her "Family" calendar; set-up
    (here: the member reconnecting) must make a calendar of its own."""
    member = await sync_env.connect("microsoft")
    family = sync_env.env.microsoft.create_calendar(member.email, "Family")["id"]
    private = _private(sync_env, member.email, family)
    row_id = await _unprovisioned(sync_env, "Family")

    await Provisioner(sync_env.rt).resume(row_id)
    await sync_env.settle()

    row = await _row(sync_env, row_id)
    assert row.calendar_id != family and row.verified_calendar_id != family
    made = sync_env.env.microsoft.mailbox(member.email).calendar(row.calendar_id)
    assert made.name == await _setup_name(sync_env, row_id) != "Family"
    assert sync_env.env.microsoft.mailbox(member.email).calendar(family).extended == {}
    assert _title(sync_env, member.email, private) == "Doctor (private)"
    assert await live_bookings(sync_env) == []


async def test_set_up_adopts_its_own_leftover_from_before_markers(sync_env: SyncEnv) -> None:
    """The legitimate case still works: an unmarked calendar with the name spacecal
    gives it (a crash before its id was stored, made before markers) is adopted,
    marked and verified, not duplicated."""
    await sync_env.connect("microsoft")
    row_id = await _unprovisioned(sync_env, "Room renamed by an API user")
    setup_name = await _setup_name(sync_env, row_id)
    email = await _account_email(sync_env, row_id)
    leftover = sync_env.env.microsoft.create_calendar(email, setup_name)["id"]

    await Provisioner(sync_env.rt).resume(row_id)

    row = await _row(sync_env, row_id)
    assert row.calendar_id == leftover and row.verified_calendar_id == leftover
    assert MARKER_PROPERTY_ID in sync_env.env.microsoft.mailbox(email).calendar(leftover).extended


async def _setup_name(s: SyncEnv, row_id: int) -> str:
    return (await load_setup(s.engine, row_id)).calendar_name


async def _account_email(s: SyncEnv, row_id: int) -> str:
    async with s.engine.connect() as conn:
        email = await conn.scalar(
            select(ProviderAccount.email)
            .join(Connection, Connection.provider_account_id == ProviderAccount.id)
            .where(Connection.id == row_id)
        )
    return str(email)


# --- finding 2: a delta link reads only the calendar it was made for ------------------


async def _main_delta_link(s: SyncEnv, row: Any, main: str) -> str:
    """A delta link for the member's main calendar, as a row exploited before the
    fix holds it."""
    provider = s.rt.provider_for("microsoft")
    tokens = s.rt.tokens("microsoft", row.provider_account_id)
    window = sync_window("UTC", 30, clock.now(), margin_days=1)
    pulled = await tokens.call(lambda a: provider.pull(a, main, None, window))
    assert pulled.cursor
    return str(pulled.cursor)


async def test_a_delta_link_of_another_calendar_is_not_followed(sync_env: SyncEnv) -> None:
    member = await sync_env.connect("microsoft")
    row = await _first_row(sync_env)
    main = sync_env.env.microsoft.mailbox(member.email).default_calendar.id
    stale = await _main_delta_link(sync_env, row, main)
    # Left from the exploit; the CalendarId is back on spacecal's verified calendar.
    async with sync_env.engine.begin() as conn:
        await conn.execute(
            update(Connection).where(Connection.id == row.id).values(delta_link=stale)
        )
    private = _private(sync_env, member.email, main)  # a change the stale link would show

    outcome = await reconcile(sync_env.rt, row.id)
    await sync_env.settle()

    assert await live_bookings(sync_env) == []
    assert _title(sync_env, member.email, private) == "Doctor (private)"
    assert outcome.status == "ok", outcome.error
    assert outcome.full  # started over for its own calendar
    after = await _row(sync_env, row.id)
    assert after.delta_link and "/calendars/" in after.delta_link
    assert after.delta_link != stale


async def test_changing_calendar_or_account_clears_the_cursor(sync_env: SyncEnv) -> None:
    await sync_env.connect("microsoft")
    row = await _first_row(sync_env)
    assert row.delta_link is not None and row.sync_window_start is not None
    answer = await sync_env.env.api.get(f"{RECORDS}/{row.id}")
    record = answer.json()

    # A Name-only change keeps it (no full resync for nothing).
    answer = await sync_env.env.api.put(RECORDS, json={**record, "Name": "Renamed"})
    assert answer.status_code == 200, answer.text
    assert (await _row(sync_env, row.id)).delta_link == row.delta_link

    answer = await sync_env.env.api.put(
        RECORDS, json={**record, "Name": "Renamed", "CalendarId": "AAMkOther="}
    )
    assert answer.status_code == 200, answer.text
    after = await _row(sync_env, row.id)
    assert (after.delta_link, after.sync_window_start, after.sync_window_end) == (None, None, None)

    # Back, with a cursor again; then another member's account.
    await sync_env.env.api.put(RECORDS, json=record)
    async with sync_env.engine.begin() as conn:
        await conn.execute(
            update(Connection).where(Connection.id == row.id).values(delta_link=row.delta_link)
        )
    answer = await sync_env.env.api.put(
        RECORDS, json={**record, "CoworkerId": sync_env.env.space.bob}
    )
    assert answer.status_code == 200, answer.text
    assert (await _row(sync_env, row.id)).delta_link is None


# --- finding 3: the mark job checks spacecal's name, not the editable Name ------------


async def test_the_mark_job_ignores_an_edited_name(sync_env: SyncEnv) -> None:
    member = await sync_env.connect("microsoft")
    row = await _first_row(sync_env)
    family = sync_env.env.microsoft.create_calendar(member.email, "Family")["id"]
    private = _private(sync_env, member.email, family)
    # As migration 0014 found it, with a Name an -Edit user set to the calendar's.
    async with sync_env.engine.begin() as conn:
        await conn.execute(
            update(Connection)
            .where(Connection.id == row.id)
            .values(
                calendar_id=family,
                verified_calendar_id=None,
                verified_account_id=None,
                marker_pending=True,
                name="Family",
                delta_link=None,
            )
        )

    assert await mark_calendars(sync_env.rt, row.provider_account_id) == 0
    assert sync_env.env.microsoft.mailbox(member.email).calendar(family).extended == {}
    outcome = await reconcile(sync_env.rt, row.id)
    assert outcome.status == "failed"
    assert await live_bookings(sync_env) == []
    assert _title(sync_env, member.email, private) == "Doctor (private)"


async def test_the_mark_job_still_marks_spacecal_named_calendars(sync_env: SyncEnv) -> None:
    member = await sync_env.connect("microsoft")
    row = await _first_row(sync_env)
    cal = sync_env.env.microsoft.mailbox(member.email).calendar(member.calendar_id)
    cal.extended.clear()
    async with sync_env.engine.begin() as conn:
        await conn.execute(
            update(Connection)
            .where(Connection.id == row.id)
            .values(
                verified_calendar_id=None,
                verified_account_id=None,
                marker_pending=True,
                name="Edited by an API user",
            )
        )
    assert await mark_calendars(sync_env.rt, row.provider_account_id) == 1
    assert MARKER_PROPERTY_ID in cal.extended


# --- finding 5: the commit re-checks the row's calendar under its lock ----------------


async def test_a_calendar_id_changed_during_a_reconcile_gets_nothing_of_the_old(
    sync_env: SyncEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = await sync_env.connect("microsoft")
    row = await _first_row(sync_env)
    start = tomorrow_at(14)
    member.create("Team sync", start, start + timedelta(hours=1))
    record = (await sync_env.env.api.get(f"{RECORDS}/{row.id}")).json()
    real_pull = task.pull_with_window

    async def pull_then_repoint(*args: Any, **kwargs: Any) -> Any:
        pulled = await real_pull(*args, **kwargs)
        # A full administrator's write lands between the pull and the commit.
        answer = await sync_env.env.api.put(RECORDS, json={**record, "CalendarId": "AAMkY="})
        assert answer.status_code == 200, answer.text
        return pulled

    monkeypatch.setattr(task, "pull_with_window", pull_then_repoint)
    outcome = await reconcile(sync_env.rt, row.id)
    monkeypatch.setattr(task, "pull_with_window", real_pull)

    after = await _row(sync_env, row.id)
    assert after.calendar_id == "AAMkY="
    assert after.delta_link is None  # calendar X's cursor not stored on a row naming Y
    assert await live_bookings(sync_env) == []  # X's events not decided for Y
    assert outcome.status == "skipped"
    assert await sync_env.runnable_jobs() >= 1  # a fresh reconcile for Y
