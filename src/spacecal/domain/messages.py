"""Every word a member reads in their calendar, in one place.

Refusals are built as a *reason* ("Meeting Room A is taken 10:00–11:00") and then
prefixed: "Not booked: " for a new event, "Not moved: " for a move that was put
back. Times are always shown in the business's local time, because that is the
clock on the wall of the room. English only for now; a translation would replace
this module's functions, not the rules.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

NOT_BOOKED = "Not booked: "
NOT_MOVED = "Not moved: "

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_WEEKDAYS_PLURAL = (
    "Mondays",
    "Tuesdays",
    "Wednesdays",
    "Thursdays",
    "Fridays",
    "Saturdays",
    "Sundays",
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def duration(minutes: int) -> str:
    """`15 minutes`, `1 hour`, `1 hour 30 minutes`, `24 hours`."""
    hours, rest = divmod(minutes, 60)
    parts: list[str] = []
    if hours:
        parts.append(f"{hours} hour" + ("" if hours == 1 else "s"))
    if rest or not hours:
        parts.append(f"{rest} minute" + ("" if rest == 1 else "s"))
    return " ".join(parts)


def day_label(day: date) -> str:
    """`Fri 19 Feb 2027`."""
    return f"{_WEEKDAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year}"


def weekday_plural(day: date) -> str:
    """`Mondays`."""
    return _WEEKDAYS_PLURAL[day.weekday()]


def _clock(moment: datetime) -> str:
    return f"{moment.hour:02d}:{moment.minute:02d}"


def _short_day(moment: datetime) -> str:
    return f"{_WEEKDAYS[moment.weekday()]} {moment.day} {_MONTHS[moment.month - 1]}"


def span_label(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    """A span in local time: `10:00–11:00` within one day, `22:00–24:00` up to
    midnight, otherwise with days: `Mon 23 Nov 23:00–Tue 24 Nov 01:00`."""
    local_start = start.astimezone(zone)
    local_end = end.astimezone(zone)
    if local_start.date() == local_end.date():
        return f"{_clock(local_start)}–{_clock(local_end)}"
    if (
        local_end.date() == local_start.date() + timedelta(days=1)
        and local_end.hour == 0
        and local_end.minute == 0
    ):
        return f"{_clock(local_start)}–24:00"
    return (
        f"{_short_day(local_start)} {_clock(local_start)}–"
        f"{_short_day(local_end)} {_clock(local_end)}"
    )


def dated_span_label(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    """A span with its day, for notes read away from the event: `Mon 23 Nov 09:00–10:00`."""
    local_start = start.astimezone(zone)
    plain = span_label(start, end, zone)
    if plain[0].isdigit():
        return f"{_short_day(local_start)} {plain}"
    return plain


# --- reasons (what follows "Not booked: " / "Not moved: ") -------------------------


def reason_invalid_span() -> str:
    return "the event must end after it starts"


def reason_not_bookable(resource: str) -> str:
    return f"{resource} cannot be booked"


def reason_member_not_allowed(resource: str) -> str:
    return f"you are not allowed to book {resource}"


def reason_in_past() -> str:
    return "that time is in the past"


def reason_too_far_ahead(resource: str, days: int, last_day: date) -> str:
    return f"{resource} can be booked at most {days} days ahead (until {day_label(last_day)})"


def reason_slot_step(resource: str, step_minutes: int) -> str:
    return f"{resource} can only be booked in steps of {duration(step_minutes)}"


def reason_too_short(resource: str, min_minutes: int) -> str:
    return f"{resource} needs a booking of at least {duration(min_minutes)}"


def reason_too_long(resource: str, max_minutes: int) -> str:
    return f"{resource} can be booked for at most {duration(max_minutes)}"


def reason_not_offered(resource: str) -> str:
    """A portal booking form naming a time or length its page did not offer."""
    return f"{resource} is not offered for that time or length; pick one of the times listed"


def reason_closed(resource: str, day: date, open_labels: list[str]) -> str:
    """Outside opening hours: say the hours of that weekday, or that it is closed."""
    if not open_labels:
        return f"{resource} is closed on {weekday_plural(day)}"
    return f"{resource} is open {' and '.join(open_labels)} on {weekday_plural(day)}"


def reason_taken(resource: str, taken: str) -> str:
    return f"{resource} is taken {taken}"


def reason_all_day_not_allowed(resource: str) -> str:
    return f"{resource} cannot be booked for a whole day; give the event a start and end time"


def reason_all_day_multiple_days(resource: str) -> str:
    return f"{resource} can be booked for one whole day at a time; make one all-day event per day"


def moved_back_note(reason: str, booked: str, free: list[str] | None = None) -> str:
    """The note on an event put back after a refused move, with what is free instead
    when there is something (`alternative_label`s)."""
    note = f"{NOT_MOVED}{reason}. Still booked {booked}."
    return f"{note} Free: {'; '.join(free)}." if free else note


def alternative_label(resource: str | None, start: datetime, end: datetime, zone: ZoneInfo) -> str:
    """One alternative: `11:00–12:00 here`, or `Meeting Room B 10:00–11:00` (`resource`
    None means the refused resource itself)."""
    span = span_label(start, end, zone)
    return f"{span} here" if resource is None else f"{resource} {span}"


def with_free(message: str, labels: list[str]) -> str:
    """A refusal with what is free instead: `Not booked: Meeting Room A is taken
    10:00–11:00. Free: 11:00–12:00 here; Meeting Room B 10:00–11:00.` Unchanged when
    nothing is free."""
    if not labels:
        return message
    return f"{message}. Free: {'; '.join(labels)}."
