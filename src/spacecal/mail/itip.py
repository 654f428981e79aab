"""Writing iTIP (RFC 5546) calendars: the resource's REPLY to an organizer.

A REPLY carries only what identifies the event and the decision: METHOD, UID,
RECURRENCE-ID, SEQUENCE, DTSTAMP, ORGANIZER and the one ATTENDEE (the address the
invitation reached) with PARTSTAT, the reason in COMMENT. Never the request's
SUMMARY or DESCRIPTION.
"""

from __future__ import annotations

from datetime import UTC, datetime

import icalendar

PRODID = "-//spacecal//iMIP//EN"


def _mailto(address: str) -> icalendar.vCalAddress:
    return icalendar.vCalAddress(f"mailto:{address}")


def reply(
    *,
    uid: str,
    recurrence_id: datetime | None,
    sequence: int,
    organizer: str,
    attendee: str,
    accepted: bool,
    comment: str,
    now: datetime,
) -> bytes:
    calendar = icalendar.Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    calendar.add("METHOD", "REPLY")
    event = icalendar.Event()
    event.add("UID", uid)
    if recurrence_id is not None:
        event.add("RECURRENCE-ID", recurrence_id.astimezone(UTC))
    event.add("SEQUENCE", sequence)
    event.add("DTSTAMP", now.astimezone(UTC))
    event.add("ORGANIZER", _mailto(organizer))
    who = _mailto(attendee)
    who.params["PARTSTAT"] = "ACCEPTED" if accepted else "DECLINED"
    event.add("ATTENDEE", who)
    if comment:
        event.add("COMMENT", comment)
    calendar.add_component(event)
    data: bytes = calendar.to_ical()
    return data
