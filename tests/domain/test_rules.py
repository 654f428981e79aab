"""check_booking: every refusal with the exact words the member reads."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from spacecal.domain import BookedSpan, BusinessRules, RefusalCode, ResourceRules, check_booking

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=BERLIN)


NOW = berlin(2026, 11, 21, 9)  # Saturday 21 November 2026, 09:00 in Berlin

TAKEN = [
    BookedSpan(booking_id=7, start=berlin(2026, 11, 23, 10), end=berlin(2026, 11, 23, 11)),
    BookedSpan(booking_id=8, start=berlin(2026, 11, 23, 11), end=berlin(2026, 11, 23, 12)),
    BookedSpan(booking_id=9, start=berlin(2026, 11, 23, 15), end=berlin(2026, 11, 23, 16)),
]

# (case, start, end, code, field, message); None code = booked.
CASES = [
    ("fits", berlin(2026, 11, 23, 9), berlin(2026, 11, 23, 10), None, None, None),
    ("touches a booking", berlin(2026, 11, 23, 12), berlin(2026, 11, 23, 13), None, None, None),
    (
        "ends before start",
        berlin(2026, 11, 23, 10),
        berlin(2026, 11, 23, 9),
        RefusalCode.INVALID_SPAN,
        "ToTime",
        "Not booked: the event must end after it starts",
    ),
    (
        "zero length",
        berlin(2026, 11, 23, 10),
        berlin(2026, 11, 23, 10),
        RefusalCode.INVALID_SPAN,
        "ToTime",
        "Not booked: the event must end after it starts",
    ),
    (
        "in the past",
        berlin(2026, 11, 20, 10),
        berlin(2026, 11, 20, 11),
        RefusalCode.IN_PAST,
        "FromTime",
        "Not booked: that time is in the past",
    ),
    (
        "started before the current slot",
        berlin(2026, 11, 21, 8, 45),
        berlin(2026, 11, 21, 10),
        RefusalCode.IN_PAST,
        "FromTime",
        "Not booked: that time is in the past",
    ),
    ("the current slot", berlin(2026, 11, 21, 9), berlin(2026, 11, 21, 10), None, None, None),
    (
        "past the horizon",
        berlin(2027, 2, 20, 9),
        berlin(2027, 2, 20, 10),
        RefusalCode.TOO_FAR_AHEAD,
        "FromTime",
        "Not booked: Meeting Room A can be booked at most 90 days ahead (until Fri 19 Feb 2027)",
    ),
    ("last day of horizon", berlin(2027, 2, 19, 19), berlin(2027, 2, 19, 20), None, None, None),
    (
        "start off step",
        berlin(2026, 11, 23, 9, 10),
        berlin(2026, 11, 23, 10),
        RefusalCode.SLOT_STEP,
        "FromTime",
        "Not booked: Meeting Room A can only be booked in steps of 15 minutes",
    ),
    (
        "end off step",
        berlin(2026, 11, 23, 9),
        berlin(2026, 11, 23, 9, 50),
        RefusalCode.SLOT_STEP,
        "ToTime",
        "Not booked: Meeting Room A can only be booked in steps of 15 minutes",
    ),
    (
        "too short",
        berlin(2026, 11, 23, 9),
        berlin(2026, 11, 23, 9, 15),
        RefusalCode.TOO_SHORT,
        "ToTime",
        "Not booked: Meeting Room A needs a booking of at least 30 minutes",
    ),
    (
        "too long",
        berlin(2026, 11, 23, 12),
        berlin(2026, 11, 23, 16, 15),
        RefusalCode.TOO_LONG,
        "ToTime",
        "Not booked: Meeting Room A can be booked for at most 4 hours",
    ),
    (
        "before opening",
        berlin(2026, 11, 23, 7),
        berlin(2026, 11, 23, 9),
        RefusalCode.OUTSIDE_OPENING_HOURS,
        "FromTime",
        "Not booked: Meeting Room A is open 08:00–20:00 on Mondays",
    ),
    (
        "across the lunch break",
        berlin(2026, 11, 25, 11),
        berlin(2026, 11, 25, 14),
        RefusalCode.OUTSIDE_OPENING_HOURS,
        "FromTime",
        "Not booked: Meeting Room A is open 08:00–12:00 and 13:00–20:00 on Wednesdays",
    ),
    (
        "closed day",
        berlin(2026, 11, 22, 10),
        berlin(2026, 11, 22, 11),
        RefusalCode.OUTSIDE_OPENING_HOURS,
        "FromTime",
        "Not booked: Meeting Room A is closed on Sundays",
    ),
    (
        "overlap names the joined taken span",
        berlin(2026, 11, 23, 10, 30),
        berlin(2026, 11, 23, 11, 30),
        RefusalCode.OVERLAP,
        "FromTime",
        "Not booked: Meeting Room A is taken 10:00–12:00",
    ),
    (
        "overlap at the end",
        berlin(2026, 11, 23, 14),
        berlin(2026, 11, 23, 15, 30),
        RefusalCode.OVERLAP,
        "FromTime",
        "Not booked: Meeting Room A is taken 15:00–16:00",
    ),
]


@pytest.mark.parametrize(
    ("start", "end", "code", "field", "message"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_check_booking_table(
    room: ResourceRules,
    business: BusinessRules,
    start: datetime,
    end: datetime,
    code: RefusalCode | None,
    field: str | None,
    message: str | None,
) -> None:
    refusal = check_booking(room, business, start, end, now=NOW, live_bookings=TAKEN)
    if code is None:
        assert refusal is None
    else:
        assert refusal is not None
        assert (refusal.code, refusal.field, refusal.message) == (code, field, message)
        assert refusal.message == "Not booked: " + refusal.reason


def test_not_bookable_and_member_not_allowed(room: ResourceRules, business: BusinessRules) -> None:
    start, end = berlin(2026, 11, 23, 9), berlin(2026, 11, 23, 10)
    closed = replace(room, bookable=False)
    refusal = check_booking(closed, business, start, end, now=NOW, live_bookings=[])
    assert refusal is not None
    assert (refusal.code, refusal.field, refusal.message) == (
        RefusalCode.NOT_BOOKABLE,
        "ResourceId",
        "Not booked: Meeting Room A cannot be booked",
    )
    refusal = check_booking(
        room, business, start, end, now=NOW, live_bookings=[], member_allowed=False
    )
    assert refusal is not None
    assert (refusal.code, refusal.field, refusal.message) == (
        RefusalCode.MEMBER_NOT_ALLOWED,
        "CoworkerId",
        "Not booked: you are not allowed to book Meeting Room A",
    )


def test_moved_booking_does_not_block_itself(room: ResourceRules, business: BusinessRules) -> None:
    start, end = berlin(2026, 11, 23, 10, 30), berlin(2026, 11, 23, 11)
    assert (
        check_booking(
            room, business, start, end, now=NOW, live_bookings=TAKEN[:1], ignore_booking_id=7
        )
        is None
    )
    assert check_booking(room, business, start, end, now=NOW, live_bookings=TAKEN[:1]) is not None


def test_running_booking_may_be_extended(room: ResourceRules, business: BusinessRules) -> None:
    start = berlin(2026, 11, 21, 8)  # Saturday opens at 09:00; use an open-all-day room
    open_room = replace(room, opening_hours=replace(room.opening_hours, days=None))
    end = berlin(2026, 11, 21, 10)
    assert (
        check_booking(
            open_room, business, start, end, now=NOW, live_bookings=[], booked_start=start
        )
        is None
    )
    refusal = check_booking(open_room, business, start, end, now=NOW, live_bookings=[])
    assert refusal is not None and refusal.code is RefusalCode.IN_PAST
    # Ending in the past is refused even for a running booking.
    refusal = check_booking(
        open_room,
        business,
        start,
        berlin(2026, 11, 21, 8, 30),
        now=NOW,
        live_bookings=[],
        booked_start=start,
    )
    assert refusal is not None and refusal.code is RefusalCode.IN_PAST


def test_order_of_checks_is_fixed(room: ResourceRules, business: BusinessRules) -> None:
    """Off-step AND too short AND overlapping: the step is reported first."""
    refusal = check_booking(
        room,
        business,
        berlin(2026, 11, 23, 10, 5),
        berlin(2026, 11, 23, 10, 20),
        now=NOW,
        live_bookings=TAKEN,
    )
    assert refusal is not None and refusal.code is RefusalCode.SLOT_STEP


def test_naive_datetimes_are_rejected(room: ResourceRules, business: BusinessRules) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        check_booking(
            room,
            business,
            datetime(2026, 11, 23, 9),
            berlin(2026, 11, 23, 10),
            now=NOW,
            live_bookings=[],
        )
    with pytest.raises(ValueError, match="timezone-aware"):
        check_booking(
            room,
            business,
            berlin(2026, 11, 23, 9),
            berlin(2026, 11, 23, 10),
            now=datetime(2026, 11, 21),
            live_bookings=[],
        )


def test_steps_count_from_local_midnight_in_half_hour_zones() -> None:
    """In Kolkata (UTC+05:30) 10:00 local is 04:30 UTC and is on a 60-minute step."""
    business = BusinessRules(name="Bandra", time_zone="Asia/Kolkata")
    desk = ResourceRules(resource_id=2, name="Desk 4", slot_step_minutes=60)
    start = datetime(2026, 11, 23, 4, 30, tzinfo=UTC)
    assert (
        check_booking(desk, business, start, start + timedelta(hours=1), now=NOW, live_bookings=[])
        is None
    )
    refusal = check_booking(
        desk,
        business,
        start + timedelta(minutes=30),
        start + timedelta(hours=2),
        now=NOW,
        live_bookings=[],
    )
    assert refusal is not None
    assert refusal.message == "Not booked: Desk 4 can only be booked in steps of 1 hour"


def test_overlap_across_midnight_shows_days(business: BusinessRules) -> None:
    desk = ResourceRules(resource_id=3, name="Desk 9")
    taken = [BookedSpan(None, berlin(2026, 11, 23, 22), berlin(2026, 11, 24, 2))]
    refusal = check_booking(
        desk,
        business,
        berlin(2026, 11, 24, 1),
        berlin(2026, 11, 24, 3),
        now=NOW,
        live_bookings=taken,
    )
    assert refusal is not None
    assert refusal.message == "Not booked: Desk 9 is taken Mon 23 Nov 22:00–Tue 24 Nov 02:00"
    taken = [BookedSpan(None, berlin(2026, 11, 23, 22), berlin(2026, 11, 24, 0))]
    refusal = check_booking(
        desk,
        business,
        berlin(2026, 11, 23, 23),
        berlin(2026, 11, 24, 1),
        now=NOW,
        live_bookings=taken,
    )
    assert refusal is not None
    assert refusal.message == "Not booked: Desk 9 is taken 22:00–24:00"


def test_opening_hours_across_midnight_are_joined(business: BusinessRules) -> None:
    from spacecal.domain import OpeningHours

    late = OpeningHours.from_json({"fri": [["18:00", "24:00"]], "sat": [["00:00", "02:00"]]})
    bar = ResourceRules(resource_id=4, name="Bar", opening_hours=late)
    ok = check_booking(
        bar,
        business,
        berlin(2026, 11, 27, 23),
        berlin(2026, 11, 28, 1, 30),
        now=NOW,
        live_bookings=[],
    )
    assert ok is None
    refusal = check_booking(
        bar,
        business,
        berlin(2026, 11, 27, 23),
        berlin(2026, 11, 28, 2, 30),
        now=NOW,
        live_bookings=[],
    )
    assert refusal is not None
    assert refusal.message == "Not booked: Bar is open 18:00–24:00 on Fridays"


def test_durations_in_messages() -> None:
    from spacecal.domain.messages import duration

    assert [duration(m) for m in (1, 15, 60, 90, 120, 1440)] == [
        "1 minute",
        "15 minutes",
        "1 hour",
        "1 hour 30 minutes",
        "2 hours",
        "24 hours",
    ]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"slot_step_minutes": 0}, "slot_step_minutes"),
        ({"min_booking_minutes": 0}, "min_booking_minutes"),
        ({"min_booking_minutes": 60, "max_booking_minutes": 30}, "must not exceed"),
    ],
)
def test_resource_rules_validate(kwargs: dict[str, int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ResourceRules(resource_id=1, name="X", **kwargs)  # type: ignore[arg-type]


def test_business_rules_need_an_iana_zone() -> None:
    with pytest.raises(ValueError, match="unknown IANA time zone"):
        BusinessRules(name="X", time_zone="W. Europe Standard Time")
