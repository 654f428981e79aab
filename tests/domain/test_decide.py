"""decide_changes: new, moved, deleted, recurring and all-day events, with the words."""

from __future__ import annotations

from datetime import UTC, date, datetime
from itertools import count
from zoneinfo import ZoneInfo

import pytest

from domain.plan_model import apply_plan
from spacecal.domain import (
    BookedSpan,
    BusinessRules,
    CalendarEvent,
    CancelBooking,
    CreateBooking,
    EventLink,
    EventStatus,
    EventText,
    EventTime,
    LinkedBooking,
    MoveBooking,
    OpeningHours,
    Plan,
    RefusalCode,
    RefusedTime,
    RemoveMark,
    ResourceRules,
    SyncState,
    decide_changes,
)

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 21, 9, 0, tzinfo=BERLIN)
BUSINESS = BusinessRules(name="Riverside", time_zone="Europe/Berlin")
ROOM = ResourceRules(
    resource_id=1,
    name="Meeting Room A",
    min_booking_minutes=30,
    opening_hours=OpeningHours.from_json(
        {d: [["08:00", "20:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
        | {"sat": [["09:00", "13:00"]]}
    ),
)
DESK = ResourceRules(
    resource_id=2,
    name="Hot Desk 3",
    all_day_bookable=True,
    opening_hours=OpeningHours.from_json(
        {"mon": [["08:00", "12:00"], ["13:00", "18:00"]], "tue": [["08:00", "18:00"]]}
    ),
)


def at(d: int, h: int, mi: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, d, h, mi, tzinfo=BERLIN)


def timed(d: int, h1: int, h2: int) -> EventTime:
    return EventTime.timed(at(d, h1), at(d, h2))


def ev(
    key: str,
    when: EventTime | None,
    *,
    status: EventStatus = EventStatus.CONFIRMED,
    title: str = "Team sync",
    description: str = "",
    series: str | None = None,
    changed: int = 0,
) -> CalendarEvent:
    return CalendarEvent(
        key=key,
        status=status,
        time=when,
        series_id=series,
        title=title,
        description=description,
        changed_at=datetime(2026, 11, 21, 8, 0, changed, tzinfo=UTC),
    )


def gone(key: str) -> CalendarEvent:
    return CalendarEvent(key=key, status=EventStatus.CANCELLED)


def booked(key: str, booking_id: int, d: int, h1: int, h2: int, version: int = 1) -> EventLink:
    return EventLink(key, LinkedBooking(booking_id, at(d, h1), at(d, h2), version))


def state_of(*links: EventLink, others: tuple[BookedSpan, ...] = ()) -> SyncState:
    spans = tuple(
        BookedSpan(link.booking.booking_id, link.booking.start, link.booking.end)
        for link in links
        if link.booking is not None
    )
    return SyncState(links={link.event_key: link for link in links}, live_bookings=spans + others)


def decide(events: list[CalendarEvent], state: SyncState, resource: ResourceRules = ROOM) -> Plan:
    return decide_changes(events, state, resource, BUSINESS, now=NOW)


OTHER_MEMBER = (BookedSpan(99, at(23, 10), at(23, 11)),)


# --- new events -----------------------------------------------------------------------


def test_new_event_books() -> None:
    plan = decide([ev("e1", timed(23, 9, 10))], state_of())
    assert plan.create == (CreateBooking("e1", at(23, 9), at(23, 10), False, None),)
    assert not (plan.mark_refused or plan.move or plan.cancel)


def test_tentative_event_books_tentatively_and_holds_the_slot() -> None:
    plan = decide(
        [
            ev("e1", timed(23, 9, 10), status=EventStatus.TENTATIVE, changed=1),
            ev("e2", timed(23, 9, 10), changed=2),
        ],
        state_of(),
    )
    assert plan.create == (CreateBooking("e1", at(23, 9), at(23, 10), True, None),)
    assert [m.refusal.message for m in plan.mark_refused] == [
        "Not booked: Meeting Room A is taken 09:00–10:00"
    ]


REFUSED_NEW = [
    (
        "overlap",
        timed(23, 10, 11),
        RefusalCode.OVERLAP,
        "Not booked: Meeting Room A is taken 10:00–11:00",
    ),
    (
        "closed",
        timed(22, 10, 11),
        RefusalCode.OUTSIDE_OPENING_HOURS,
        "Not booked: Meeting Room A is closed on Sundays",
    ),
    ("past", timed(20, 10, 11), RefusalCode.IN_PAST, "Not booked: that time is in the past"),
    (
        "short",
        EventTime.timed(at(23, 12), at(23, 12, 15)),
        RefusalCode.TOO_SHORT,
        "Not booked: Meeting Room A needs a booking of at least 30 minutes",
    ),
    (
        "step",
        EventTime.timed(at(23, 12, 5), at(23, 13)),
        RefusalCode.SLOT_STEP,
        "Not booked: Meeting Room A can only be booked in steps of 15 minutes",
    ),
    (
        "far",
        EventTime.timed(
            datetime(2027, 3, 1, 9, tzinfo=BERLIN), datetime(2027, 3, 1, 10, tzinfo=BERLIN)
        ),
        RefusalCode.TOO_FAR_AHEAD,
        "Not booked: Meeting Room A can be booked at most 90 days ahead (until Fri 19 Feb 2027)",
    ),
    (
        "all day",
        EventTime.days(date(2026, 11, 23), date(2026, 11, 24)),
        RefusalCode.ALL_DAY_NOT_ALLOWED,
        "Not booked: Meeting Room A cannot be booked for a whole day; "
        "give the event a start and end time",
    ),
]


@pytest.mark.parametrize(
    ("when", "code", "message"), [c[1:] for c in REFUSED_NEW], ids=[c[0] for c in REFUSED_NEW]
)
def test_refused_new_event_stays_marked(when: EventTime, code: RefusalCode, message: str) -> None:
    plan = decide([ev("e1", when, description="Agenda: budget")], state_of(others=OTHER_MEMBER))
    assert plan.create == ()
    (mark,) = plan.mark_refused
    assert (mark.event_key, mark.refusal.code, mark.refusal.message) == ("e1", code, message)
    assert mark.text == EventText(
        "⚠ Not booked: Team sync", f"[spacecal] {message}\n\nAgenda: budget"
    )
    assert mark.refused_time == when


def test_member_not_allowed_and_not_bookable() -> None:
    plan = decide_changes(
        [ev("e1", timed(23, 9, 10))], state_of(), ROOM, BUSINESS, now=NOW, member_allowed=False
    )
    assert [m.refusal.message for m in plan.mark_refused] == [
        "Not booked: you are not allowed to book Meeting Room A"
    ]
    closed = ResourceRules(resource_id=1, name="Meeting Room A", bookable=False)
    plan = decide([ev("e1", timed(23, 9, 10))], state_of(), closed)
    assert [m.refusal.message for m in plan.mark_refused] == [
        "Not booked: Meeting Room A cannot be booked"
    ]


def test_competing_new_events_earlier_change_wins_then_lower_key() -> None:
    events = [
        ev("b", timed(23, 9, 10), changed=1),
        ev("a", timed(23, 9, 10), changed=2),
        ev("c", timed(23, 9, 11), changed=1),
    ]
    plan = decide(events, state_of())
    assert [c.event_key for c in plan.create] == ["b"]
    assert [(m.event_key, m.refusal.message) for m in plan.mark_refused] == [
        ("c", "Not booked: Meeting Room A is taken 09:00–10:00"),
        ("a", "Not booked: Meeting Room A is taken 09:00–10:00"),
    ]
    assert decide(list(reversed(events)), state_of()) == plan


def test_refused_event_moved_to_free_slot_books_and_loses_its_mark() -> None:
    refused = EventLink("e1", None, RefusedTime(timed(23, 10, 11), "Not booked: x"))
    event = ev(
        "e1",
        timed(23, 12, 13),
        title="⚠ Not booked: Team sync",
        description="[spacecal] Not booked: Meeting Room A is taken 10:00–11:00\n\nAgenda",
    )
    plan = decide([event], state_of(refused, others=OTHER_MEMBER))
    assert plan.create == (CreateBooking("e1", at(23, 12), at(23, 13), False, None),)
    assert plan.remove_marks == (RemoveMark("e1", EventText("Team sync", "Agenda")),)


def test_refused_event_moved_to_another_bad_slot_is_marked_again_once() -> None:
    refused = EventLink("e1", None, RefusedTime(timed(23, 10, 11), "Not booked: x"))
    event = ev(
        "e1",
        timed(22, 10, 11),
        title="⚠ Not booked: Team sync",
        description="[spacecal] Not booked: Meeting Room A is taken 10:00–11:00",
    )
    (mark,) = decide([event], state_of(refused, others=OTHER_MEMBER)).mark_refused
    assert mark.text == EventText(
        "⚠ Not booked: Team sync", "[spacecal] Not booked: Meeting Room A is closed on Sundays"
    )


def test_our_marks_echo_is_not_a_members_edit() -> None:
    refused = EventLink("e1", None, RefusedTime(timed(23, 10, 11), "Not booked: x"))
    echo = ev(
        "e1",
        timed(23, 10, 11),
        title="⚠ Not booked: Team sync",
        description="[spacecal] Not booked: Meeting Room A is taken 10:00–11:00",
        changed=5,
    )
    assert decide([echo], state_of(refused, others=OTHER_MEMBER)).is_empty


# --- moves --------------------------------------------------------------------------


def test_move_to_free_slot_moves_the_booking() -> None:
    plan = decide([ev("e1", timed(23, 14, 15))], state_of(booked("e1", 5, 23, 9, 10, version=3)))
    assert plan.move == (MoveBooking("e1", 5, 3, at(23, 14), at(23, 15), False),)


def test_refused_move_is_put_back_with_a_note() -> None:
    plan = decide(
        [ev("e1", timed(23, 10, 11), description="Agenda")],
        state_of(booked("e1", 5, 23, 9, 10), others=OTHER_MEMBER),
    )
    (back,) = plan.put_back
    assert (back.booking_id, back.start, back.end) == (5, at(23, 9), at(23, 10))
    assert back.refusal.code is RefusalCode.OVERLAP
    assert back.text == EventText(
        "Team sync",
        "[spacecal] Not moved: Meeting Room A is taken 10:00–11:00. "
        "Still booked Mon 23 Nov 09:00–10:00.\n\nAgenda",
    )
    assert plan.move == ()


def test_put_back_echo_clears_the_refusal_and_keeps_the_note() -> None:
    state = state_of(
        EventLink(
            "e1",
            LinkedBooking(5, at(23, 9), at(23, 10), 1),
            RefusedTime(timed(23, 10, 11), "Not booked: x"),
        ),
        others=OTHER_MEMBER,
    )
    echo = ev("e1", timed(23, 9, 10), description="[spacecal] Not moved: ...\n\nAgenda")
    plan = decide([echo], state)
    assert plan.forget == ("e1",)
    assert plan.remove_marks == ()
    # The member tries the same refused time again later: decided again, not skipped.
    after = apply_plan(state, plan, new_booking_ids=count(100))
    again = decide([ev("e1", timed(23, 10, 11), changed=9)], after)
    assert len(again.put_back) == 1


def test_a_move_may_use_a_slot_freed_by_another_move_in_the_same_pull() -> None:
    state = state_of(booked("a", 1, 23, 9, 10), booked("b", 2, 23, 10, 11))
    plan = decide(
        [ev("a", timed(23, 10, 11), changed=1), ev("b", timed(23, 11, 12), changed=2)], state
    )
    assert [(m.event_key, m.start) for m in plan.move] == [("b", at(23, 11)), ("a", at(23, 10))]
    assert plan.put_back == ()


def test_a_creation_may_use_a_slot_freed_by_a_cancellation_in_the_same_pull() -> None:
    state = state_of(booked("old", 1, 23, 9, 10))
    plan = decide([ev("new", timed(23, 9, 10), changed=1), gone("old")], state)
    assert plan.cancel == (CancelBooking("old", 1, 1),)
    assert [c.event_key for c in plan.create] == ["new"]


def test_running_booking_can_be_extended() -> None:
    state = state_of(booked("e1", 5, 21, 9, 10))
    longer = [ev("e1", EventTime.timed(at(21, 9), at(21, 11)))]
    plan = decide_changes(longer, state, ROOM, BUSINESS, now=at(21, 9, 40))
    assert plan.move == (MoveBooking("e1", 5, 1, at(21, 9), at(21, 11), False),)
    # Moving the start of a running booking is a move into the past.
    earlier = [ev("e1", EventTime.timed(at(21, 9, 15), at(21, 11)))]
    plan = decide_changes(earlier, state, ROOM, BUSINESS, now=at(21, 9, 40))
    assert [b.refusal.message for b in plan.put_back] == ["Not booked: that time is in the past"]


def test_tentative_change_updates_the_booking_in_place() -> None:
    state = state_of(booked("e1", 5, 23, 9, 10))
    plan = decide([ev("e1", timed(23, 9, 10), status=EventStatus.TENTATIVE)], state)
    assert plan.move == (MoveBooking("e1", 5, 1, at(23, 9), at(23, 10), True),)


# --- deletions ------------------------------------------------------------------------


def test_deleted_event_cancels_its_booking() -> None:
    plan = decide([gone("e1")], state_of(booked("e1", 5, 23, 9, 10, version=2)))
    assert plan.cancel == (CancelBooking("e1", 5, 2),)


def test_deleted_refused_event_is_forgotten_and_unknown_deletions_ignored() -> None:
    refused = EventLink("e1", None, RefusedTime(timed(23, 10, 11), "Not booked: x"))
    plan = decide([gone("e1"), gone("never-seen")], state_of(refused))
    assert plan.forget == ("e1",)
    assert plan.cancel == ()


def test_event_of_a_booking_cancelled_elsewhere_is_not_revived() -> None:
    link = EventLink("e1", LinkedBooking(5, at(23, 9), at(23, 10), 2, cancelled=True))
    assert decide([ev("e1", timed(23, 12, 13))], state_of()).create  # sanity: would book
    assert decide([ev("e1", timed(23, 12, 13))], SyncState(links={"e1": link})).is_empty


def test_duplicates_latest_version_wins_and_a_deletion_is_final() -> None:
    state = state_of(booked("e1", 5, 23, 9, 10))
    v1 = ev("e1", timed(23, 12, 13), changed=1)
    v2 = ev("e1", timed(23, 14, 15), changed=2)
    plan = decide([v2, v1, v2, v1], state)
    assert [m.start for m in plan.move] == [at(23, 14)]
    assert decide([v2, gone("e1"), v1], state).cancel == (CancelBooking("e1", 5, 1),)


# --- recurring events -----------------------------------------------------------------


def test_series_instances_are_decided_one_by_one() -> None:
    instances = [
        ev(f"s_{d}", timed(d, 10, 11), series="s")
        for d in (23, 24, 25)  # Mon, Tue, Wed
    ]
    plan = decide(instances, state_of(others=OTHER_MEMBER))  # Monday 10-11 is taken
    assert [(c.event_key, c.repeat_series_id) for c in plan.create] == [
        ("s_24", "s"),
        ("s_25", "s"),
    ]
    assert [(m.event_key, m.refusal.message) for m in plan.mark_refused] == [
        ("s_23", "Not booked: Meeting Room A is taken 10:00–11:00")
    ]


def test_series_instances_beyond_the_horizon_are_deferred_not_refused() -> None:
    far = EventTime.timed(
        datetime(2027, 3, 1, 10, tzinfo=BERLIN), datetime(2027, 3, 1, 11, tzinfo=BERLIN)
    )
    plan = decide([ev("s_far", far, series="s"), ev("single", far)], state_of())
    assert plan.deferred == ("s_far",)
    assert [m.event_key for m in plan.mark_refused] == ["single"]


def test_moved_and_cancelled_instances_and_a_whole_series_edit() -> None:
    state = state_of(
        booked("s_23", 1, 23, 10, 11),
        booked("s_24", 2, 24, 10, 11),
        booked("s_25", 3, 25, 10, 11),
    )
    # One instance moved, one cancelled.
    plan = decide(
        [ev("s_23", timed(23, 14, 15), series="s"), CalendarEvent("s_24", EventStatus.CANCELLED)],
        state,
    )
    assert [(m.event_key, m.start) for m in plan.move] == [("s_23", at(23, 14))]
    assert [c.event_key for c in plan.cancel] == ["s_24"]
    # The whole series moved by an hour arrives as old instances gone, new ones added:
    # the new 10:00-11:00... instances may reuse the freed slots.
    edit = [gone(f"s_{d}") for d in (23, 24, 25)] + [
        ev(f"s2_{d}", timed(d, 10, 12), series="s2") for d in (23, 24, 25)
    ]
    plan = decide(edit, state)
    assert [c.booking_id for c in plan.cancel] == [1, 2, 3]
    assert [(c.event_key, c.start, c.end) for c in plan.create] == [
        (f"s2_{d}", at(d, 10), at(d, 12)) for d in (23, 24, 25)
    ]


# --- all-day --------------------------------------------------------------------------


def test_all_day_books_the_days_opening_hours_when_allowed() -> None:
    plan = decide(
        [ev("d1", EventTime.days(date(2026, 11, 23), date(2026, 11, 24)))], state_of(), DESK
    )
    # Monday 08:00-12:00 and 13:00-18:00: first opening to last closing.
    assert plan.create == (CreateBooking("d1", at(23, 8), at(23, 18), False, None),)


ALL_DAY_REFUSED = [
    (
        "closed",
        date(2026, 11, 25),
        date(2026, 11, 26),
        "Not booked: Hot Desk 3 is closed on Wednesdays",
    ),
    (
        "two days",
        date(2026, 11, 23),
        date(2026, 11, 25),
        "Not booked: Hot Desk 3 can be booked for one whole day at a time; "
        "make one all-day event per day",
    ),
    ("past", date(2026, 11, 17), date(2026, 11, 18), "Not booked: that time is in the past"),
]


@pytest.mark.parametrize(
    ("first", "end", "message"),
    [c[1:] for c in ALL_DAY_REFUSED],
    ids=[c[0] for c in ALL_DAY_REFUSED],
)
def test_all_day_refusals(first: date, end: date, message: str) -> None:
    plan = decide([ev("d1", EventTime.days(first, end))], state_of(), DESK)
    assert [m.refusal.message for m in plan.mark_refused] == [message]


def test_all_day_overlap_names_the_taken_span() -> None:
    taken = (BookedSpan(7, at(24, 9), at(24, 10)),)
    plan = decide(
        [ev("d1", EventTime.days(date(2026, 11, 24), date(2026, 11, 25)))],
        state_of(others=taken),
        DESK,
    )
    assert [m.refusal.message for m in plan.mark_refused] == [
        "Not booked: Hot Desk 3 is taken 09:00–10:00"
    ]


# --- idempotence ----------------------------------------------------------------------


def test_applying_the_plan_then_deciding_again_is_empty() -> None:
    state = state_of(
        booked("m", 1, 23, 9, 10),
        booked("gone", 2, 23, 12, 13),
        booked("back", 3, 23, 14, 15),
        others=OTHER_MEMBER,
    )
    events = [
        ev("m", timed(23, 16, 17)),
        gone("gone"),
        ev("back", timed(23, 10, 11)),
        ev("new", timed(23, 12, 13)),
        ev("bad", timed(22, 12, 13)),
    ]
    plan = decide(events, state)
    assert (len(plan.move), len(plan.cancel), len(plan.put_back)) == (1, 1, 1)
    assert (len(plan.create), len(plan.mark_refused)) == (1, 1)
    after = apply_plan(state, plan, new_booking_ids=count(100))
    assert decide(events, after) == Plan()
