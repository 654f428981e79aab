"""What an invitation decides: conflicts declined with the domain's reason, updates,
reschedules, instance edits and cancels applied in SEQUENCE order; COUNTER and
friends ignored."""

from __future__ import annotations

from datetime import UTC, datetime

import icalendar
from tests.mail.support import ALICE, ROOM, MailEnv, fixture, invitation

from spacecal import bookings, clock

T = lambda *a: datetime(*a, tzinfo=UTC)  # noqa: E731


def _partstats(env: MailEnv) -> list[tuple[str | None, str, str]]:
    found = []
    for _, body in env.sink.replies():
        for event in icalendar.Calendar.from_ical(body).walk("VEVENT"):
            rid = event.get("RECURRENCE-ID")
            found.append(
                (
                    rid.dt.astimezone(UTC).isoformat() if rid else None,
                    event["ATTENDEE"].params["PARTSTAT"],
                    str(event.get("COMMENT", "")),
                )
            )
    return found


async def _bob_books(env: MailEnv, start: datetime, end: datetime) -> int:
    async with env.engine.begin() as conn:
        return await bookings.create(
            conn,
            {
                "resource_id": env.space.room_id,
                "coworker_id": env.space.bob,
                "from_time": start,
                "to_time": end,
                "source": "portal",
            },
            by="bob@example.com",
            now=clock.now(),
        )


async def test_a_conflict_is_declined_with_the_reason(mail_env: MailEnv) -> None:
    await _bob_books(mail_env, T(2031, 1, 16, 13, 30), T(2031, 1, 16, 14, 30))
    assert await mail_env.handle(invitation()) == "declined"
    assert len(await mail_env.bookings()) == 1  # only Bob's
    [(rid, partstat, comment)] = _partstats(mail_env)
    assert rid is None
    assert partstat == "DECLINED"
    assert comment.startswith("Not booked: Meeting Room A is taken 13:30–14:30")
    # The decline offers what is free instead, as every other path does (issue 19).
    assert ". Free: " in comment and "here" in comment
    [(reply, _)] = mail_env.sink.replies()
    text = reply.get_body(preferencelist=("plain",)).get_content()
    assert "taken 13:30–14:30" in text and "Free: " in text


async def test_an_update_keeps_and_a_reschedule_moves(mail_env: MailEnv) -> None:
    assert await mail_env.handle(invitation()) == "booked"
    [first] = await mail_env.bookings()
    # A newer SEQUENCE with the same time (a title change): the booking stays.
    assert await mail_env.handle(invitation(sequence=1, summary="Renamed")) == "ignored"
    # Rescheduled.
    moved = invitation(sequence=2, start="20310116T160000", end="20310116T170000")
    assert await mail_env.handle(moved) == "updated"
    [booking] = await mail_env.bookings()
    assert booking.id == first.id
    assert (booking.from_time, booking.to_time) == (T(2031, 1, 16, 16), T(2031, 1, 16, 17))
    assert booking.version == first.version + 1
    # An older revision arriving late changes nothing.
    assert await mail_env.handle(invitation(sequence=1)) == "ignored"
    [still] = await mail_env.bookings()
    assert still.from_time == T(2031, 1, 16, 16)


async def test_same_sequence_with_a_later_dtstamp_applies(mail_env: MailEnv) -> None:
    await mail_env.handle(invitation())
    later = invitation(dtstamp="20310115T110000Z", start="20310116T150000", end="20310116T160000")
    assert await mail_env.handle(later) == "updated"
    [booking] = await mail_env.bookings()
    assert booking.from_time == T(2031, 1, 16, 15)


async def test_a_refused_move_keeps_the_booking_and_declines(mail_env: MailEnv) -> None:
    await mail_env.handle(invitation())
    await _bob_books(mail_env, T(2031, 1, 16, 16), T(2031, 1, 16, 17))
    moved = invitation(sequence=1, start="20310116T160000", end="20310116T170000")
    assert await mail_env.handle(moved) == "declined"
    mine = [b for b in await mail_env.bookings() if b.coworker_id == mail_env.space.alice]
    assert [b.from_time for b in mine] == [T(2031, 1, 16, 14)]
    _, partstat, comment = _partstats(mail_env)[-1]
    assert partstat == "DECLINED"
    assert comment.startswith("Not moved: Meeting Room A is taken 16:00–17:00. Free: ")
    assert "17:00–18:00 here" in comment


