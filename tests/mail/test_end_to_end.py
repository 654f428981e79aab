"""Over real SMTP on loopback: smtplib sends to spacecal's receiver (aiosmtpd), the
worker processes the stored message, and the REPLY arrives at the aiosmtpd sink that
plays spacecal's outgoing relay."""

from __future__ import annotations

from collections.abc import AsyncIterator

import icalendar
import pytest
from sqlalchemy import text
from tests.mail.intake_support import IntakeEnv, dkim_key
from tests.mail.support import ALICE, ROOM, Sink, fixture, invitation, start_sink

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
