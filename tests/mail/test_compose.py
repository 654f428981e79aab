"""Outgoing mail as a reader parses it: the plain path (ASCII headers on one line)
and the email package's path (anything else) give the same message; no header can
be broken into two (a resource named with a line break)."""

from __future__ import annotations

import email
import email.policy

import pytest

from spacecal.mail.smtp import compose

CALENDAR = b"BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nUID:u=1\r\nEND:VCALENDAR\r\n"


def _read(subject: str) -> email.message.EmailMessage:
    message = compose(
        to="alice@example.com",
        from_address="room-a+abcdefghijklmnop2345@book.riverside.test",
        subject=subject,
        text="Meeting Room A accepted your invitation for Thu 16 Jan 14:00–15:00.\n",
        calendar=CALENDAR,
        method="REPLY",
    )
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


@pytest.mark.parametrize("subject", ["Accepted: Meeting Room A", "Accepted: Salle Réunion"])
def test_both_paths_read_the_same(subject: str) -> None:
    parsed = _read(subject)
    assert parsed["Subject"] == subject
    assert parsed["From"] == "room-a+abcdefghijklmnop2345@book.riverside.test"
    assert parsed["To"] == "alice@example.com"
    assert parsed["Message-ID"].endswith("@book.riverside.test>")
    plain, calendar = [p for p in parsed.walk() if not p.is_multipart()]
    assert plain.get_content() == (
        "Meeting Room A accepted your invitation for Thu 16 Jan 14:00–15:00.\n"
    )
    assert calendar.get_content_type() == "text/calendar"
    assert calendar.get_param("method") == "REPLY"
    assert calendar.get_content().replace("\r\n", "\n") == CALENDAR.decode().replace("\r\n", "\n")


def test_a_line_break_in_a_header_is_refused() -> None:
    with pytest.raises(ValueError):
        _read("Accepted: Room\r\nBcc: everyone@example.com")
