"""A long or unbounded series is ACCEPTED for the series; instances beyond the
horizon are decided as it reaches them, a refused one with its own DECLINED REPLY."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import icalendar
from tests.mail.support import MailEnv, invitation
from tests.mail.test_decisions import _bob_books

from spacecal import clock
from spacecal.mail.horizon import decide_horizon

T = lambda *a: datetime(*a, tzinfo=UTC)  # noqa: E731


async def test_instances_are_decided_as_the_horizon_reaches_them(mail_env: MailEnv) -> None:
    weekly = invitation(
        uid="weekly@client.test",
        start="20310116T080000",
        end="20310116T083000",
        rrule="FREQ=WEEKLY",
    )
    assert await mail_env.handle(weekly) == "booked"
    assert len(await mail_env.bookings()) == 5  # 16 Jan .. 13 Feb
    # Nothing new today.
    await decide_horizon(mail_env.rt)
    assert len(await mail_env.bookings()) == 5
    sent = len(mail_env.sink.received)
    clock.clock.set(clock.now() + timedelta(days=7))  # horizon: 20 Feb
    await decide_horizon(mail_env.rt)
    mine = [b for b in await mail_env.bookings() if b.coworker_id == mail_env.space.alice]
    assert mine[-1].from_time == T(2031, 2, 20, 8)
    assert len(mail_env.sink.received) == sent + 1  # a confirmation; no second series reply
    clock.clock.set(clock.now() + timedelta(days=6))  # horizon: 27 Feb
    # Bob takes the slot of 27 Feb before the hourly pass reaches it.
    await _bob_books(mail_env, T(2031, 2, 27, 8), T(2031, 2, 27, 9))
    await decide_horizon(mail_env.rt)
    mine = [b for b in await mail_env.bookings() if b.coworker_id == mail_env.space.alice]
    assert mine[-1].from_time == T(2031, 2, 20, 8)
    _, body = mail_env.sink.replies()[-1]
    [event] = icalendar.Calendar.from_ical(body).walk("VEVENT")
    assert event["RECURRENCE-ID"].dt.astimezone(UTC) == T(2031, 2, 27, 8)
    assert event["ATTENDEE"].params["PARTSTAT"] == "DECLINED"
    assert "taken" in str(event["COMMENT"])
    # Running it again decides nothing twice.
    count = len(mail_env.sink.received)
    await decide_horizon(mail_env.rt)
    assert len(mail_env.sink.received) == count


async def test_a_cancelled_series_is_not_decided_further(mail_env: MailEnv) -> None:
    weekly = invitation(
        uid="w2@client.test", start="20310116T080000", end="20310116T083000", rrule="FREQ=WEEKLY"
    )
    await mail_env.handle(weekly)
    cancel = invitation(uid="w2@client.test", method="CANCEL", sequence=1, rrule="FREQ=WEEKLY")
    assert await mail_env.handle(cancel) == "cancelled"
    clock.clock.set(clock.now() + timedelta(days=14))
    await decide_horizon(mail_env.rt)
    assert await mail_env.bookings() == []
