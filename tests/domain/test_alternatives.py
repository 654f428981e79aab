"""Alternatives to a refused request (domain/alternatives.py): examples in the words a
member reads, and properties over zones, DST days, steps, hours and random bookings."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spacecal.domain import (
    Bookable,
    BookedSpan,
    BusinessRules,
    OpeningHours,
    RefusalCode,
    ResourceRules,
    check_booking,
    find_alternatives,
    with_alternatives,
)
from spacecal.domain.alternatives import day_bounds

BERLIN = ZoneInfo("Europe/Berlin")
DAY = date(2026, 11, 23)  # a Monday
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
OPEN = OpeningHours.from_json({d: [["08:00", "18:00"]] for d in ("mon", "tue", "wed")})


def at(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=BERLIN)


def room(rid: int, name: str, step: int = 30, hours: OpeningHours = OPEN) -> ResourceRules:
    return ResourceRules(rid, name, slot_step_minutes=step, opening_hours=hours)


def booked(*spans: tuple[datetime, datetime]) -> tuple[BookedSpan, ...]:
    return tuple(BookedSpan(100 + i, s, e) for i, (s, e) in enumerate(spans))


BUSINESS = BusinessRules("Riverside", "Europe/Berlin")


def test_the_issue_example_in_words() -> None:
    a = Bookable(room(1, "Meeting Room A"), booked((at(8), at(11)), (at(12), at(18))))
    b = Bookable(room(2, "Meeting Room B"))
    found = find_alternatives(a, BUSINESS, at(10), at(11), now=NOW, others=[b])
    assert [(x.resource_name, x.start, x.end, x.here) for x in found] == [
        ("Meeting Room A", at(11), at(12), True),
        ("Meeting Room B", at(10), at(11), False),
    ]
    text = with_alternatives("Not booked: Meeting Room A is taken 08:00–11:00", found, BERLIN)
    assert text == (
        "Not booked: Meeting Room A is taken 08:00–11:00."
        " Free: 11:00–12:00 here; Meeting Room B 10:00–11:00."
    )


def test_nearest_before_and_after_then_another_room() -> None:
    a = Bookable(room(1, "Room A"), booked((at(10), at(11))))
    others = [Bookable(room(3, "Room C")), Bookable(room(2, "Room B"))]
    found = find_alternatives(a, BUSINESS, at(10), at(11), now=NOW, others=others)
    # 09:00 and 11:00 are both an hour away, the earlier first; Room B by name.
    assert [(x.resource_name, x.start) for x in found] == [
        ("Room A", at(9)),
        ("Room A", at(11)),
        ("Room B", at(10)),
    ]


def test_no_other_room_leaves_the_places_to_this_one() -> None:
    a = Bookable(room(1, "Room A"), booked((at(10), at(11))))
    taken_b = Bookable(room(2, "Room B"), booked((at(9), at(12))))
    found = find_alternatives(a, BUSINESS, at(10), at(11), now=NOW, others=[taken_b])
    assert [x.start for x in found] == [at(9), at(11), at(8, 30)]
    assert all(x.here for x in found)


def test_nothing_free_means_no_words_added() -> None:
    full = Bookable(room(1, "Room A"), booked((at(8), at(18))))
    assert find_alternatives(full, BUSINESS, at(10), at(11), now=NOW) == ()
    assert with_alternatives("Not booked: x", (), BERLIN) == "Not booked: x"


def test_a_booking_being_moved_does_not_block_itself() -> None:
    a = Bookable(room(1, "Room A"), booked((at(8), at(11)), (at(11), at(18))))
    found = find_alternatives(a, BUSINESS, at(10), at(11), now=NOW, ignore_booking_id=101)
    assert found and found[0].start == at(11)


def test_outside_opening_hours_offers_the_same_length_inside_them() -> None:
    a = Bookable(room(1, "Room A"))
    found = find_alternatives(a, BUSINESS, at(19), at(20), now=NOW)
    assert [x.start for x in found] == [at(17), at(16, 30), at(16)]


def test_today_offers_nothing_in_the_past() -> None:
    now = at(14, 10).astimezone(UTC)
    a = Bookable(room(1, "Room A"), booked((at(15), at(16))))
    found = find_alternatives(a, BUSINESS, at(15), at(16), now=now)
    assert [x.start for x in found] == [at(14), at(16), at(16, 30)]


# --- properties -------------------------------------------------------------------

ZONES = ["Europe/Berlin", "Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata"]
# Ordinary days and DST-change days (EU 29 Mar / 25 Oct, US 8 Mar, Sydney 5 Apr).
DAYS = [
    date(2026, 11, 23),
    date(2026, 3, 29),
    date(2026, 10, 25),
    date(2026, 3, 8),
    date(2026, 4, 5),
]
PROPS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def hours(draw: st.DrawFn) -> OpeningHours:
    if draw(st.booleans()):
        return OpeningHours.around_the_clock()
    days = {}
    for key in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"):
        start = draw(st.integers(0, 22))
        end = draw(st.integers(start + 1, 24))
        days[key] = [[f"{start:02d}:00", f"{end:02d}:00"]]
    return OpeningHours.from_json(days)


@st.composite
def scene(draw: st.DrawFn) -> tuple[BusinessRules, Bookable, list[Bookable], datetime, datetime]:
    zone_name = draw(st.sampled_from(ZONES))
    zone = ZoneInfo(zone_name)
    business = BusinessRules("Space", zone_name)
    day = draw(st.sampled_from(DAYS))
    count = draw(st.integers(1, 4))
    resources = []
    for rid in range(1, count + 1):
        rules = ResourceRules(
            rid,
            f"Room {rid}",
            slot_step_minutes=draw(st.sampled_from([15, 30, 60])),
            opening_hours=draw(hours()),
        )
        spans = []
        for _ in range(draw(st.integers(0, 6))):
            s = datetime.combine(day, time(0), tzinfo=zone) + timedelta(
                minutes=15 * draw(st.integers(0, 95))
            )
            spans.append((s, s + timedelta(minutes=15 * draw(st.integers(1, 12)))))
        resources.append(Bookable(rules, booked(*spans)))
    start = datetime.combine(day, time(0), tzinfo=zone) + timedelta(
        minutes=15 * draw(st.integers(0, 95))
    )
    end = start + timedelta(minutes=15 * draw(st.integers(1, 12)))
    return business, resources[0], resources[1:], start.astimezone(UTC), end.astimezone(UTC)


def _now(start: datetime) -> datetime:
    return start - timedelta(days=3)


@PROPS
@given(scene())
def test_every_alternative_is_free_open_same_length_same_day(
    s: tuple[BusinessRules, Bookable, list[Bookable], datetime, datetime],
) -> None:
    business, refused, others, start, end = s
    found = find_alternatives(refused, business, start, end, now=_now(start), others=others)
    assert len(found) <= 3
    by_id = {r.rules.resource_id: r for r in (refused, *others)}
    day_start, day_end = day_bounds(business, start)
    for alt in found:
        resource = by_id[alt.resource_id]
        assert alt.here == (alt.resource_id == refused.rules.resource_id)
        assert alt.end - alt.start == end - start
        assert day_start <= alt.start < day_end
        if alt.here:  # the same slot elsewhere may cross midnight as the request does
            assert alt.end <= day_end
        assert alt.start.astimezone(business.zone).date() == start.astimezone(business.zone).date()
        assert resource.rules.opening_hours.contains(alt.start, alt.end, business.zone)
        assert not any(b.start < alt.end and alt.start < b.end for b in resource.bookings)
        assert (
            check_booking(
                resource.rules,
                business,
                alt.start,
                alt.end,
                now=_now(start),
                live_bookings=resource.bookings,
            )
            is None
        )
        if not alt.here:
            assert (alt.start, alt.end) == (start, end)
        else:
            assert alt.start != start
    assert len(set(found)) == len(found)


@PROPS
@given(scene(), st.randoms(use_true_random=False))
def test_the_order_is_deterministic(
    s: tuple[BusinessRules, Bookable, list[Bookable], datetime, datetime], rnd: object
) -> None:
    business, refused, others, start, end = s
    first = find_alternatives(refused, business, start, end, now=_now(start), others=others)
    shuffled = list(others)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    refused_shuffled = Bookable(refused.rules, tuple(reversed(refused.bookings)))
    again = find_alternatives(
        refused_shuffled, business, start, end, now=_now(start), others=shuffled
    )
    assert first == again
    here = [a for a in first if a.here]
    assert here == sorted(here, key=lambda a: (abs(a.start - start), a.start))
    assert [a for a in first if not a.here] == sorted(
        (a for a in first if not a.here), key=lambda a: (a.resource_name, a.resource_id)
    )
    assert first[: len(here)] == tuple(here)


@PROPS
@given(scene())
def test_a_free_room_elsewhere_is_always_offered(
    s: tuple[BusinessRules, Bookable, list[Bookable], datetime, datetime],
) -> None:
    business, refused, others, start, end = s
    found = find_alternatives(refused, business, start, end, now=_now(start), others=others)
    free_elsewhere = [
        o
        for o in others
        if check_booking(o.rules, business, start, end, now=_now(start), live_bookings=o.bookings)
        is None
    ]
    if free_elsewhere:
        assert any(not a.here for a in found)


def test_only_useful_refusals_offer_alternatives() -> None:
    from spacecal.domain import OFFERED_FOR

    assert {RefusalCode.OVERLAP, RefusalCode.OUTSIDE_OPENING_HOURS} == OFFERED_FOR


def test_a_refused_move_note_with_and_without_alternatives() -> None:
    from spacecal.domain import messages

    assert (
        messages.moved_back_note("Room A is taken 12:00–13:00", "Mon 23 Nov 10:00–11:00")
        == "Not moved: Room A is taken 12:00–13:00. Still booked Mon 23 Nov 10:00–11:00."
    )
    assert messages.moved_back_note(
        "Room A is taken 12:00–13:00", "Mon 23 Nov 10:00–11:00", ["11:00–12:00 here"]
    ) == (
        "Not moved: Room A is taken 12:00–13:00. Still booked Mon 23 Nov 10:00–11:00."
        " Free: 11:00–12:00 here."
    )
