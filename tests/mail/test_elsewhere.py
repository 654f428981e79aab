"""A booking made elsewhere for a member who books the room by invitation (and has
no calendar connected for it) reaches them as a REQUEST organised by their room
address; a cancel as a CANCEL; their REPLY is recorded and changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import icalendar
from sqlalchemy import text
from tests.mail.support import ALICE, MailEnv, invitation
from tests.mail.test_decisions import _bob_books

from spacecal import bookings, clock
from spacecal.mail import addresses
from spacecal.mail.sender import send_task

T = lambda *a: datetime(*a, tzinfo=UTC)  # noqa: E731
DOMAIN = "book.riverside.test"


def _reply(uid: str, organizer: str, partstat: str) -> bytes:
    calendar = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//member//EN\r\nMETHOD:REPLY\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nSEQUENCE:1\r\nDTSTAMP:20310115T110000Z\r\n"
        "DTSTART:20310120T090000Z\r\nDTEND:20310120T100000Z\r\n"
        f"ORGANIZER:mailto:{organizer}\r\n"
        f"ATTENDEE;PARTSTAT={partstat}:mailto:{ALICE}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    return (
        f"From: {ALICE}\r\nTo: {organizer}\r\nSubject: Accepted\r\nMIME-Version: 1.0\r\n"
        'Content-Type: text/calendar; method=REPLY; charset="utf-8"\r\n\r\n' + calendar
    ).encode()


async def test_bookings_made_elsewhere_are_sent_and_replies_recorded(mail_env: MailEnv) -> None:
    mail_env.rt.settings = mail_env.rt.settings.model_copy(update={"mail_domain": DOMAIN})
    space = mail_env.space
    await _bob_books(mail_env, T(2031, 1, 20, 12), T(2031, 1, 20, 13))  # not Alice's
    await send_task(mail_env.rt)
    assert mail_env.sink.received == []  # Alice has never booked by invitation
    assert await mail_env.handle(invitation()) == "booked"
    async with mail_env.engine.begin() as conn:
        booking = await bookings.create(
            conn,
            {
                "resource_id": space.room_id,
                "coworker_id": space.alice,
                "from_time": T(2031, 1, 20, 9),
                "to_time": T(2031, 1, 20, 10),
                "source": "portal",
            },
            by=ALICE,
            now=clock.now(),
        )
        room = addresses.address(
            await addresses.slug_of(conn, space.room_id),
            await addresses.current_token(conn, space.alice, space.room_id),
            DOMAIN,
        )
    before = len(mail_env.sink.replies())
    await send_task(mail_env.rt)
    await send_task(mail_env.rt)  # sent once
    [(message, body)] = mail_env.sink.replies()[before:]
    assert (message["From"], message["To"]) == (room, ALICE)
    calendar = icalendar.Calendar.from_ical(body)
    assert calendar["METHOD"] == "REQUEST"
    [event] = calendar.walk("VEVENT")
    uid = str(event["UID"])
    assert event["SEQUENCE"] == 1 and str(event["ORGANIZER"]) == f"mailto:{room}"
    assert event["DTSTART"].dt == T(2031, 1, 20, 9)

    # Alice declines it in her calendar: noted, the booking stays.
    reply = _reply(uid, room, "DECLINED")
    assert await mail_env.handle(reply, address=room) == "recorded"
    async with mail_env.engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT b.cancelled_at, i.partstat FROM bookings b"
                    " JOIN booking_invites i ON i.booking_id = b.id WHERE b.id = :id"
                ),
                {"id": booking},
            )
        ).one()
    assert row.cancelled_at is None and row.partstat == "DECLINED"

    async with mail_env.engine.begin() as conn:
        await bookings.cancel(conn, booking, by="admin", now=clock.now())
    await send_task(mail_env.rt)
    message, body = mail_env.sink.replies()[-1]
    calendar = icalendar.Calendar.from_ical(body)
    assert calendar["METHOD"] == "CANCEL"
    [event] = calendar.walk("VEVENT")
    assert str(event["UID"]) == uid and event["SEQUENCE"] == 2


async def test_an_invitation_booking_cancelled_or_moved_elsewhere_is_declined(
    mail_env: MailEnv,
) -> None:
    mail_env.rt.settings = mail_env.rt.settings.model_copy(update={"mail_domain": DOMAIN})
    assert await mail_env.handle(invitation()) == "booked"
    assert (
        await mail_env.handle(
            invitation(uid="two@client.test", start="20310117T100000", end="20310117T110000")
        )
        == "booked"
    )
    first, second = await mail_env.bookings()
    async with mail_env.engine.begin() as conn:
        await bookings.cancel(conn, first.id, by="admin", now=clock.now())
        await bookings.move(
            conn, second.id, T(2031, 1, 17, 12), T(2031, 1, 17, 13), by="admin", now=clock.now()
        )
    before = len(mail_env.sink.replies())
    await send_task(mail_env.rt)
    await send_task(mail_env.rt)  # once
    found = {}
    requests = []
    for message, body in mail_env.sink.replies()[before:]:
        calendar = icalendar.Calendar.from_ical(body)
        [event] = calendar.walk("VEVENT")
        if calendar["METHOD"] == "REQUEST":
            requests.append((message, event))
            continue
        found[str(event["UID"])] = (event["ATTENDEE"].params["PARTSTAT"], str(event["COMMENT"]))
    # The move is followed by a new REQUEST organised by the room's address, at the
    # booking's new time (issue 21: "a move is a REPLY DECLINED plus a new REQUEST").
    [(message, event)] = requests
    async with mail_env.engine.connect() as conn:
        room = addresses.address(
            await addresses.slug_of(conn, mail_env.space.room_id),
            await addresses.current_token(conn, mail_env.space.alice, mail_env.space.room_id),
            DOMAIN,
        )
    assert (message["From"], message["To"]) == (room, ALICE)
    assert str(event["ORGANIZER"]) == f"mailto:{room}"
    assert str(event["UID"]).startswith("booking-") and str(event["UID"]) != "two@client.test"
    assert (event["DTSTART"].dt, event["DTEND"].dt) == (T(2031, 1, 17, 12), T(2031, 1, 17, 13))
    assert found["uid-1@client.test"] == (
        "DECLINED",
        "The booking of Meeting Room A was cancelled in spacecal.",
    )
    assert found["two@client.test"][0] == "DECLINED"
    assert "moved in spacecal to Fri 17 Jan 12:00–13:00" in found["two@client.test"][1]
    assert len(found) == 2
