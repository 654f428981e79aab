"""The token is no secret: every co-attendee sees it with the UID. Only the member's
verified organizer address acts; forgeries change nothing and get no mail."""

from __future__ import annotations

from tests.mail.support import ALICE, CAROL, ROOM, MailEnv, invitation


async def _nothing_happened(env: MailEnv, replies: int = 0) -> None:
    assert await env.bookings() == []
    assert len(env.sink.received) == replies


async def test_an_unverified_organizer_books_nothing_and_gets_no_reply(mail_env: MailEnv) -> None:
    raw = invitation(organizer=CAROL, sender=CAROL, attendees=(CAROL, ROOM))
    assert await mail_env.handle(raw, sender=CAROL) == "refused-sender"
    await _nothing_happened(mail_env)


async def test_a_co_attendee_who_knows_token_and_uid_changes_nothing(mail_env: MailEnv) -> None:
    assert await mail_env.handle(invitation()) == "booked"
    sent = len(mail_env.sink.received)
    # Carol saw the invitation: she sends a "cancel" and a "move" as herself...
    cancel = invitation(method="CANCEL", sequence=5, organizer=CAROL, sender=CAROL)
    assert await mail_env.handle(cancel, sender=CAROL) == "refused-sender"
    move = invitation(sequence=5, start="20310116T170000", end="20310116T180000", sender=CAROL)
    # ...and with Alice as ORGANIZER, but from her own (DKIM-valid) domain.
    assert await mail_env.handle(move, sender=CAROL) == "refused-sender"
    [booking] = await mail_env.bookings()
    assert booking.from_time.hour == 14
    assert len(mail_env.sink.received) == sent


async def test_a_forged_from_failing_dmarc_reject_books_nothing(mail_env: MailEnv) -> None:
    raw = invitation()
    verdict = await mail_env.handle(raw, dkim=(), dmarc="fail", policy="reject")
    assert verdict == "refused-sender"
    await _nothing_happened(mail_env)
    assert await mail_env.handle(raw, dkim=(), dmarc="fail", policy="quarantine") == (
        "refused-sender"
    )
    # A domain publishing p=none is only asking for reports: its mail still counts.
    assert await mail_env.handle(raw, dkim=(), dmarc="fail", policy="none") == "booked"


async def test_a_changed_organizer_of_a_known_uid_is_refused(mail_env: MailEnv) -> None:
    await mail_env.handle(invitation())
    # Alice's second verified address would pass (a), but the UID keeps its organizer.
    other = invitation(sequence=1, organizer="alice@other.test", sender=ALICE)
    assert await mail_env.handle(other) == "refused-sender"
    assert len(await mail_env.bookings()) == 1


async def test_the_room_must_be_an_attendee(mail_env: MailEnv) -> None:
    raw = invitation(attendees=(ALICE, CAROL))  # forwarded to the room, not inviting it
    assert await mail_env.handle(raw) == "refused-sender"
    await _nothing_happened(mail_env)


async def test_a_replaced_token_only_updates_and_cancels_its_uids(mail_env: MailEnv) -> None:
    assert await mail_env.handle(invitation(uid="old@client.test"), address_id=7) == "booked"
    # The member replaced the token from the portal: the old address is not current.
    new_uid = invitation(uid="new@client.test", start="20310117T100000", end="20310117T110000")
    assert await mail_env.handle(new_uid, address_id=7, current=False) == "refused-sender"
    moved = invitation(
        uid="old@client.test", sequence=1, start="20310116T160000", end="20310116T170000"
    )
    assert await mail_env.handle(moved, address_id=7, current=False) == "updated"
    cancel = invitation(uid="old@client.test", method="CANCEL", sequence=2)
    assert await mail_env.handle(cancel, address_id=7, current=False) == "cancelled"
    assert await mail_env.bookings() == []


async def test_the_plain_address_needs_dkim_for_the_from_domain(mail_env: MailEnv) -> None:
    plain = "room-a@book.riverside.test"
    raw = invitation(attendees=(ALICE, plain))
    kwargs = {"address": plain, "coworker": None, "address_id": None}
    assert await mail_env.handle(raw, dkim=(), dmarc="none", policy="", **kwargs) == (
        "refused-sender"
    )
    assert await mail_env.handle(raw, dkim=("relay.test",), **kwargs) == "refused-sender"
    # Sent to others and replayed to the plain address: it is not an attendee.
    replay = invitation(uid="replay@client.test", attendees=(ALICE, CAROL))
    assert await mail_env.handle(replay, **kwargs) == "refused-sender"
    await _nothing_happened(mail_env)
    assert await mail_env.handle(raw, **kwargs) == "booked"
    [reply] = [m for m, _ in mail_env.sink.replies()]
    assert reply["From"] == plain


async def test_the_attendee_may_be_written_with_another_separator_or_case(
    mail_env: MailEnv,
) -> None:
    mail_env.rt.settings = mail_env.rt.settings.model_copy(
        update={"mail_domain": "book.riverside.test"}
    )
    written = "Room-A.ABCDEFGHIJKLMNOP2345@Book.Riverside.Test"
    assert await mail_env.handle(invitation(attendees=(ALICE, written))) == "booked"
    other_token = "room-a+zzzzzzzzzzzzzzzz2345@book.riverside.test"
    raw = invitation(uid="x@client.test", start="20310117T100000", attendees=(ALICE, other_token))
    assert await mail_env.handle(raw.replace(b"20310116T150000", b"20310117T110000")) == (
        "refused-sender"
    )
