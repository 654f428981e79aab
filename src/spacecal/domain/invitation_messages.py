"""The words of invitation mail: replies to an organizer, confirmations to the
member's registered address, and the short explanation a verified member gets when
a message could not be read. Refusal reasons are the domain's own (messages.py),
the same wording as every other path. Never the invitation's own SUMMARY or
DESCRIPTION: a reply carries only what spacecal decided.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from spacecal.domain.messages import NOT_BOOKED, NOT_MOVED, dated_span_label

#: Replies to more instances than this are summed up in one line of the confirmation.
MAX_LISTED = 20
#: A series whose rule cannot be walked from its first date to the horizon within
#: spacecal's bounds (mail/ical.py, MAX_RULE_YEARS): declined as a whole.
SERIES_TOO_OLD = (
    NOT_BOOKED + "this series starts too long ago for spacecal to work out its dates."
    " Send it again with a later first date."
)


@dataclass(frozen=True)
class Line:
    """One decided instance: what happened and, when refused, why."""

    start: datetime
    end: datetime
    outcome: str  # booked | moved | kept | declined | cancelled
    reason: str = ""


def moved_refusal(message: str) -> str:
    """A refused move is worded like every other path's: "Not moved: <reason>"."""
    if message.startswith(NOT_BOOKED):
        return NOT_MOVED + message[len(NOT_BOOKED) :]
    return message


def reply_subject(resource: str, accepted: bool) -> str:
    return f"{'Accepted' if accepted else 'Declined'}: {resource}"


def reply_text(resource: str, line: Line, zone: ZoneInfo, *, series: bool = False) -> str:
    when = dated_span_label(line.start, line.end, zone)
    if line.outcome == "declined":
        text = f"{resource} declined your invitation for {when}.\n{line.reason}\n"
        if line.reason.startswith(NOT_MOVED):
            text += "The booking stays where it was; move the meeting again to try another time.\n"
        return text
    scope = "this series (from " + when + ")" if series else when
    return f"{resource} accepted your invitation for {scope}.\n"


def _line(line: Line, zone: ZoneInfo) -> str:
    when = dated_span_label(line.start, line.end, zone)
    label = {
        "booked": "Booked",
        "moved": "Moved to",
        "kept": "Booked",
        "declined": "Declined",
        "cancelled": "Cancelled",
    }[line.outcome]
    return f"- {label} {when}" + (f": {line.reason}" if line.reason else "")


def confirmation_subject(resource: str, lines: list[Line]) -> str:
    outcomes = {line.outcome for line in lines}
    if outcomes <= {"cancelled"}:
        return f"Cancelled by invitation: {resource}"
    if outcomes <= {"declined"}:
        return f"Not booked by invitation: {resource}"
    return f"Booked by invitation: {resource}"


def confirmation_text(resource: str, lines: list[Line], zone: ZoneInfo, portal_url: str) -> str:
    """To the member's registered address, for every booking made, moved or cancelled
    by invitation, so a forged invitation is noticed."""
    shown = [_line(line, zone) for line in lines[:MAX_LISTED]]
    if len(lines) > MAX_LISTED:
        shown.append(f"- and {len(lines) - MAX_LISTED} more")
    return (
        f"An invitation to {resource} changed your bookings:\n"
        + "\n".join(shown)
        + "\n\nIf you did not send this invitation, cancel these bookings and replace your "
        f"invitation address on the portal: {portal_url}\n"
    )


def unreadable_subject() -> str:
    return "Your invitation could not be read"


def unreadable_text(resource: str, portal_url: str) -> str:
    return (
        f"Your message to {resource} booked nothing: it held no calendar invitation "
        "spacecal could read. Invite the address from your calendar app (as an attendee "
        f"of the meeting) instead of writing to it. Your addresses: {portal_url}\n"
    )
