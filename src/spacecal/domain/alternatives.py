"""What is free instead of a refused request: up to three alternatives.

Given the refused span on a resource, that resource's bookings and rules, and the
other resources of the same kind the member may book (with theirs), offer:

- the nearest free slots of the same length on the same resource that day, one
  before and one after the request (nearest first), on the resource's slot step and
  inside its opening hours;
- the same slot on the other resources (by name), when their own rules allow it.

Every alternative passes `check_booking` for its resource at `now`, so whatever is
offered would be booked if nothing changes meanwhile. Pure: callers pass the
bookings (spacecal.bookings.alternatives_for reads them) and "now".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

from spacecal.domain import messages
from spacecal.domain.opening_hours import MINUTES_PER_DAY, OpeningHours, local_minute_to_utc
from spacecal.domain.rules import (
    BookedSpan,
    BusinessRules,
    RefusalCode,
    ResourceRules,
    check_booking,
    require_aware,
)

__all__ = [
    "MAX_ALTERNATIVES",
    "OFFERED_FOR",
    "Alternative",
    "Bookable",
    "day_bounds",
    "find_alternatives",
    "labels",
    "with_alternatives",
]

MAX_ALTERNATIVES = 3

# Refusals where another time or room helps. Not for a wrong length or step (the
# same length is refused everywhere), the past, the horizon, or a member not allowed.
OFFERED_FOR = frozenset({RefusalCode.OVERLAP, RefusalCode.OUTSIDE_OPENING_HOURS})


@dataclass(frozen=True)
class Bookable:
    """A resource the member may book, with its live bookings around the day."""

    rules: ResourceRules
    bookings: tuple[BookedSpan, ...] = ()


@dataclass(frozen=True)
class Alternative:
    """A free span offered instead; `here` when on the refused resource itself."""

    resource_id: int
    resource_name: str
    start: datetime
    end: datetime
    here: bool


def _free(
    resource: Bookable,
    business: BusinessRules,
    start: datetime,
    end: datetime,
    now: datetime,
    ignore_booking_id: int | None,
) -> bool:
    return (
        check_booking(
            resource.rules,
            business,
            start,
            end,
            now=now,
            live_bookings=resource.bookings,
            ignore_booking_id=ignore_booking_id,
        )
        is None
    )


def _open_stretches(
    hours: OpeningHours, day: date, zone: ZoneInfo
) -> list[tuple[datetime, datetime]] | None:
    """The open time around a day, touching intervals joined (as `contains` joins
    them); None when always open. Leaves out closed slots before the full check."""
    if hours.always_open:
        return None
    spans = sorted(
        span
        for offset in (-1, 0, 1)
        for span in hours.open_spans_utc(day + timedelta(days=offset), zone)
    )
    joined: list[tuple[datetime, datetime]] = []
    for s, e in spans:
        if joined and s <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(joined[-1][1], e))
        else:
            joined.append((s, e))
    return joined


def _same_day_slots(
    resource: Bookable, business: BusinessRules, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """Every slot of the request's length on its resource's step within its local day,
    nearest to the request first (earlier first on a tie), the request left out; not
    yet checked."""
    zone = business.zone
    day = start.astimezone(zone).date()
    day_end = local_minute_to_utc(day, MINUTES_PER_DAY, zone)
    length = end - start
    stretches = _open_stretches(resource.rules.opening_hours, day, zone)
    slots: dict[datetime, datetime] = {}
    for minute in range(0, MINUTES_PER_DAY, resource.rules.slot_step_minutes):
        # A DST gap maps two wall-clock minutes to one instant: keep each once.
        slot_start = local_minute_to_utc(day, minute, zone)
        slot_end = slot_start + length
        if (
            slot_start != start
            and slot_end <= day_end
            and slot_start.astimezone(zone).date() == day
            and (stretches is None or any(s <= slot_start and slot_end <= e for s, e in stretches))
        ):
            slots[slot_start] = slot_end
    return sorted(slots.items(), key=lambda slot: (abs(slot[0] - start), slot[0]))


def find_alternatives(
    refused: Bookable,
    business: BusinessRules,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    others: Sequence[Bookable] = (),
    ignore_booking_id: int | None = None,
    limit: int = MAX_ALTERNATIVES,
) -> tuple[Alternative, ...]:
    """Up to `limit` alternatives to [start, end) on `refused`: first the same
    resource's (nearest first), then other resources' (by name, then id).

    The nearest free slot before and the nearest after come first; when another
    resource is free at the requested time, at least one place is kept for it; any
    place left goes to further slots on the same resource. `ignore_booking_id` is a
    booking being moved: it does not block its own alternatives."""
    for value, label in ((start, "start"), (end, "end"), (now, "now")):
        require_aware(value, label)
    if end <= start or limit <= 0:
        return ()
    rules = refused.rules
    blocking = [
        b
        for b in refused.bookings
        if ignore_booking_id is None or b.booking_id != ignore_booking_id
    ]

    checked: dict[datetime, bool] = {}

    def free_here(slot: tuple[datetime, datetime]) -> bool:
        slot_start, slot_end = slot
        if slot_start not in checked:
            # Most slots tried on a busy day overlap a booking: say so before the full check.
            checked[slot_start] = not any(
                b.start < slot_end and slot_start < b.end for b in blocking
            ) and _free(refused, business, slot_start, slot_end, now, ignore_booking_id)
        return checked[slot_start]

    # Walked nearest first, stopping early: a refusal costs a few checks, not a day's.
    slots = _same_day_slots(refused, business, start, end)
    before = next((x for x in slots if x[0] < start and free_here(x)), None)
    after = next((x for x in slots if x[0] > start and free_here(x)), None)
    nearest = list(islice((x for x in slots if free_here(x)), limit + 2))

    def here_alt(slot: tuple[datetime, datetime]) -> Alternative:
        return Alternative(rules.resource_id, rules.name, slot[0], slot[1], True)

    def distance(a: Alternative) -> tuple[timedelta, datetime]:
        return (abs(a.start - start), a.start)

    preferred = sorted((here_alt(x) for x in (before, after) if x is not None), key=distance)
    elsewhere = [
        Alternative(o.rules.resource_id, o.rules.name, start, end, False)
        for o in sorted(others, key=lambda o: (o.rules.name, o.rules.resource_id))
        if o.rules.resource_id != rules.resource_id
        and _free(o, business, start, end, now, ignore_booking_id)
    ]
    here = preferred[: limit - (1 if elsewhere else 0)]
    there = elsewhere[: limit - len(here)]
    room = limit - len(here) - len(there)
    here += [a for a in map(here_alt, nearest) if a not in here][:room]
    here.sort(key=distance)
    return (*here, *there)


def day_bounds(business: BusinessRules, start: datetime) -> tuple[datetime, datetime]:
    """The local day of `start` as UTC instants: what a caller reads bookings for."""
    zone = business.zone
    day = start.astimezone(zone).date()
    return local_minute_to_utc(day, 0, zone), local_minute_to_utc(day, MINUTES_PER_DAY, zone)


def labels(alternatives: Sequence[Alternative], zone: ZoneInfo) -> list[str]:
    """Each alternative as a member reads it, in the business's time zone."""
    return [
        messages.alternative_label(None if a.here else a.resource_name, a.start, a.end, zone)
        for a in alternatives
    ]


def with_alternatives(message: str, alternatives: Sequence[Alternative], zone: ZoneInfo) -> str:
    """The refusal's words with the alternatives, in the business's time zone."""
    return messages.with_free(message, labels(alternatives, zone))
