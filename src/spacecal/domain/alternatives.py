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
from datetime import datetime
from zoneinfo import ZoneInfo

from spacecal.domain import messages
from spacecal.domain.opening_hours import MINUTES_PER_DAY, local_minute_to_utc
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


def _same_day_slots(
    resource: Bookable,
    business: BusinessRules,
    start: datetime,
    end: datetime,
    now: datetime,
    ignore_booking_id: int | None,
) -> list[Alternative]:
    """Every free slot of the request's length on its resource and local day, nearest
    to the request first (earlier first on a tie), the request itself left out."""
    zone = business.zone
    day = start.astimezone(zone).date()
    day_end = local_minute_to_utc(day, MINUTES_PER_DAY, zone)
    length = end - start
    rules = resource.rules
    seen: set[datetime] = set()
    found: list[Alternative] = []
    for minute in range(0, MINUTES_PER_DAY, rules.slot_step_minutes):
        # A DST gap maps two wall-clock minutes to one instant: keep each once.
        slot_start = local_minute_to_utc(day, minute, zone)
        slot_end = slot_start + length
        if (
            slot_start in seen
            or slot_start == start
            or slot_end > day_end
            or slot_start.astimezone(zone).date() != day
        ):
            continue
        seen.add(slot_start)
        if _free(resource, business, slot_start, slot_end, now, ignore_booking_id):
            found.append(Alternative(rules.resource_id, rules.name, slot_start, slot_end, True))
    found.sort(key=lambda a: (abs(a.start - start), a.start))
    return found


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
    here_all = _same_day_slots(refused, business, start, end, now, ignore_booking_id)
    before = next((a for a in here_all if a.start < start), None)
    after = next((a for a in here_all if a.start > start), None)
    preferred = [a for a in here_all if a is before or a is after]
    elsewhere = [
        Alternative(o.rules.resource_id, o.rules.name, start, end, False)
        for o in sorted(others, key=lambda o: (o.rules.name, o.rules.resource_id))
        if o.rules.resource_id != refused.rules.resource_id
        and _free(o, business, start, end, now, ignore_booking_id)
    ]
    here = preferred[: limit - (1 if elsewhere else 0)]
    there = elsewhere[: limit - len(here)]
    room = limit - len(here) - len(there)
    here += [a for a in here_all if a not in here][:room]
    here.sort(key=lambda a: (abs(a.start - start), a.start))
    return (*here, *there)


def day_bounds(business: BusinessRules, start: datetime) -> tuple[datetime, datetime]:
    """The local day of `start` as UTC instants: what a caller reads bookings for."""
    zone = business.zone
    day = start.astimezone(zone).date()
    return local_minute_to_utc(day, 0, zone), local_minute_to_utc(day, MINUTES_PER_DAY, zone)


def with_alternatives(message: str, alternatives: Sequence[Alternative], zone: ZoneInfo) -> str:
    """The refusal's words with the alternatives, in the business's time zone."""
    return messages.with_free(
        message,
        [
            messages.alternative_label(None if a.here else a.resource_name, a.start, a.end, zone)
            for a in alternatives
        ],
    )
