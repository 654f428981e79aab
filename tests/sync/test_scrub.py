"""Events written before markers carried the booking id in spacecal's property (issue
19 item 1): an upgrade rewrites each once, found by the sweep, with a fresh opaque
marker and the booking id gone; the member's text stays; nothing is written again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from tests.support.bookings import tomorrow_at
from tests.support.environments import PROVIDERS, SyncEnv
from tests.support.member import Member

from spacecal import clock
from spacecal.db.columns import BOOKING_EVENT_ID_COLUMN
from spacecal.db.models import Booking, Connection, EventLink
from spacecal.providers.google.wire import LEGACY_BOOKING_PROPERTY, MARKER_PROPERTY
from spacecal.providers.google.wire import time_body as google_time
from spacecal.providers.microsoft.wire import LEGACY_BOOKING_PROPERTY_ID, MARKER_PROPERTY_ID
from spacecal.providers.microsoft.wire import time_body as graph_time
from spacecal.sync.reconcile.owed import behind
from spacecal.sync.upkeep.sweep import sweep

from .test_blocks import _writes, book


def _auth(s: SyncEnv, member: Member) -> dict[str, str]:
    emulator = s.env.google if member.provider == "google" else s.env.microsoft
    return {"Authorization": f"Bearer {emulator.issue_tokens(member.email)['access_token']}"}


async def _write_old_way(s: SyncEnv, member: Member, booking_id: int) -> tuple[str, str]:
    """The event as spacecal wrote it before markers, through the emulator's API:
    (event id, etag or changeKey)."""
    settings = s.env.rt.settings
    start = tomorrow_at(10)
    end = start + timedelta(hours=1)
    text = f"Booked with spacecal (booking {booking_id})."
    if member.provider == "google":
        answer = await s.env.control.post(
            f"{settings.google_api_base}/calendars/{member.calendar_id}/events",
            json={
                "summary": "Meeting Room A",
                "description": text,
                "start": google_time(start, "UTC"),
                "end": google_time(end, "UTC"),
                "extendedProperties": {"private": {LEGACY_BOOKING_PROPERTY: str(booking_id)}},
            },
            headers=_auth(s, member),
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["id"]), str(answer.json()["etag"])
    answer = await s.env.control.post(
        f"{settings.microsoft_graph_base}/me/calendars/{member.calendar_id}/events",
        json={
            "subject": "Meeting Room A",
            "body": {"contentType": "text", "content": text},
            "start": graph_time(start, "UTC"),
            "end": graph_time(end, "UTC"),
            "singleValueExtendedProperties": [
                {"id": LEGACY_BOOKING_PROPERTY_ID, "value": str(booking_id)}
            ],
        },
        headers=_auth(s, member),
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"]), str(answer.json()["changeKey"])


async def _read(s: SyncEnv, member: Member, event_id: str) -> list[dict[str, Any]]:
    """What any API client of the owner reads: Google's event; Graph's event once per
    property of ours (one `$filter` per `$expand`)."""
    settings = s.env.rt.settings
    if member.provider == "google":
        answer = await s.env.control.get(
            f"{settings.google_api_base}/calendars/{member.calendar_id}/events/{event_id}",
            headers=_auth(s, member),
        )
        assert answer.status_code == 200, answer.text
        return [dict(answer.json())]
    out = []
    for pid in (MARKER_PROPERTY_ID, LEGACY_BOOKING_PROPERTY_ID):
        answer = await s.env.control.get(
            f"{settings.microsoft_graph_base}/me/events/{event_id}",
            params={"$expand": f"singleValueExtendedProperties($filter=id eq '{pid}')"},
            headers=_auth(s, member),
        )
        assert answer.status_code == 200, answer.text
        out.append(dict(answer.json()))
    return out


def _properties(reads: list[dict[str, Any]]) -> dict[str, str]:
    if "extendedProperties" in reads[0] or "summary" in reads[0]:
        return dict((reads[0].get("extendedProperties") or {}).get("private") or {})
    found: dict[str, str] = {}
    for raw in reads:
        found.update({p["id"]: p["value"] for p in raw.get("singleValueExtendedProperties", [])})
    return found


async def _behind(s: SyncEnv) -> set[int]:
    async with s.engine.connect() as conn:
        return set(await conn.scalars(select(Connection.id).where(behind(clock.now()))))


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_event_from_before_markers_is_made_opaque_once(
    sync_env: SyncEnv, provider: str
) -> None:
    alice = await sync_env.connect(provider, "alice")
    booking_id = await book(sync_env, sync_env.env.space.alice, tomorrow_at(10))
    await sync_env.settle()
    # Make it as a pre-upgrade install left it: the event carries the booking id, its
    # link has no marker.
    [today] = alice.events()
    old_id, etag = await _write_old_way(sync_env, alice, booking_id)
    alice.delete(today.id)
    async with sync_env.engine.begin() as conn:
        cid = await conn.scalar(
            select(EventLink.connection_id).where(EventLink.booking_id == booking_id)
        )
        await conn.execute(
            update(EventLink)
            .where(EventLink.booking_id == booking_id)
            .values(event_key=old_id, marker=None, written_etag=etag)
        )
        await conn.execute(
            update(Booking)
            .where(Booking.id == booking_id)
            .values({BOOKING_EVENT_ID_COLUMN[provider]: old_id})
        )
    before = _properties(await _read(sync_env, alice, old_id))
    assert before == {
        (LEGACY_BOOKING_PROPERTY if provider == "google" else LEGACY_BOOKING_PROPERTY_ID): str(
            booking_id
        )
    }
    assert cid in await _behind(sync_env)  # the sweep finds it

    writes = _writes(sync_env, provider)
    await sweep(sync_env.rt)
    await sync_env.settle()
    assert _writes(sync_env, provider) == writes + 1  # one property-only write

    reads = await _read(sync_env, alice, old_id)
    props = _properties(reads)
    async with sync_env.engine.connect() as conn:
        marker = await conn.scalar(select(EventLink.marker).where(EventLink.event_key == old_id))
    assert marker and len(marker) == 32
    if provider == "google":
        assert props == {MARKER_PROPERTY: marker}
    else:
        # Graph cannot delete the property by PATCH: its value is emptied.
        assert props == {MARKER_PROPERTY_ID: marker, LEGACY_BOOKING_PROPERTY_ID: ""}
    assert str(booking_id) not in props.values()
    for raw in reads:
        # Only the property changed: the event's text and time are as they were.
        title = raw.get("summary") or raw.get("subject")
        assert title == "Meeting Room A"
    [shown] = alice.events()
    assert (shown.id, shown.start) == (old_id, tomorrow_at(10))

    # Settled: the echo changes nothing, and the next sweep owes nothing.
    assert cid not in await _behind(sync_env)
    writes = _writes(sync_env, provider)
    await sweep(sync_env.rt)
    await sync_env.settle()
    assert _writes(sync_env, provider) == writes


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_members_own_booked_event_owes_no_rewrite(sync_env: SyncEnv, provider: str) -> None:
    alice = await sync_env.connect(provider, "alice")
    start = tomorrow_at(14)
    event_id = alice.create("Standup", start, start + timedelta(hours=1))
    await sync_env.settle()
    async with sync_env.engine.connect() as conn:
        link = (
            await conn.execute(
                select(EventLink.booking_id, EventLink.marker).where(
                    EventLink.event_key == event_id
                )
            )
        ).one()
    assert link.booking_id is not None and link.marker == ""
    assert await _behind(sync_env) == set()
    writes = _writes(sync_env, provider)
    await sweep(sync_env.rt)
    await sync_env.settle()
    assert _writes(sync_env, provider) == writes
    assert [e.title for e in alice.events()] == ["Standup"]
