"""The booking page: the day's busy times of the chosen resource (anonymous), and a
refusal that offers what is free instead, each one click to book."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from sqlalchemy import insert, select, update
from tests.support.bookings import tomorrow_at
from tests.support.environments import Env
from tests.support.portal import OPEN_ALL_WEEK, forms

from spacecal import clock
from spacecal.db.models import Booking, Business, Resource


async def _room_b(env: Env) -> int:
    now = clock.now()
    async with env.rt.db.engine.begin() as conn:
        rid = await conn.scalar(
            insert(Resource)
            .values(
                business_id=env.space.business_id,
                name="Meeting Room B",
                resource_type="room",
                slot_step_minutes=30,
                opening_hours=OPEN_ALL_WEEK,
                unique_id=uuid.uuid4(),
                created_on=now,
                updated_on=now,
            )
            .returning(Resource.id)
        )
    assert rid is not None
    return int(rid)


async def _book(env: Env, resource: int, who: int, hour: int) -> None:
    start = tomorrow_at(hour)
    answer = await env.api.post(
        "/api/spaces/bookings",
        json={
            "ResourceId": resource,
            "CoworkerId": who,
            "FromTime": start.isoformat(),
            "ToTime": (start + timedelta(hours=1)).isoformat(),
        },
    )
    assert answer.status_code == 200, answer.text


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def test_a_refusal_offers_alternatives_and_one_click_books(env: Env) -> None:
    room_b = await _room_b(env)
    space = env.space
    b = env.browser
    await b.sign_in("alice@example.com")
    day = tomorrow_at(10).date().isoformat()
    page = await b.get(f"/portal/bookings?resource={space.room_id}&day={day}&length=60")
    assert "Nothing is booked on this day yet." in page.text
    ten = tomorrow_at(10).isoformat()
    [slot] = [
        f
        for f in forms(page.text)
        if f.action == "/portal/bookings" and f.method == "post" and f.fields["start"] == ten
    ]
    # Bob takes the slot while Alice looks at the page.
    await _book(env, space.room_id, space.bob, 10)
    page = await b.submit(slot)
    assert page.status_code == 409
    shown = _text(page.text)
    assert "Not booked: Meeting Room A is taken 10:00–11:00" in shown
    label = tomorrow_at(10).strftime("%A %d %B")
    assert f"Free instead, {label}" in shown
    # The page stays on the refused resource and day, its busy time now shown.
    assert f"Free times for Meeting Room A, {label}" in shown
    assert "10:00–11:00 Booked" in shown
    labels = re.findall(r'class="slot alternative">([^<]+)<', page.text)
    assert labels == ["09:00–10:00 here", "11:00–12:00 here", "Meeting Room B 10:00–11:00"]

    # The other room's offer books in one click.
    offers = [f for f in forms(page.text) if f.fields.get("resource_id") == str(room_b)]
    assert len(offers) == 1
    page = await b.submit(offers[0])
    assert page.status_code == 200 and "Booked." in page.text
    async with env.rt.db.engine.connect() as conn:
        mine = (
            await conn.execute(
                select(Booking.resource_id, Booking.from_time, Booking.source).where(
                    Booking.coworker_id == space.alice
                )
            )
        ).one()
    assert (mine.resource_id, mine.from_time, mine.source) == (room_b, tomorrow_at(10), "portal")

    # The day's busy times: Bob's is anonymous, Alice's is hers.
    page = await b.get(f"/portal/bookings?resource={room_b}&day={day}&length=60")
    assert "10:00–11:00 Your booking" in _text(page.text)
    page = await b.get(f"/portal/bookings?resource={space.room_id}&day={day}&length=60")
    shown = _text(page.text)
    assert "10:00–11:00 Booked" in shown
    assert "Bob" not in shown
    # A business that shows names in the calendars' blocks shows them here too.
    async with env.rt.db.engine.begin() as conn:
        await conn.execute(
            update(Business)
            .where(Business.id == space.business_id)
            .values(availability_shows_names=True)
        )
    page = await b.get(f"/portal/bookings?resource={space.room_id}&day={day}&length=60")
    assert "10:00–11:00 Bob Member" in _text(page.text)


async def test_integrations_say_availability_appears_in_the_calendars(env: Env) -> None:
    await env.browser.sign_in("alice@example.com")
    page = await env.browser.get("/portal")
    assert "also show when the room or desk is taken by others" in _text(page.text)
