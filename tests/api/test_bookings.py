"""Bookings through the API obey the resource's rules (spacecal.domain.check_booking)
in the business's time zone, and concurrent inserts for one slot have one winner.

Times are relative to spacecal.clock.now() so the tests do not rot."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx2
import pytest
from sqlalchemy import text
from tests.support.api import create

from spacecal import clock
from spacecal.db.engine import Database

LONDON = ZoneInfo("Europe/London")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
WEEKDAYS_PLURAL = tuple(
    f"{d}days" for d in ("Mon", "Tues", "Wednes", "Thurs", "Fri", "Satur", "Sun")
)
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
EVERY_DAY_8_TO_20 = {
    d: [["08:00", "20:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
}


@pytest.fixture
def admin(quick_admin: dict[str, str]) -> dict[str, str]:
    return quick_admin


def local_day(days: int, zone: ZoneInfo = LONDON) -> date:
    return clock.now().astimezone(zone).date() + timedelta(days=days)


def at(days: int, hhmm: str, zone: ZoneInfo = LONDON) -> str:
    """`days` from today in `zone`, at local `hhmm`, as a UTC ISO string with Z."""
    hours, minutes = (int(x) for x in hhmm.split(":"))
    local = datetime.combine(local_day(days, zone), time(hours, minutes), tzinfo=zone)
    return local.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Room:
    business: int
    resource: int
    ada: int


@pytest.fixture
async def room(client: httpx2.AsyncClient, admin: dict[str, str]) -> Room:
    business = await create(
        client, admin, "businesses", {"Name": "Riverside", "TimeZone": "Europe/London"}
    )
    resource = await create(
        client,
        admin,
        "resources",
        {
            "BusinessId": business,
            "Name": "Meeting Room A",
            "MinBookingLength": 30,
            "MaxBookingLength": 120,
            "OpeningHours": EVERY_DAY_8_TO_20,
        },
    )
    ada = await create(
        client,
        admin,
        "coworkers",
        {"FullName": "Ada Lovelace", "Email": "ada@example.com", "BusinessId": business},
    )
    return Room(business, resource, ada)


async def book(
    client: httpx2.AsyncClient,
    admin: dict[str, str],
    resource: int,
    start: str,
    end: str,
    **extra: Any,
) -> httpx2.Response:
    body = {"ResourceId": resource, "FromTime": start, "ToTime": end, **extra}
    return await client.post("/api/spaces/bookings", json=body, headers=admin)


async def get_booking(client: httpx2.AsyncClient, admin: dict[str, str], booking: int) -> Any:
    answer = await client.get(f"/api/spaces/bookings/{booking}", headers=admin)
    assert answer.status_code == 200, answer.text
    return answer.json()


def refusal(answer: httpx2.Response) -> tuple[str, str]:
    assert answer.status_code == 400, answer.text
    envelope = answer.json()
    error = envelope["Errors"][0]
    assert envelope["Message"] == f"{error['PropertyName']}: {error['Message']}"
    return error["PropertyName"], error["Message"]


def day_label(day: date) -> str:
    return f"{WEEKDAYS[day.weekday()]} {day.day} {MONTHS[day.month - 1]} {day.year}"


def plural_weekday(day: date) -> str:
    return WEEKDAYS_PLURAL[day.weekday()]


async def test_a_valid_booking_is_stored_as_sent(
    client: httpx2.AsyncClient, admin: dict[str, str], room: Room
) -> None:
    start, end = at(1, "10:00"), at(1, "11:00")
    answer = await book(
        client, admin, room.resource, start, end, CoworkerId=room.ada, Notes="Board"
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["Message"] == "Booking was successfully created."
    record = await get_booking(client, admin, answer.json()["Value"]["Id"])
    assert record["FromTime"] == start and record["ToTime"] == end
    assert record["ResourceId"] == room.resource and record["CoworkerId"] == room.ada
    assert record["Notes"] == "Board"
    assert record["Tentative"] is False
    assert record["Source"] == "api"
    assert record["Version"] == 1
    assert record["CancelledOn"] is None


def _refusal_cases() -> list[Any]:
    room = "Meeting Room A"
    tomorrow = local_day(1)
    last_day = local_day(90)
    return [
        pytest.param(
            -1, "10:00", "11:00", "FromTime", "Not booked: that time is in the past", id="past",
        ),
        pytest.param(
            100, "10:00", "11:00", "FromTime",
            f"Not booked: {room} can be booked at most 90 days ahead (until {day_label(last_day)})",
            id="too-far-ahead",
        ),
        pytest.param(90, "18:00", "19:00", None, None, id="last-day-is-fine"),
        pytest.param(
            91, "10:00", "11:00", "FromTime",
            f"Not booked: {room} can be booked at most 90 days ahead (until {day_label(last_day)})",
            id="day-after-last-day",
        ),
        pytest.param(
            1, "10:05", "11:05", "FromTime",
            f"Not booked: {room} can only be booked in steps of 15 minutes", id="step-start",
        ),
        pytest.param(
            1, "10:00", "10:50", "ToTime",
            f"Not booked: {room} can only be booked in steps of 15 minutes", id="step-end",
        ),
        pytest.param(
            1, "10:00", "10:15", "ToTime",
            f"Not booked: {room} needs a booking of at least 30 minutes", id="too-short",
        ),
        pytest.param(
            1, "10:00", "12:15", "ToTime",
            f"Not booked: {room} can be booked for at most 2 hours", id="too-long",
        ),
        pytest.param(
            1, "07:00", "08:00", "FromTime",
            f"Not booked: {room} is open 08:00–20:00 on {plural_weekday(tomorrow)}",
            id="before-opening",
        ),
        pytest.param(
            1, "19:30", "20:30", "FromTime",
            f"Not booked: {room} is open 08:00–20:00 on {plural_weekday(tomorrow)}",
            id="after-closing",
        ),
        pytest.param(1, "11:00", "10:00", "ToTime", "must be after FromTime", id="backwards"),
        pytest.param(1, "10:00", "10:00", "ToTime", "must be after FromTime", id="empty"),
    ]  # fmt: skip


@pytest.mark.parametrize(("days", "start", "end", "prop", "message"), _refusal_cases())
async def test_the_resource_rules_apply(
    client: httpx2.AsyncClient,
    admin: dict[str, str],
    room: Room,
    days: int,
    start: str,
    end: str,
    prop: str | None,
    message: str | None,
) -> None:
    answer = await book(client, admin, room.resource, at(days, start), at(days, end))
    if prop is None:
        assert answer.status_code == 200, answer.text
        return
    assert refusal(answer) == (prop, message)
    listing = await client.get("/api/spaces/bookings", headers=admin)
    assert listing.json()["TotalItems"] == 0


async def test_overlaps_are_refused_and_touching_bookings_are_fine(
    client: httpx2.AsyncClient, admin: dict[str, str], room: Room
) -> None:
    first = await book(client, admin, room.resource, at(1, "10:00"), at(1, "11:00"))
    assert first.status_code == 200
    for start, end in (
        ("10:30", "11:30"),
        ("09:30", "10:30"),
        ("10:00", "11:00"),
        ("09:00", "11:00"),
    ):
        answer = await book(client, admin, room.resource, at(1, start), at(1, end))
        assert refusal(answer) == ("FromTime", "Not booked: Meeting Room A is taken 10:00–11:00")
    for start, end in (("09:00", "10:00"), ("11:00", "12:00")):
        answer = await book(client, admin, room.resource, at(1, start), at(1, end))
        assert answer.status_code == 200, answer.text
    # Back-to-back bookings are named as one block.
    answer = await book(client, admin, room.resource, at(1, "09:30"), at(1, "10:30"))
    assert refusal(answer) == ("FromTime", "Not booked: Meeting Room A is taken 09:00–12:00")
    # Another resource is not affected.
    desk = await create(client, admin, "resources", {"BusinessId": room.business, "Name": "Desk"})
    assert (await book(client, admin, desk, at(1, "10:00"), at(1, "11:00"))).status_code == 200


async def test_opening_hours_are_read_in_the_business_time_zone(
    client: httpx2.AsyncClient, admin: dict[str, str]
) -> None:
    new_york = ZoneInfo("America/New_York")
    business = await create(
        client, admin, "businesses", {"Name": "Midtown", "TimeZone": "America/New_York"}
    )
    hours = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    resource = await create(
        client, admin, "resources", {"BusinessId": business, "Name": "Loft", "OpeningHours": hours}
    )
    ok = await book(client, admin, resource, at(2, "09:00", new_york), at(2, "10:00", new_york))
    assert ok.status_code == 200, ok.text
    # 09:00-10:00 UTC is 04:00/05:00 in New York: closed.
    utc_start = at(2, "09:00", ZoneInfo("UTC"))
    answer = await book(client, admin, resource, utc_start, at(2, "10:00", ZoneInfo("UTC")))
    local = datetime.fromisoformat(utc_start).astimezone(new_york).date()
    assert refusal(answer) == (
        "FromTime",
        f"Not booked: Loft is open 09:00–17:00 on {plural_weekday(local)}",
    )


async def test_unbookable_resources_and_members_of_other_businesses(
    client: httpx2.AsyncClient, admin: dict[str, str], room: Room
) -> None:
    closed = await create(
        client,
        admin,
        "resources",
        {"BusinessId": room.business, "Name": "Store", "Bookable": False},
    )
    answer = await book(client, admin, closed, at(1, "10:00"), at(1, "11:00"))
    assert refusal(answer) == ("ResourceId", "Not booked: Store cannot be booked")

    harbour = await create(client, admin, "businesses", {"Name": "Harbour", "TimeZone": "UTC"})
    grace = await create(
        client,
        admin,
        "coworkers",
        {"FullName": "Grace", "Email": "grace@example.com", "BusinessId": harbour},
    )
    answer = await book(
        client, admin, room.resource, at(1, "10:00"), at(1, "11:00"), CoworkerId=grace
    )
    assert refusal(answer) == (
        "CoworkerId",
        "Not booked: you are not allowed to book Meeting Room A",
    )
    answer = await book(client, admin, 999_999, at(1, "10:00"), at(1, "11:00"))
    assert refusal(answer) == ("ResourceId", "no Resource has this Id")
    answer = await book(
        client, admin, room.resource, at(1, "10:00"), at(1, "11:00"), CoworkerId=999_999
    )
    assert refusal(answer) == ("CoworkerId", "no Coworker has this Id")


async def test_form_encoded_bookings_are_accepted(
    client: httpx2.AsyncClient, admin: dict[str, str], room: Room
) -> None:
    form = {"ResourceId": str(room.resource), "FromTime": at(1, "14:00"), "ToTime": at(1, "15:00")}
    answer = await client.post("/api/spaces/bookings", data=form, headers=admin)
    assert answer.status_code == 200, answer.text
    booking = answer.json()["Value"]["Id"]
    record = await get_booking(client, admin, booking)
    assert (record["FromTime"], record["ToTime"]) == (form["FromTime"], form["ToTime"])

    moved = {**form, "Id": str(booking), "FromTime": at(1, "15:00"), "ToTime": at(1, "16:00")}
    answer = await client.put("/api/spaces/bookings", data=moved, headers=admin)
    assert answer.status_code == 200, answer.text
    record = await get_booking(client, admin, booking)
    assert record["FromTime"] == moved["FromTime"]
    assert record["Version"] == 2

    answer = await client.post(
        "/api/spaces/bookings", data={**form, "FromTime": at(1, "14:05")}, headers=admin
    )
    assert refusal(answer)[0] == "FromTime"


async def test_put_moves_a_booking_and_bumps_its_version(
    client: httpx2.AsyncClient, admin: dict[str, str], room: Room
) -> None:
    mine = (await book(client, admin, room.resource, at(1, "10:00"), at(1, "11:00"))).json()
    other = await book(client, admin, room.resource, at(1, "13:00"), at(1, "14:00"))
    assert other.status_code == 200
    booking = mine["Value"]["Id"]
    base = {"Id": booking, "ResourceId": room.resource}

    # Overlapping its own old slot is fine: a booking does not block itself.
    answer = await client.put(
        "/api/spaces/bookings",
        json={**base, "FromTime": at(1, "10:30"), "ToTime": at(1, "11:30")},
        headers=admin,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["Message"] == "Booking was successfully updated."
    record = await get_booking(client, admin, booking)
    assert (record["FromTime"], record["ToTime"], record["Version"]) == (
        at(1, "10:30"),
        at(1, "11:30"),
        2,
    )

    # Onto the other booking: refused, and nothing changes.
    answer = await client.put(
        "/api/spaces/bookings",
        json={**base, "FromTime": at(1, "12:30"), "ToTime": at(1, "13:30")},
        headers=admin,
    )
    assert refusal(answer) == ("FromTime", "Not booked: Meeting Room A is taken 13:00–14:00")
    # Breaking a rule on a move is refused the same way.
    answer = await client.put(
        "/api/spaces/bookings",
        json={**base, "FromTime": at(1, "10:30"), "ToTime": at(1, "13:00")},
        headers=admin,
    )
    assert refusal(answer) == (
        "ToTime",
        "Not booked: Meeting Room A can be booked for at most 2 hours",
    )
    record = await get_booking(client, admin, booking)
    assert (record["FromTime"], record["Version"]) == (at(1, "10:30"), 2)


async def test_delete_cancels_and_frees_the_slot(
    client: httpx2.AsyncClient, admin: dict[str, str], room: Room
) -> None:
    answer = await book(client, admin, room.resource, at(1, "10:00"), at(1, "11:00"))
    booking = answer.json()["Value"]["Id"]

    answer = await client.delete(f"/api/spaces/bookings/{booking}", headers=admin)
    assert answer.status_code == 200
    assert answer.json()["Message"] == "Booking was successfully deleted."
    cancelled = await get_booking(client, admin, booking)
    assert cancelled["CancelledOn"] is not None
    assert cancelled["Version"] == 2

    # A second DELETE is harmless and changes nothing.
    again = await client.delete(f"/api/spaces/bookings/{booking}", headers=admin)
    assert again.status_code == 200
    assert await get_booking(client, admin, booking) == cancelled

    # The slot is free again.
    rebooked = await book(client, admin, room.resource, at(1, "10:00"), at(1, "11:00"))
    assert rebooked.status_code == 200, rebooked.text

    # A cancelled booking cannot be moved.
    answer = await client.put(
        "/api/spaces/bookings",
        json={
            "Id": booking,
            "ResourceId": room.resource,
            "FromTime": at(1, "15:00"),
            "ToTime": at(1, "16:00"),
        },
        headers=admin,
    )
    assert refusal(answer)[0] == "Id"

    live = await client.get(
        "/api/spaces/bookings", params={"Booking_Resource": room.resource}, headers=admin
    )
    assert live.json()["TotalItems"] == 2  # cancelled bookings stay visible, marked


async def test_delete_records_who_cancelled_and_when(
    fixed_clock: Any,
    client: httpx2.AsyncClient,
    admin: dict[str, str],
    quick_user: Any,
    room: Room,
) -> None:
    """A DELETE keeps the row (cancelled), so it must say who cancelled it: the same
    stamps as every other write (spacecal.bookings.cancel)."""
    answer = await book(client, admin, room.resource, at(1, "10:00"), at(1, "11:00"))
    booking = answer.json()["Value"]["Id"]
    made = await get_booking(client, admin, booking)
    assert made["UpdatedBy"] == "admin@example.com"

    fixed_clock.advance(timedelta(minutes=5))
    ops = await quick_user("ops@example.com", full_admin=True)
    assert (await client.delete(f"/api/spaces/bookings/{booking}", headers=ops)).status_code == 200
    cancelled = await get_booking(client, admin, booking)
    assert cancelled["UpdatedBy"] == "ops@example.com"
    assert cancelled["UpdatedOn"] == cancelled["CancelledOn"] != made["UpdatedOn"]


async def test_booking_filters(
    client: httpx2.AsyncClient, admin: dict[str, str], room: Room
) -> None:
    one = (
        await book(
            client, admin, room.resource, at(1, "09:00"), at(1, "10:00"), CoworkerId=room.ada
        )
    ).json()
    two = (await book(client, admin, room.resource, at(2, "09:00"), at(2, "10:00"))).json()
    ids = {"one": one["Value"]["Id"], "two": two["Value"]["Id"]}
    for params, expected in (
        ({"Booking_Coworker": room.ada}, {"one"}),
        ({"Booking_Resource": room.resource}, {"one", "two"}),
        ({"from_Booking_FromTime": at(2, "00:00")[:16]}, {"two"}),
        ({"to_Booking_FromTime": at(1, "09:00")}, {"one"}),
        ({"Booking_Source": "api"}, {"one", "two"}),
        ({"Booking_Version": 1}, {"one", "two"}),
    ):
        answer = await client.get("/api/spaces/bookings", params=params, headers=admin)
        assert answer.status_code == 200, answer.text
        assert {r["Id"] for r in answer.json()["Records"]} == {ids[k] for k in expected}, params


@pytest.mark.parametrize("contenders", [10])
async def test_concurrent_inserts_for_one_slot_have_exactly_one_winner(
    client: httpx2.AsyncClient,
    admin: dict[str, str],
    room: Room,
    database: Database,
    contenders: int,
) -> None:
    # Identical and merely overlapping spans race for the same room; every pair overlaps,
    # so exactly one can win whichever commits first.
    spans = [("10:00", "11:00"), ("10:30", "11:30"), ("10:15", "10:45")]
    answers = await asyncio.gather(
        *(
            book(client, admin, room.resource, at(1, spans[n % 3][0]), at(1, spans[n % 3][1]))
            for n in range(contenders)
        )
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [400] * (contenders - 1), [a.text for a in answers]
    for answer in answers:
        if answer.status_code == 400:
            assert refusal(answer)[0] == "FromTime"
    async with database.engine.connect() as conn:
        live = await conn.scalar(
            text("SELECT count(*) FROM bookings WHERE cancelled_at IS NULL AND resource_id = :r"),
            {"r": room.resource},
        )
    assert live == 1


async def test_a_refusal_offers_what_is_free_instead(
    client: httpx2.AsyncClient, admin: dict[str, str], room: Room
) -> None:
    other = await create(
        client,
        admin,
        "resources",
        {"BusinessId": room.business, "Name": "Meeting Room B", "OpeningHours": EVERY_DAY_8_TO_20},
    )
    hidden = await create(
        client,
        admin,
        "resources",
        {"BusinessId": room.business, "Name": "Meeting Room C", "Visible": False},
    )
    desk = await create(
        client,
        admin,
        "resources",
        {"BusinessId": room.business, "Name": "Desk 1", "ResourceType": "desk"},
    )
    for start, end in (("08:00", "10:00"), ("10:00", "11:00"), ("12:00", "14:00")):
        answer = await book(client, admin, room.resource, at(1, start), at(1, end))
        assert answer.status_code == 200, answer.text
    answer = await book(client, admin, room.resource, at(1, "10:00"), at(1, "11:00"))
    assert refusal(answer) == ("FromTime", "Not booked: Meeting Room A is taken 08:00–11:00")
    body = answer.json()
    # Nexudus' shape is intact; the alternatives are one extra field.
    assert set(body) == {"Status", "Message", "Value", "WasSuccessful", "Errors", "Alternatives"}
    assert body["Alternatives"] == [
        {
            "ResourceId": room.resource,
            "ResourceName": "Meeting Room A",
            "FromTime": at(1, "11:00"),
            "ToTime": at(1, "12:00"),
        },
        {
            "ResourceId": room.resource,
            "ResourceName": "Meeting Room A",
            "FromTime": at(1, "14:00"),
            "ToTime": at(1, "15:00"),
        },
        {
            "ResourceId": other,
            "ResourceName": "Meeting Room B",
            "FromTime": at(1, "10:00"),
            "ToTime": at(1, "11:00"),
        },
    ]
    assert {a["ResourceId"] for a in body["Alternatives"]}.isdisjoint({hidden, desk})
    # Each one books.
    for offered in body["Alternatives"]:
        made = await book(
            client, admin, offered["ResourceId"], offered["FromTime"], offered["ToTime"]
        )
        assert made.status_code == 200, made.text
    # A refusal no other time helps (too long) offers nothing; other errors carry no field.
    answer = await book(client, admin, room.resource, at(2, "08:00"), at(2, "12:00"))
    assert refusal(answer)[0] == "ToTime" and answer.json()["Alternatives"] == []
    answer = await client.get("/api/spaces/bookings/999999", headers=admin)
    assert "Alternatives" not in answer.json()
