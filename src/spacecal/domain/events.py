"""Provider-neutral values: a calendar event as pulled, and what spacecal knows.

The provider adapters turn Google events and Graph events into `CalendarEvent`;
the sync engine loads `SyncState` from its tables (event links, live bookings).
The decisions in `decide` read only these, so they neither know nor care which
provider an event came from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import UTC, date, datetime, time
from enum import StrEnum

from spacecal.domain.marks import carries_mark
from spacecal.domain.rules import BookedSpan, require_aware


class EventStatus(StrEnum):
    """Google's event status; Graph maps `showAs: tentative` to TENTATIVE and a
    removed item or `isCancelled` to CANCELLED."""

    CONFIRMED = "confirmed"
    TENTATIVE = "tentative"
    CANCELLED = "cancelled"


@dataclass(frozen=True, order=True)
class EventTime:
    """When an event is, in a comparable canonical form.

    Timed: `start`/`end` in UTC, `all_day` False. All-day: the first day and the
    (exclusive) end day as midnight UTC of those dates, `all_day` True, so the
    sync engine can store it in the same three columns.
    """

    start: datetime
    end: datetime
    all_day: bool = False

    @classmethod
    def timed(cls, start: datetime, end: datetime) -> EventTime:
        require_aware(start, "start")
        require_aware(end, "end")
        return cls(start.astimezone(UTC), end.astimezone(UTC), False)

    @classmethod
    def days(cls, first: date, end_exclusive: date) -> EventTime:
        return cls(
            datetime.combine(first, time(0), tzinfo=UTC),
            datetime.combine(end_exclusive, time(0), tzinfo=UTC),
            True,
        )

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def day_count(self) -> int:
        return (self.end.date() - self.start.date()).days


@dataclass(frozen=True)
class CalendarEvent:
    """One event (or one instance of a recurring series) as a pull returned it.

    `key` is the provider's id of this event or instance (Google instance ids,
    Graph occurrence ids); `series_id` is the series it belongs to (Google
    `recurringEventId`, Graph `seriesMasterId`), which becomes the bookings'
    `RepeatSeriesUniqueId`. `time` is None only for cancelled events (a deletion
    may carry nothing but an id). `changed_at` is the provider's `updated` /
    `lastModifiedDateTime`: it orders versions of one event and competing events.
    Series masters are not events here: the adapters pull instances.
    """

    key: str
    status: EventStatus
    time: EventTime | None = None
    series_id: str | None = None
    original_start: datetime | None = None
    title: str = ""
    description: str = ""
    changed_at: datetime | None = None
    # Shows the time as busy (Google transparency opaque, Graph showAs not free).
    busy: bool = True

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("an event needs a key")
        if self.time is None and self.status is not EventStatus.CANCELLED:
            raise ValueError(f"event {self.key!r} is {self.status} but has no time")
        if self.changed_at is not None:
            require_aware(self.changed_at, "changed_at")
        if self.original_start is not None:
            require_aware(self.original_start, "original_start")

    @property
    def cancelled(self) -> bool:
        return self.status is EventStatus.CANCELLED

    @property
    def tentative(self) -> bool:
        return self.status is EventStatus.TENTATIVE

    @property
    def marked(self) -> bool:
        return carries_mark(self.title, self.description)


@dataclass(frozen=True)
class LinkedBooking:
    """The booking an event is linked to, as the booking store holds it now."""

    booking_id: int
    start: datetime
    end: datetime
    version: int
    cancelled: bool = False
    tentative: bool = False
    repeat_series_id: str | None = None

    def __post_init__(self) -> None:
        require_aware(self.start, "start")
        require_aware(self.end, "end")

    @property
    def time(self) -> EventTime:
        return EventTime.timed(self.start, self.end)


@dataclass(frozen=True)
class RefusedTime:
    """A time spacecal already refused for an event, and the words it used.

    Kept so that the same event at the same time (a replayed pull, our own
    mark's echo) is not decided, marked or put back twice.
    """

    time: EventTime
    message: str


@dataclass(frozen=True)
class EventLink:
    """What spacecal knows about one event of this calendar.

    A booked event has `booking`; a refused new event has only `refused`; a
    booked event whose last move was refused has both.
    """

    event_key: str
    booking: LinkedBooking | None = None
    refused: RefusedTime | None = None


@dataclass(frozen=True)
class SyncState:
    """The state one pull is decided against.

    `links`: this calendar's known events by key. `live_bookings`: every live
    booking (confirmed or tentative) on the resource that could overlap, from
    every member and source, including the ones linked here.
    """

    links: Mapping[str, EventLink] = dc_field(default_factory=dict)
    live_bookings: Sequence[BookedSpan] = ()