async def test_instance_edit_and_instance_cancel(mail_env: MailEnv) -> None:
    await mail_env.handle(fixture("thunderbird.eml"))
    uid = "9f1a6c3e-2d4b-4c8e-a7f0-3b5d6e8f1a2c"
    edit = invitation(
        uid=uid,
        sequence=1,
        recurrence_id="20310127T110000Z",
        start="20310127T120000",
        end="20310127T123000",
    )
    assert await mail_env.handle(edit) == "updated"
    starts = [b.from_time for b in await mail_env.bookings()]
    assert starts == [T(2031, 1, 20, 11), T(2031, 1, 27, 12), T(2031, 2, 3, 11)]
    assert _partstats(mail_env)[-1][:2] == (T(2031, 1, 27, 11).isoformat(), "ACCEPTED")
    cancel = invitation(
        method="CANCEL",
        uid=uid,
        sequence=2,
        recurrence_id="20310203T110000Z",
        start="20310203T110000",
        end="20310203T113000",
    )
    assert await mail_env.handle(cancel) == "cancelled"
    starts = [b.from_time for b in await mail_env.bookings()]
    assert starts == [T(2031, 1, 20, 11), T(2031, 1, 27, 12)]


async def test_cancel_cancels_and_confirms(mail_env: MailEnv) -> None:
    await mail_env.handle(invitation())
    replies_before = len(mail_env.sink.replies())
    assert await mail_env.handle(invitation(method="CANCEL", sequence=1)) == "cancelled"
    assert await mail_env.bookings() == []
    assert len(mail_env.sink.replies()) == replies_before  # a CANCEL is not answered
    assert mail_env.sink.confirmations()[-1]["Subject"].startswith("Cancelled by invitation")


async def test_a_request_dropping_the_room_cancels(mail_env: MailEnv) -> None:
    await mail_env.handle(invitation())
    dropped = invitation(sequence=1, attendees=(ALICE, "carol@partner.test"))
    assert await mail_env.handle(dropped) == "cancelled"
    assert await mail_env.bookings() == []


async def test_a_series_refusing_some_instances_accepts_and_declines_them(
    mail_env: MailEnv,
) -> None:
    await _bob_books(mail_env, T(2031, 1, 23, 9), T(2031, 1, 23, 10))
    daily = invitation(
        uid="daily@client.test",
        start="20310122T090000",
        end="20310122T100000",
        rrule="FREQ=DAILY;COUNT=3",
    )
    assert await mail_env.handle(daily) == "booked"
    mine = [b for b in await mail_env.bookings() if b.coworker_id == mail_env.space.alice]
    assert [b.from_time for b in mine] == [T(2031, 1, 22, 9), T(2031, 1, 24, 9)]
    stats = _partstats(mail_env)
    assert stats[0][:2] == (None, "ACCEPTED")
    assert stats[1][:2] == (T(2031, 1, 23, 9).isoformat(), "DECLINED")
    assert "taken" in stats[1][2]


async def test_an_unbounded_series_books_up_to_the_horizon(mail_env: MailEnv) -> None:
    weekly = invitation(
        uid="weekly@client.test",
        start="20310116T080000",
        end="20310116T083000",
        rrule="FREQ=WEEKLY",
    )
    assert await mail_env.handle(weekly) == "booked"
    starts = [b.from_time for b in await mail_env.bookings()]
    # The seeded business books 30 days ahead: 16 Jan .. 13 Feb.
    assert starts[0] == T(2031, 1, 16, 8) and starts[-1] == T(2031, 2, 13, 8)
    assert len(starts) == 5
    assert _partstats(mail_env) == [(None, "ACCEPTED", "")]


async def test_counter_refresh_publish_add_declinecounter_are_ignored(mail_env: MailEnv) -> None:
    for method in ("COUNTER", "REFRESH", "PUBLISH", "ADD", "DECLINECOUNTER", "REPLY"):
        assert await mail_env.handle(invitation(method=method)) == "ignored"
    assert await mail_env.bookings() == []
    assert mail_env.sink.received == []


async def test_a_verified_member_without_a_calendar_gets_an_explanation(
    mail_env: MailEnv,
) -> None:
    plain = b"From: alice@example.com\r\nTo: " + ROOM.encode() + b"\r\nSubject: hi\r\n\r\nBook?\r\n"
    assert await mail_env.handle(plain) == "malformed"
    [note] = mail_env.sink.confirmations()
    assert note["To"] == ALICE and "could not be read" in note["Subject"]
    # A stranger gets nothing (no backscatter).
    stranger = plain.replace(b"alice@example.com", b"mallory@evil.test")
    assert await mail_env.handle(stranger, sender="mallory@evil.test") == "malformed"
    assert len(mail_env.sink.received) == 1
