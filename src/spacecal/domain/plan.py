"""The plan: what one pull's decisions ask the sync engine to do.

Booking changes (`cancel`, `move`, `create`) and link changes are committed in one
transaction; calendar writes (`mark_refused`, `put_back`, `remove_marks`) are
pushed afterwards. Every item names the event key, so the engine can record the
write as "behind" and retry it on its own. Order inside each tuple is the order
the decisions were taken in, and is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from spacecal.domain.events import EventTime
from spacecal.domain.marks import EventText
from spacecal.domain.rules import Refusal


@dataclass(frozen=True)
class CreateBooking:
    """Book [start, end) for the event; link the event to the new booking."""

    event_key: str
    start: datetime
    end: datetime
    tentative: bool
    repeat_series_id: str | None


@dataclass(frozen=True)
class MoveBooking:
    """Change the booking to [start, end) (and/or tentative). `expected_version`
    is the version decided against: update only if it is still current."""

    event_key: str
    booking_id: int
    expected_version: int
    start: datetime
    end: datetime
    tentative: bool


@dataclass(frozen=True)
class CancelBooking:
    """Cancel the booking: its event was deleted or cancelled."""

    event_key: str
    booking_id: int
    expected_version: int


@dataclass(frozen=True)
class MarkRefused:
    """Keep the event, rewrite its text to say why; remember `refused_time`."""

    event_key: str
    refusal: Refusal
    refused_time: EventTime
    text: EventText


@dataclass(frozen=True)
class PutBack:
    """Move the event back to the booking's time, with a note saying why."""

    event_key: str
    booking_id: int
    refusal: Refusal
    refused_time: EventTime
    start: datetime
    end: datetime
    text: EventText


@dataclass(frozen=True)
class RemoveMark:
    """The event became bookable: give it back the member's own text."""

    event_key: str
    text: EventText


@dataclass(frozen=True)
class Plan:
    """All decisions of one pull. `forget` lists event keys whose remembered
    refusal is dropped (and whose link goes, when it has no booking). `deferred`
    lists series instances beyond the booking horizon, left undecided (no mark)
    until the horizon reaches them: the engine stores them (with what the pull said
    of them) and decides them again on the day the horizon reaches them, for every
    provider (sync/reconcile/deferred.py), without waiting for a pull.
    """

    cancel: tuple[CancelBooking, ...] = ()
    move: tuple[MoveBooking, ...] = ()
    create: tuple[CreateBooking, ...] = ()
    mark_refused: tuple[MarkRefused, ...] = ()
    put_back: tuple[PutBack, ...] = ()
    remove_marks: tuple[RemoveMark, ...] = ()
    forget: tuple[str, ...] = ()
    deferred: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        """Nothing to commit or write (deferred events are only a reminder)."""
        return not (
            self.cancel
            or self.move
            or self.create
            or self.mark_refused
            or self.put_back
            or self.remove_marks
            or self.forget
        )
