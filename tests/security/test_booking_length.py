"""Booking length on every path (issue 17 item 9): a crafted portal POST booked a
resource for 77 days because the resource had no MaxBookingLength. The portal now
takes only the times and lengths its page offers, and every path refuses a booking
longer than the resource's MaxBookingLength or, when it sets none,
SPACECAL_DEFAULT_MAX_BOOKING_MINUTES (one day by default)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from tests.support.bookings import live_bookings, tomorrow_at
from tests.support.environments import Env, SyncEnv
from tests.support.portal import find_form, forms

from spacecal.db.models import Booking, Resource


async def bookings_of(env: Env) -> list[tuple[object, object]]:
    async with env.rt.db.engine.connect() as conn:
        return list((await conn.execute(select(Booking.from_time, Booking.to_time))).all())


async def test_the_portal_books_only_what_it_offers(env: Env) -> None:
    b = env.browser
    await b.sign_in("alice@example.com")
    desk = env.space.desk_id  # no MaxBookingLength, open around the clock
    page = await b.get(f"/portal/bookings?resource={desk}")
    pick = find_form(page.text, "/portal/bookings")
    day = tomorrow_at(0).date().isoformat()
    page = await b.submit(pick, resource=str(desk), day=day, length="60")
    slot = next(
        f for f in forms(page.text) if f.action == "/portal/bookings" and f.method == "post"
    )
    begin = datetime.fromisoformat(slot.fields["start"])
    crafted = [
        begin + timedelta(days=20),  # the review's attack, within the booking horizon
        begin + timedelta(hours=9),  # longer than the page's 8 hours
        begin + timedelta(minutes=50),  # a length not on the list
    ]
    for end in crafted:
        page = await b.submit(slot, end=end.isoformat())
        assert page.status_code == 400, (end, page.text[-500:])
        assert "Not booked: Desk 1 is not offered for that time or length" in page.text
    # Off the resource's step.
    page = await b.submit(
        slot,
        start=(begin + timedelta(minutes=7)).isoformat(),
        end=(begin + timedelta(minutes=67)).isoformat(),
    )
    assert page.status_code == 400
    assert await bookings_of(env) == []
    # What it offered is booked.
    page = await b.submit(slot)
    assert "Booked." in page.text
    assert len(await bookings_of(env)) == 1


async def test_the_api_applies_the_default_longest_booking(env: Env) -> None:
    start = tomorrow_at(9)
    body = {
        "ResourceId": env.space.desk_id,
        "CoworkerId": env.space.alice,
        "FromTime": start.isoformat(),
        "ToTime": (start + timedelta(days=20)).isoformat(),
    }
    answer = await env.api.post("/api/spaces/bookings", json=body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["Errors"][0]
    assert error["PropertyName"] == "ToTime"
    assert error["Message"] == "Not booked: Desk 1 can be booked for at most 24 hours"
    # A day fits (an all-day desk booking); a resource's own MaxBookingLength wins.
    answer = await env.api.post(
        "/api/spaces/bookings", json={**body, "ToTime": (start + timedelta(days=1)).isoformat()}
    )
    assert answer.status_code == 200, answer.text
    async with env.rt.db.engine.begin() as conn:
        await conn.execute(
            update(Resource)
            .where(Resource.id == env.space.desk_id)
            .values(max_booking_minutes=3000)
        )
    later = start + timedelta(days=3)
    answer = await env.api.post(
        "/api/spaces/bookings",
        json={
            **body,
            "FromTime": later.isoformat(),
            "ToTime": (later + timedelta(hours=49)).isoformat(),
        },
    )
    assert answer.status_code == 200, answer.text


async def test_a_calendar_event_of_days_is_refused(sync_env: SyncEnv) -> None:
    member = await sync_env.connect("google", resource="desk")
    start = tomorrow_at(9)
    member.create("Holding the desk", start, start + timedelta(days=5))
    member.create("A long day", start + timedelta(days=6), start + timedelta(days=7))
    await sync_env.settle()
    [booked] = await live_bookings(sync_env)
    assert booked.to_time - booked.from_time == timedelta(days=1)
    refused = next(e for e in member.events() if "Holding the desk" in e.title)
    assert refused.title.startswith("⚠ Not booked: ")
    assert "at most 24 hours" in refused.title + refused.description
