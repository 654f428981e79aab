"""Security review: a CANCEL or an update acts on the room only as the room sees it.

A CANCEL sent to someone taken off a meeting (same UID, signed by the organizer's
domain) and resent to the room must not cancel the room; an update that lists one of
the member's room addresses is "the room attends" whichever of them it reached."""

from __future__ import annotations

from sqlalchemy import text
from tests.mail.support import ALICE, CAROL, ROOM, MailEnv, invitation

from spacecal import clock

PLAIN = "room-a@book.riverside.test"
TOKEN = "abcdefghijklmnop2345"


async def _room_addresses(env: MailEnv) -> None:
    """The room's slug, Alice's token for it, and the business's plain-address opt-in."""
    env.rt.settings = env.rt.settings.model_copy(update={"mail_domain": "book.riverside.test"})
    async with env.engine.begin() as conn:
        await conn.execute(
            text("UPDATE resources SET mail_slug = 'room-a' WHERE id = :r"),
            {"r": env.space.room_id},
        )
        await conn.execute(
            text(
                "UPDATE businesses SET invitations_plain_address = true"
                " WHERE id = (SELECT business_id FROM resources WHERE id = :r)"
            ),
            {"r": env.space.room_id},
        )
        await conn.execute(
            text(
                "INSERT INTO invitation_addresses (coworker_id, resource_id, token, created_at)"
                " VALUES (:c, :r, :t, :now)"
            ),
            {"c": env.space.alice, "r": env.space.room_id, "t": TOKEN, "now": clock.now()},
        )


async def test_a_cancel_for_a_removed_attendee_does_not_cancel_the_room(
    mail_env: MailEnv,
) -> None:
    assert await mail_env.handle(invitation(attendees=(ALICE, CAROL, ROOM))) == "booked"
    # Carol was taken off: her client got a signed CANCEL naming only her; she resends it.
    removed = invitation(method="CANCEL", sequence=1, attendees=(CAROL,))
    assert await mail_env.handle(removed) == "ignored"
    assert len(await mail_env.bookings()) == 1
    # The same per instance (RECURRENCE-ID) of a series.
    series = invitation(
        uid="s@client.test",
        rrule="FREQ=DAILY;COUNT=3",
        start="20310120T100000",
        end="20310120T110000",
        attendees=(ALICE, CAROL, ROOM),
    )
    assert await mail_env.handle(series) == "booked"
    one = invitation(
        method="CANCEL",
        uid="s@client.test",
        sequence=1,
        attendees=(CAROL,),
        recurrence_id="20310121T100000Z",
        start="20310121T100000",
        end="20310121T110000",
    )
    assert await mail_env.handle(one) == "ignored"
    assert len(await mail_env.bookings()) == 4
    # A CANCEL naming the room still cancels.
    assert await mail_env.handle(invitation(method="CANCEL", sequence=2)) == "cancelled"
    assert len(await mail_env.bookings()) == 3


async def test_an_update_naming_the_token_address_resent_to_the_plain_one_keeps(
    mail_env: MailEnv,
) -> None:
    await _room_addresses(mail_env)
    plain = {"address": PLAIN, "coworker": None, "address_id": None}
    assert await mail_env.handle(invitation()) == "booked"  # through room-a+token
    # The signed update still lists room-a+token; it is resent to room-a@.
    update = invitation(sequence=1, summary="Renamed")
    assert await mail_env.handle(update, **plain) == "ignored"
    assert len(await mail_env.bookings()) == 1
    cancel = invitation(method="CANCEL", sequence=2)
    assert await mail_env.handle(cancel, **plain) == "cancelled"
    # Booked through the plain address, an update listing the token address keeps too.
    via_plain = invitation(uid="p@client.test", attendees=(ALICE, PLAIN))
    assert await mail_env.handle(via_plain, **plain) == "booked"
    update = invitation(uid="p@client.test", sequence=1, summary="Renamed")
    assert await mail_env.handle(update, **plain) == "ignored"
    assert len(await mail_env.bookings()) == 1
    # Another member's token is not this member's room.
    other = "room-a+zzzzzzzzzzzzzzzz2345@book.riverside.test"
    dropped = invitation(uid="p@client.test", sequence=2, attendees=(ALICE, other))
    assert await mail_env.handle(dropped, **plain) == "cancelled"
