"""Security review: hostile iCalendar costs little. A rule that can never match is
refused without walking dateutil to year 9999; deep nesting is "malformed"."""

from __future__ import annotations

import time

import pytest
from tests.mail.support import MailEnv, invitation

NEVER = (
    "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=31",
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
    "FREQ=MONTHLY;BYMONTH=4,6;BYMONTHDAY=-31",
    "FREQ=YEARLY;BYMONTH=1;BYYEARDAY=366",
)


@pytest.mark.parametrize("rule", NEVER)
async def test_a_rule_that_never_matches_is_refused_quickly(mail_env: MailEnv, rule: str) -> None:
    started = time.process_time()
    assert await mail_env.handle(invitation(rrule=rule)) == "malformed"
    assert await mail_env.bookings() == []
    assert time.process_time() - started < 3  # walking to year 9999 took ~7 s


async def test_a_rule_that_can_match_still_books(mail_env: MailEnv) -> None:
    # Only leap years have 29 February; the horizon does not reach one: nothing is
    # booked beyond DTSTART, and that is no error.
    raw = invitation(rrule="FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", start="20310116T140000")
    assert await mail_env.handle(raw) == "booked"
    assert len(await mail_env.bookings()) == 1


async def test_deeply_nested_components_are_malformed(mail_env: MailEnv) -> None:
    depth = 20_000
    nested = "\r\n".join(["BEGIN:X"] * depth + ["END:X"] * depth)
    assert await mail_env.handle(invitation(extra=nested)) == "malformed"
    assert await mail_env.bookings() == []
    # A little nesting (VALARM in VEVENT, a vendor block) stays readable.
    shallow = "\r\n".join(["BEGIN:X-VENDOR"] * 3 + ["END:X-VENDOR"] * 3)
    assert await mail_env.handle(invitation(extra=shallow)) == "booked"
