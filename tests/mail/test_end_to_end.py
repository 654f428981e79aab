"""Over real SMTP on loopback: smtplib sends to spacecal's receiver (aiosmtpd), the
worker processes the stored message, and the REPLY arrives at the aiosmtpd sink that
plays spacecal's outgoing relay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import icalendar
import pytest
from sqlalchemy import text
from tests.mail.intake_support import IntakeEnv, dkim_key, start_mail_env
from tests.mail.support import ALICE, ROOM, Sink, fixture, invitation, start_sink
from tests.support.environments import SyncEnv

from spacecal.runner import run_worker


@pytest.fixture
async def relay(intake_env: IntakeEnv) -> AsyncIterator[Sink]:
    sink = Sink()
    server, port = await start_sink(sink)
    intake_env.rt.settings = intake_env.rt.settings.model_copy(
        update={"smtp_url": f"smtp://127.0.0.1:{port}"}
    )
    try:
        yield sink
    finally:
        server.close()
        await server.wait_closed()


async def _live(env: IntakeEnv) -> list[tuple[object, ...]]:
    async with env.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT from_time, source FROM bookings WHERE cancelled_at IS NULL")
        )
        return [tuple(r) for r in rows]


async def test_a_google_invitation_over_smtp_is_booked_and_answered(
    intake_env: IntakeEnv, relay: Sink
) -> None:
    key = dkim_key("example.com")
    intake_env.publish("s1._domainkey.example.com", key.record)
    intake_env.publish("_dmarc.example.com", "v=DMARC1; p=reject")
    to = await intake_env.address()
    raw = key.sign(fixture("google.eml").replace(ROOM.encode(), to.encode()))
    await intake_env.send([to], raw)
    await run_worker(intake_env.rt, wait=False, periodic=False, concurrency=1)
    [(start, source)] = await _live(intake_env)
    assert source == "invitation"
    assert str(start).startswith("2031-01-16 14:00")
    [(reply, body)] = relay.replies()
    assert (reply["From"], reply["To"]) == (to, ALICE)
    [event] = icalendar.Calendar.from_ical(body).walk("VEVENT")
    assert event["ATTENDEE"].params["PARTSTAT"] == "ACCEPTED"
    assert str(event["ATTENDEE"]).lower() == f"mailto:{to}"
    [stored] = await intake_env.stored()
    assert stored["outcome"] == "booked"


async def test_a_forged_from_under_dmarc_reject_books_nothing_and_sends_nothing(
    intake_env: IntakeEnv, relay: Sink
) -> None:
    intake_env.publish("_dmarc.example.com", "v=DMARC1; p=reject")
    to = await intake_env.address()
    raw = invitation(attendees=(ALICE, to))  # unsigned, From alice@example.com
    await intake_env.send([to], raw, sender="mallory@evil.test")
    await run_worker(intake_env.rt, wait=False, periodic=False, concurrency=1)
    assert await _live(intake_env) == []
    assert relay.received == []
    [stored] = await intake_env.stored()
    assert stored["outcome"] == "refused-sender"


# Each client's shape exactly as the fixture holds it (the room's address in it is
# ROOM), sent over SMTP: spacecal's mail domain and alice's token for the room are set
# to the ones the fixtures were written with.
SHAPES = {
    "google.eml": ("2031-01-16 14:00", 1),
    "outlook.eml": ("2031-01-17 09:30", 1),
    "apple.eml": ("2031-01-17 16:00", 1),
    "thunderbird.eml": ("2031-01-20 11:00", 3),
    "rfc6047.eml": ("2031-01-21 15:00", 1),
}


@pytest.fixture
async def shape_env(sync_env: SyncEnv, tmp_path: Path) -> AsyncIterator[tuple[IntakeEnv, Sink]]:
    env = await start_mail_env(sync_env, tmp_path, mail_domain=ROOM.rpartition("@")[2])
    await env.address()  # alice's token for the room, made on first use ...
    slug, _, token = ROOM.partition("@")[0].partition("+")
    async with env.engine.begin() as conn:  # ... then set to the fixtures' one
        await conn.execute(
            text("UPDATE resources SET mail_slug = :slug WHERE id = :room"),
            {"slug": slug, "room": sync_env.env.space.room_id},
        )
        await conn.execute(
            text("UPDATE invitation_addresses SET token = :token WHERE coworker_id = :alice"),
            {"token": token, "alice": sync_env.env.space.alice},
        )
    sink = Sink()
    server, port = await start_sink(sink)
    env.rt.settings = env.rt.settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{port}"})
    try:
        yield env, sink
    finally:
        server.close()
        await server.wait_closed()
        env.server.close()
        await env.server.wait_closed()


@pytest.mark.parametrize("name", sorted(SHAPES))
async def test_each_client_shape_over_smtp_is_booked_and_accepted(
    shape_env: tuple[IntakeEnv, Sink], name: str
) -> None:
    env, relay = shape_env
    first, count = SHAPES[name]
    key = dkim_key("example.com")
    env.publish("s1._domainkey.example.com", key.record)
    env.publish("_dmarc.example.com", "v=DMARC1; p=reject")
    assert await env.send([ROOM], key.sign(fixture(name))) == {}
    await run_worker(env.rt, wait=False, periodic=False, concurrency=1)
    booked = sorted(await _live(env), key=lambda row: str(row[0]))
    assert len(booked) == count
    assert str(booked[0][0]).startswith(first)
    assert {source for _, source in booked} == {"invitation"}
    [(reply, body)] = relay.replies()
    assert (reply["From"], reply["To"]) == (ROOM, ALICE)
    [event] = icalendar.Calendar.from_ical(body).walk("VEVENT")
    assert event["ATTENDEE"].params["PARTSTAT"] == "ACCEPTED"
    [stored] = await env.stored()
    assert stored["outcome"] == "booked"
