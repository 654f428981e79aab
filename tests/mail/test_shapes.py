"""Each client's invitation shape books the room and is answered ACCEPTED, from the
address it reached, to the organizer, without echoing the invitation's text; the
member's registered address gets a confirmation."""

from __future__ import annotations

from datetime import UTC, datetime

import icalendar
import pytest
from tests.mail.support import ALICE, ROOM, MailEnv, fixture

T = lambda *a: datetime(*a, tzinfo=UTC)  # noqa: E731

SINGLE = {
    "google.eml": (T(2031, 1, 16, 14), T(2031, 1, 16, 15), "Design review"),
    # 10:30 in "W. Europe Standard Time" (Berlin, UTC+1 in January)
    "outlook.eml": (T(2031, 1, 17, 9, 30), T(2031, 1, 17, 10, 30), "Budget planning"),
    "apple.eml": (T(2031, 1, 17, 16), T(2031, 1, 17, 17), "1:1 with Bob"),
    "rfc6047.eml": (T(2031, 1, 21, 15), T(2031, 1, 21, 16), "Phone Conference"),
}


@pytest.mark.parametrize("name", sorted(SINGLE))
async def test_each_shape_books_and_is_accepted(mail_env: MailEnv, name: str) -> None:
    start, end, summary = SINGLE[name]
    raw = fixture(name)
    assert await mail_env.handle(raw) == "booked"
    [booking] = await mail_env.bookings()
    assert (booking.from_time, booking.to_time) == (start, end)
    assert booking.source == "invitation"
    assert booking.coworker_id == mail_env.space.alice

    [(reply, body)] = mail_env.sink.replies()
    assert reply["From"] == ROOM
    assert reply["To"] == ALICE
    calendar = icalendar.Calendar.from_ical(body)
    assert calendar["METHOD"] == "REPLY"
    [event] = calendar.walk("VEVENT")
    original = next(iter(icalendar.Calendar.from_ical(_calendar_part(raw)).walk("VEVENT")))
    assert str(event["UID"]) == str(original["UID"])
    assert str(event["ORGANIZER"]).lower() == f"mailto:{ALICE}"
    attendee = event["ATTENDEE"]
    assert str(attendee).lower() == f"mailto:{ROOM}"
    assert attendee.params["PARTSTAT"] == "ACCEPTED"
    assert "DTSTAMP" in event and "SEQUENCE" in event
    whole = b"".join(r for _, _, r in mail_env.sink.received).decode("utf-8", "replace")
    assert summary not in whole
    assert "SUMMARY" not in body and "DESCRIPTION" not in body

    [confirmation] = mail_env.sink.confirmations()
    assert confirmation["To"] == ALICE
    assert "Booked by invitation: Meeting Room A" in confirmation["Subject"]
    assert "If you did not send this invitation" in confirmation.get_content()


async def test_a_thunderbird_series_books_each_instance(mail_env: MailEnv) -> None:
    assert await mail_env.handle(fixture("thunderbird.eml")) == "booked"
    booked = await mail_env.bookings()
    assert [b.from_time for b in booked] == [
        T(2031, 1, 20, 11),
        T(2031, 1, 27, 11),
        T(2031, 2, 3, 11),
    ]
    assert all(b.to_time - b.from_time == (T(2031, 1, 1, 0, 30) - T(2031, 1, 1)) for b in booked)
    [(_, body)] = mail_env.sink.replies()
    [event] = icalendar.Calendar.from_ical(body).walk("VEVENT")
    assert "RECURRENCE-ID" not in event
    assert event["ATTENDEE"].params["PARTSTAT"] == "ACCEPTED"


async def test_the_method_part_is_read_not_an_attached_copy(mail_env: MailEnv) -> None:
    # Thunderbird attaches the same calendar as invite.ics; here the attachment is a
    # reduced copy (one hour, no series): reading it instead would book the wrong thing.
    raw = fixture("thunderbird.eml")
    head, attachment = raw.split(b"Content-disposition: attachment; filename=invite.ics")
    reduced = attachment.replace(b"RRULE:FREQ=WEEKLY;COUNT=3\r\n", b"").replace(
        b"T113000", b"T120000"
    )
    assert b"FREQ=WEEKLY" not in reduced and b"T120000" in reduced
    raw = head + b"Content-disposition: attachment; filename=invite.ics" + reduced
    assert await mail_env.handle(raw) == "booked"
    booked = await mail_env.bookings()
    assert len(booked) == 3
    assert all(b.to_time - b.from_time == (T(2031, 1, 1, 0, 30) - T(2031, 1, 1)) for b in booked)


async def test_the_same_message_twice_books_once(mail_env: MailEnv) -> None:
    raw = fixture("google.eml")
    assert await mail_env.handle(raw) == "booked"
    assert await mail_env.handle(raw) == "ignored"
    assert len(await mail_env.bookings()) == 1
    assert len(mail_env.sink.replies()) == 1


def _calendar_part(raw: bytes) -> bytes:
    from spacecal.mail.ical import calendar_text

    return calendar_text(raw)
