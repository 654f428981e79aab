"""Hostile input: huge or nested MIME, many VEVENTs, huge RRULE COUNTs, bad dates.
Each is bounded work and a clean outcome; nothing is booked from a malformed message."""

from __future__ import annotations

import time
from email.message import EmailMessage

import pytest
from tests.mail.support import ALICE, ROOM, MailEnv, invitation

from spacecal.mail.ical import MAX_EVENTS, calendar_text

BUDGET_SECONDS = 5.0


def _nested(depth: int) -> bytes:
    """The invitation's calendar part inside `depth` multipart/mixed levels."""
    calendar = calendar_text(invitation()).decode()
    body = f"Content-Type: text/calendar; method=REQUEST\r\n\r\n{calendar}"
    for level in range(depth):
        body = (
            f'Content-Type: multipart/mixed; boundary="b{level}"\r\n\r\n'
            f"--b{level}\r\n{body}\r\n--b{level}--\r\n"
        )
    return f"From: {ALICE}\r\nTo: {ROOM}\r\nMIME-Version: 1.0\r\n{body}".encode()


def _many_parts(count: int) -> bytes:
    message = EmailMessage()
    message["From"] = ALICE
    message.set_content("x")
    for i in range(count):
        message.add_attachment(f"part {i}".encode(), maintype="application", subtype="x-junk")
    return message.as_bytes()


def _many_events(count: int) -> bytes:
    event = (
        "BEGIN:VEVENT\r\nUID:u\r\nDTSTAMP:20310115T100000Z\r\nDTSTART:20310116T140000Z\r\n"
        f"DTEND:20310116T150000Z\r\nORGANIZER:mailto:{ALICE}\r\nATTENDEE:mailto:{ROOM}\r\n"
        "END:VEVENT\r\n"
    )
    calendar = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\n" + event * count
    calendar += "END:VCALENDAR\r\n"
    message = EmailMessage()
    message["From"] = ALICE
    message.set_content(calendar, subtype="calendar", params={"method": "REQUEST"})
    return message.as_bytes()


CASES = {
    "not mime at all": (b"\x00\xff" * 5000, "malformed"),
    "no calendar": (b"From: alice@example.com\r\n\r\nhello\r\n", "malformed"),
    "garbage calendar": (
        invitation().replace(b"BEGIN:VCALENDAR", b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT"),
        "malformed",
    ),
    "nested 40 deep": (_nested(40), "malformed"),
    "nested 5 deep is read": (_nested(5), "booked"),
    "10,000 parts": (_many_parts(10_000), "malformed"),
    "too many VEVENTs": (_many_events(MAX_EVENTS + 1), "malformed"),
    "bad date": (invitation(start="20311345T990000"), "malformed"),
    "end before start": (invitation(start="20310116T150000", end="20310116T140000"), "malformed"),
    "secondly rule": (invitation(rrule="FREQ=SECONDLY;COUNT=1000000000"), "malformed"),
    "bad rule": (invitation(rrule="FREQ=WEEKLY;BYDAY=XX;COUNT=-4"), "malformed"),
    "two UIDs": (
        invitation(extra="BEGIN:VEVENT\r\nUID:other\r\nDTSTART:20310116T140000Z\r\nEND:VEVENT"),
        "malformed",
    ),
    "no METHOD": (invitation(method=""), "malformed"),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_hostile_input_is_bounded_and_books_nothing(mail_env: MailEnv, case: str) -> None:
    raw, outcome = CASES[case]
    started = time.monotonic()
    assert await mail_env.handle(raw) == outcome
    assert time.monotonic() - started < BUDGET_SECONDS
    assert len(await mail_env.bookings()) == (1 if outcome == "booked" else 0)


async def test_a_huge_count_is_bounded_by_the_horizon(mail_env: MailEnv) -> None:
    raw = invitation(
        start="20310116T080000", end="20310116T083000", rrule="FREQ=DAILY;COUNT=2000000000"
    )
    started = time.monotonic()
    assert await mail_env.handle(raw) == "booked"
    assert time.monotonic() - started < BUDGET_SECONDS * 3
    assert len(await mail_env.bookings()) == 30  # 16 Jan .. 14 Feb


async def test_a_series_from_long_ago_still_books_what_lies_ahead(mail_env: MailEnv) -> None:
    raw = invitation(start="19310115T120000", end="19310115T123000", rrule="FREQ=WEEKLY")
    assert await mail_env.handle(raw) == "booked"
    assert len(await mail_env.bookings()) == 5
