"""Event -> booking decisions for one pull of one calendar.

`decide_changes` takes the events a pull returned and the state spacecal holds,
and returns a `Plan`. The rules, in the order they are applied:

1. Versions: an event may appear several times (Graph delta repeats items). The
   latest version wins, by `changed_at`; a bare deletion without a timestamp
   counts as the latest; remaining ties are broken by content, so the list's order
   never matters.
2. Cancellations first (deleted or cancelled events cancel their bookings), so a
   slot freed in this pull can be taken by a move or a creation in the same pull.
3. Then moves of booked events, in (changed_at, key) order, repeated until no
   further move succeeds (a move may free the slot another move wants). A move
   that still cannot be made is put back at the booked time, with a note.
4. Then creations, in (changed_at, key) order: among events competing for one slot,
   the one changed first (then the lower key) wins; the others are refused and
   marked, and stay refused until the member moves them.
5. An event at a time already decided (its booking's time, or a time already
   refused) is not decided again; that makes a replayed pull, our own marks'
   echoes and applying the same plan twice all no-ops.

Instances of a recurring series are decided one by one, like single events; an
unlinked instance beyond the booking horizon is deferred, not refused (the engine
remembers it and decides it on the day the horizon reaches it). A single event
beyond the horizon is refused at once, and stays refused at that time even once the
horizon reaches it (rule 5): a change of its time is decided afresh (the sync
engine also leaves out the refusal of an event the member edited since its mark).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from spacecal.domain import messages
from spacecal.domain.allday import all_day_span
from spacecal.domain.events import CalendarEvent, EventLink, EventTime, LinkedBooking, SyncState
from spacecal.domain.marks import mark_refused, strip_mark, with_note
from spacecal.domain.opening_hours import local_minute_to_utc
from spacecal.domain.plan import (
    CancelBooking,
    CreateBooking,
    MarkRefused,
    MoveBooking,
    Plan,
    PutBack,
    RemoveMark,
)
from spacecal.domain.rules import (
    BookedSpan,
    BusinessRules,
    Refusal,
    ResourceRules,
    check_booking,
    last_bookable_day_end,
    require_aware,
)

_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


def _version_rank(event: CalendarEvent) -> tuple[datetime, bool, str]:
    if event.changed_at is not None:
        when = event.changed_at.astimezone(UTC)
    else:
        when = _LATEST if event.cancelled else _EARLIEST
    return (when, event.cancelled, repr(event))


def latest_versions(events: Iterable[CalendarEvent]) -> dict[str, CalendarEvent]:
    """One version per event key: the latest (see the module docstring)."""
    latest: dict[str, CalendarEvent] = {}
    for event in events:
        seen = latest.get(event.key)
        if seen is None or _version_rank(event) > _version_rank(seen):
            latest[event.key] = event
    return latest


def _order(event: CalendarEvent) -> tuple[datetime, str]:
    return (
        event.changed_at.astimezone(UTC) if event.changed_at is not None else _EARLIEST,
        event.key,
    )


class _Live:
    """The live bookings as the decisions of this pull change them.

    Also kept sorted by start, with the longest duration seen, so `around` finds the
    bookings overlapping a span by bisection instead of a scan of every booking per
    event (quadratic over an initial sync of thousands of events)."""

    def __init__(self, spans: list[BookedSpan]) -> None:
        self.spans = spans
        self._starts: list[tuple[datetime, int]] = []  # (start, index into _by_index)
        self._by_index: list[BookedSpan | None] = []
        self._longest = timedelta(0)
        for span in spans:
            self._index(span)

    def _index(self, span: BookedSpan) -> None:
        bisect.insort(self._starts, (span.start.astimezone(UTC), len(self._by_index)))
        self._by_index.append(span)
        self._longest = max(self._longest, span.end - span.start)

    def remove(self, booking_id: int) -> None:
        self.spans = [s for s in self.spans if s.booking_id != booking_id]
        for i, span in enumerate(self._by_index):
            if span is not None and span.booking_id == booking_id:
                self._by_index[i] = None

    def add(self, span: BookedSpan) -> None:
        self.spans.append(span)
        self._index(span)

    def around(self, start: datetime, end: datetime, ignore: int | None) -> list[BookedSpan]:
        """What the overlap check must see for [start, end): every live booking when
        one (other than `ignore`) overlaps, since touching bookings join into the
        block the refusal names; none when nothing overlaps (the check's answer is
        the same either way)."""
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        low = bisect.bisect_left(self._starts, (start - self._longest, -1))
        high = bisect.bisect_left(self._starts, (end, -1))
        for _, i in self._starts[low:high]:
            span = self._by_index[i]
            if span is None or (ignore is not None and span.booking_id == ignore):
                continue
            if span.start < end and start < span.end:
                return self.spans
        return []


@dataclass(frozen=True)
class _Candidate:
    event: CalendarEvent
    when: EventTime
    link: EventLink | None
    booking: LinkedBooking | None


def _live_booking(link: EventLink | None) -> LinkedBooking | None:
    if link is None or link.booking is None or link.booking.cancelled:
        return None
    return link.booking


class _Decider:
    def __init__(
        self,
        resource: ResourceRules,
        business: BusinessRules,
        state: SyncState,
        now: datetime,
        member_allowed: bool,
    ) -> None:
        self.resource = resource
        self.business = business
        self.state = state
        self.now = now
        self.member_allowed = member_allowed
        self.live = _Live(list(state.live_bookings))
        self.horizon_end = last_bookable_day_end(business, now)

    def evaluate(
        self, when: EventTime, booking: LinkedBooking | None
    ) -> tuple[datetime, datetime] | Refusal:
        ignore = booking.booking_id if booking is not None else None
        if when.all_day:
            return all_day_span(
                self.resource,
                self.business,
                when,
                now=self.now,
                live_bookings=self.live.spans,
                ignore_booking_id=ignore,
                member_allowed=self.member_allowed,
            )
        refusal = check_booking(
            self.resource,
            self.business,
            when.start,
            when.end,
            now=self.now,
            live_bookings=self.live.around(when.start, when.end, ignore),
            ignore_booking_id=ignore,
            member_allowed=self.member_allowed,
            booked_start=booking.start if booking is not None else None,
        )
        return refusal if refusal is not None else (when.start, when.end)

    def booked_time(self, when: EventTime) -> EventTime:
        """The time a booking for `when` would have: an all-day event books its
        day's opening hours, so that is what "already booked" is compared with."""
        if not when.all_day or when.day_count != 1 or not self.resource.all_day_bookable:
            return when
        intervals = self.resource.opening_hours.intervals_on(when.first_day)
        if not intervals:
            return when
        zone = self.business.zone
        return EventTime.timed(
            local_minute_to_utc(when.first_day, intervals[0].start_minute, zone),
            local_minute_to_utc(when.first_day, intervals[-1].end_minute, zone),
        )

    def beyond_horizon(self, when: EventTime) -> bool:
        return _beyond(when, self.horizon_end, self.business)


