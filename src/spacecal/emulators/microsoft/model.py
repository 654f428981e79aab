"""Plain data for one mailbox: calendars, events (singles and series) and exceptions.

Times are kept as aware UTC datetimes; the zone the client wrote is kept only to
expand recurrences in local wall time and to fill ``originalStartTimeZone``.
Every write bumps the mailbox's change sequence (``seq``); the delta engine and the
notifier work from that sequence and from ``changeKey``s, never from wall time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

# Fields a client may set that the emulator stores and echoes without interpreting.
PASSTHROUGH_FIELDS = (
    "location",
    "locations",
    "categories",
    "importance",
    "sensitivity",
    "isReminderOn",
    "reminderMinutesBeforeStart",
    "attendees",
    "responseRequested",
    "allowNewTimeProposals",
    "isOnlineMeeting",
)


@dataclass
class Calendar:
    id: str
    name: str
    change_key: str
    is_default: bool = False
    color: str = "auto"
    hex_color: str = ""
    extended: dict[str, str] = field(default_factory=dict)  # calendar_props.py


@dataclass
class Override:
    """An exception: the fields changed on one occurrence (plus its own version)."""

    fields: dict[str, Any]
    start: datetime
    end: datetime
    change_key: str
    created: datetime
    last_modified: datetime


@dataclass
class Event:
    id: str
    calendar_id: str
    subject: str
    body: dict[str, str]
    start: datetime
    end: datetime
    start_zone: str
    end_zone: str
    is_all_day: bool
    show_as: str
    change_key: str
    created: datetime
    last_modified: datetime
    seq: int
    transaction_id: str | None = None
    recurrence: dict[str, Any] | None = None
    extended: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    # Series only: exceptions and cancelled occurrences keyed by original start (UTC).
    overrides: dict[datetime, Override] = field(default_factory=dict)
    cancelled: set[datetime] = field(default_factory=set)

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


@dataclass(frozen=True)
class Instance:
    """One concrete event as a calendar view shows it (single, occurrence or exception)."""

    id: str
    event: Event
    kind: str  # singleInstance | occurrence | exception
    start: datetime
    end: datetime
    original_start: datetime | None
    override: Override | None

    @property
    def change_key(self) -> str:
        return self.override.change_key if self.override else self.event.change_key
