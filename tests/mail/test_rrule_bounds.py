"""Series expansion is bounded work whatever the RRULE (mail/ical.py, recurrence.py).

A rule that never matches makes dateutil search every year to 9999 (1-6 s of CPU per
message before the walk was bounded): the walk now stops after the year following
the horizon, so such a series books its first date and is looked at again as the
horizon moves. A series that began longer ago than the walk may go is declined, with
the reason, to the organizer and the member. Legitimate long series are unchanged.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import icalendar
import pytest
from tests.mail.support import ALICE, MailEnv, invitation

from spacecal import clock
from spacecal.domain.invitation_messages import SERIES_TOO_OLD
from spacecal.mail.horizon import decide_horizon

T = lambda *a: datetime(*a, tzinfo=UTC)  # noqa: E731

#: CPU seconds one message may cost here (the slowest rule below took 5.3 s before).
BUDGET = 1.0

# Rules no static check catches: only walking them shows they never match again.
NEVER_AGAIN = (
    "FREQ=DAILY;BYSETPOS=2",  # one candidate a day, never a second
    "FREQ=WEEKLY;BYDAY=MO;BYSETPOS=2",
    "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=6",  # no month has six Mondays
    "FREQ=DAILY;INTERVAL=7;BYDAY=TU",  # from a Thursday: always Thursdays
    "FREQ=DAILY;BYMONTH=6;BYWEEKNO=53",
    "FREQ=DAILY;BYMONTH=12;BYMONTHDAY=30;BYYEARDAY=366",
)


def _reply(mail_env: MailEnv) -> icalendar.Event:
    [(_, body)] = mail_env.sink.replies()
    [event] = icalendar.Calendar.from_ical(body).walk("VEVENT")
    return event


@pytest.mark.parametrize("rule", NEVER_AGAIN)
async def test_a_rule_that_never_matches_again_is_answered_quickly(
    mail_env: MailEnv, rule: str
) -> None:
    started = time.process_time()
    assert await mail_env.handle(invitation(rrule=rule)) == "booked"
    assert time.process_time() - started < BUDGET
    [booking] = await mail_env.bookings()  # DTSTART, Thursday 16 January
    assert booking.from_time == T(2031, 1, 16, 14)
    assert _reply(mail_env)["ATTENDEE"].params["PARTSTAT"] == "ACCEPTED"
    # The hourly pass looks again as the horizon moves, as cheaply, and finds nothing.
    clock.clock.set(clock.now() + timedelta(days=40))
    started = time.process_time()
    await decide_horizon(mail_env.rt)
    assert time.process_time() - started < BUDGET
    assert len(await mail_env.bookings()) == 1


@pytest.mark.parametrize(
    ("start", "rule"),
    [
        ("17000116T140000", "FREQ=DAILY;BYSETPOS=2"),  # 8,300 years of search before
        ("17500116T140000", "FREQ=DAILY"),  # stepped 100,000 times, booked nothing, "ACCEPTED"
        ("00010116T140000", "FREQ=YEARLY"),
    ],
)
async def test_a_series_from_too_long_ago_is_declined_with_the_reason(
    mail_env: MailEnv, start: str, rule: str
) -> None:
    started = time.process_time()
    raw = invitation(start=start, end=start[:9] + "150000", rrule=rule)
    assert await mail_env.handle(raw) == "declined"
    assert time.process_time() - started < BUDGET
    assert await mail_env.bookings() == []
    reply = _reply(mail_env)
    assert reply["ATTENDEE"].params["PARTSTAT"] == "DECLINED"
    assert "RECURRENCE-ID" not in reply
    assert str(reply["COMMENT"]) == SERIES_TOO_OLD
    [confirmation] = mail_env.sink.confirmations()
    assert confirmation["To"] == ALICE
    assert confirmation["Subject"] == "Not booked by invitation: Meeting Room A"
    assert "starts too long ago" in confirmation.get_content()


async def test_a_series_made_unworkable_by_an_update_gives_back_its_bookings(
    mail_env: MailEnv,
) -> None:
    weekly = invitation(uid="w@client.test", rrule="FREQ=WEEKLY")
    assert await mail_env.handle(weekly) == "booked"
    assert len(await mail_env.bookings()) == 5
    moved = invitation(
        uid="w@client.test", sequence=1, start="17000116T140000", end="17000116T150000",
        rrule="FREQ=DAILY;BYSETPOS=2",
    )  # fmt: skip
    assert await mail_env.handle(moved) == "updated"  # its five bookings cancelled
    assert await mail_env.bookings() == []
    _, body = mail_env.sink.replies()[-1]
    [reply] = icalendar.Calendar.from_ical(body).walk("VEVENT")
    assert reply["ATTENDEE"].params["PARTSTAT"] == "DECLINED"
    assert str(reply["COMMENT"]) == SERIES_TOO_OLD


async def test_legitimate_long_series_still_book(mail_env: MailEnv) -> None:
    # Daily for a year: the horizon's 30 days now, the rest as it moves.
    daily = invitation(uid="d@client.test", start="20310116T080000", end="20310116T083000",
                       rrule="FREQ=DAILY;COUNT=365")  # fmt: skip
    assert await mail_env.handle(daily) == "booked"
    assert len(await mail_env.bookings()) == 30
    # Weekly on three days, for a year.
    weekly = invitation(uid="w@client.test", start="20310117T100000", end="20310117T110000",
                        rrule="FREQ=WEEKLY;BYDAY=MO,WE,FR;UNTIL=20320117T000000Z")  # fmt: skip
    assert await mail_env.handle(weekly) == "booked"
    assert len(await mail_env.bookings()) == 30 + 13  # Fri 17 Jan .. Fri 14 Feb
    # The last weekday of every month, from Friday 31 January.
    monthly = invitation(uid="m@client.test", start="20310131T160000", end="20310131T170000",
                         rrule="FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1")  # fmt: skip
    assert await mail_env.handle(monthly) == "booked"
    last_weekdays = [b.from_time for b in await mail_env.bookings() if b.from_time.hour == 16]
    assert last_weekdays == [T(2031, 1, 31, 16)]
    clock.clock.set(clock.now() + timedelta(days=30))  # horizon: 16 March
    await decide_horizon(mail_env.rt)
    last_weekdays = [b.from_time for b in await mail_env.bookings() if b.from_time.hour == 16]
    assert last_weekdays == [T(2031, 1, 31, 16), T(2031, 2, 28, 16)]