def _beyond(when: EventTime, horizon_end: datetime, business: BusinessRules) -> bool:
    if when.all_day:
        last_day = (horizon_end - timedelta(seconds=1)).astimezone(business.zone)
        return when.first_day > last_day.date()
    return when.start >= horizon_end


def beyond_horizon(when: EventTime, business: BusinessRules, now: datetime) -> bool:
    """True when an unlinked series instance at `when` is still deferred at `now`:
    the same test `decide_changes` applies, so whoever waits for the horizon to reach
    a deferred instance (the sweep) agrees with the decision that deferred it."""
    require_aware(now, "now")
    return _beyond(when, last_bookable_day_end(business, now.astimezone(UTC)), business)


def decide_changes(
    events: Sequence[CalendarEvent],
    state: SyncState,
    resource: ResourceRules,
    business: BusinessRules,
    *,
    now: datetime,
    member_allowed: bool = True,
) -> Plan:
    """Decide one pull's events against `state`; see the module docstring."""
    require_aware(now, "now")
    now = now.astimezone(UTC)
    decider = _Decider(resource, business, state, now, member_allowed)
    zone = business.zone

    cancel: list[CancelBooking] = []
    forget: list[str] = []
    deferred: list[str] = []
    moves: list[_Candidate] = []
    creates: list[_Candidate] = []
    status_only: list[MoveBooking] = []

    latest = latest_versions(events)
    for key in sorted(latest):
        event = latest[key]
        link = state.links.get(key)
        booking = _live_booking(link)
        if event.cancelled:
            if booking is not None:
                cancel.append(CancelBooking(key, booking.booking_id, booking.version))
            elif link is not None and link.refused is not None:
                forget.append(key)
            continue
        assert event.time is not None  # guaranteed by CalendarEvent for live events
        when = event.time
        if link is not None and link.booking is not None and link.booking.cancelled:
            # Cancelled elsewhere (admin, portal): the engine removes the event when
            # it mirrors the cancellation; a member's edit does not revive it.
            continue
        if booking is not None:
            if decider.booked_time(when) == booking.time:
                if link is not None and link.refused is not None:
                    forget.append(key)  # the put-back landed, or the member moved it back
                if event.tentative != booking.tentative:
                    status_only.append(
                        MoveBooking(
                            key,
                            booking.booking_id,
                            booking.version,
                            booking.start,
                            booking.end,
                            event.tentative,
                        )
                    )
                continue
            if link is not None and link.refused is not None and link.refused.time == when:
                continue
            moves.append(_Candidate(event, when, link, booking))
            continue
        if link is not None and link.refused is not None and link.refused.time == when:
            continue
        if link is None and event.series_id is not None and decider.beyond_horizon(when):
            deferred.append(key)
            continue
        creates.append(_Candidate(event, when, link, None))

    for item in cancel:
        decider.live.remove(item.booking_id)

    moved: list[MoveBooking] = list(status_only)
    remove_marks: list[RemoveMark] = []
    put_back: list[PutBack] = []
    pending = sorted(moves, key=lambda c: _order(c.event))
    last_refusal: dict[str, Refusal] = {}
    progress = True
    while pending and progress:
        progress = False
        still: list[_Candidate] = []
        for cand in pending:
            assert cand.booking is not None
            outcome = decider.evaluate(cand.when, cand.booking)
            if isinstance(outcome, Refusal):
                last_refusal[cand.event.key] = outcome
                still.append(cand)
                continue
            progress = True
            start, end = outcome
            decider.live.remove(cand.booking.booking_id)
            decider.live.add(BookedSpan(cand.booking.booking_id, start, end))
            moved.append(
                MoveBooking(
                    cand.event.key,
                    cand.booking.booking_id,
                    cand.booking.version,
                    start,
                    end,
                    cand.event.tentative,
                )
            )
            if cand.event.marked:
                own = strip_mark(cand.event.title, cand.event.description)
                remove_marks.append(RemoveMark(cand.event.key, own))
        pending = still
    for cand in pending:
        assert cand.booking is not None
        refusal = last_refusal[cand.event.key]
        booked = messages.dated_span_label(cand.booking.start, cand.booking.end, zone)
        note = messages.moved_back_note(refusal.reason, booked)
        put_back.append(
            PutBack(
                cand.event.key,
                cand.booking.booking_id,
                refusal,
                cand.when,
                cand.booking.start,
                cand.booking.end,
                with_note(cand.event.title, cand.event.description, note),
            )
        )

    created: list[CreateBooking] = []
    marked: list[MarkRefused] = []
    for cand in sorted(creates, key=lambda c: _order(c.event)):
        outcome = decider.evaluate(cand.when, None)
        if isinstance(outcome, Refusal):
            marked.append(
                MarkRefused(
                    cand.event.key,
                    outcome,
                    cand.when,
                    mark_refused(cand.event.title, cand.event.description, outcome.message),
                )
            )
            continue
        start, end = outcome
        decider.live.add(BookedSpan(None, start, end))
        created.append(
            CreateBooking(cand.event.key, start, end, cand.event.tentative, cand.event.series_id)
        )
        if cand.event.marked:
            own = strip_mark(cand.event.title, cand.event.description)
            remove_marks.append(RemoveMark(cand.event.key, own))

    return Plan(
        cancel=tuple(cancel),
        move=tuple(moved),
        create=tuple(created),
        mark_refused=tuple(marked),
        put_back=tuple(put_back),
        remove_marks=tuple(remove_marks),
        forget=tuple(forget),
        deferred=tuple(deferred),
    )
