"""Microsoft Graph v1.0 wire format: event JSON <-> spacecal values, error bodies,
the deterministic transactionId and the marker extended property."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, time
from typing import Any

import httpx2

from spacecal.domain import (
    CalendarEvent,
    EventStatus,
    EventTime,
    parse_provider_datetime,
    resolve_time_zone,
)
from spacecal.providers.base import EventWrite
from spacecal.providers.http import json_body
from spacecal.providers.microsoft.text import body_text

# A fixed property set GUID for spacecal's single-value extended property.
# Holds spacecal's opaque marker (EventWrite.marker).
MARKER_PROPERTY_ID = "String {6f1b7a0e-3c55-4a8e-9d43-5ac0b1e7c2f1} Name spacecal"
# Events written before markers carry the booking id here. PATCH cannot delete a
# single-value extended property, so `marker_properties` overwrites it with "".
LEGACY_BOOKING_PROPERTY_ID = "String {6f1b7a0e-3c55-4a8e-9d43-5ac0b1e7c2f1} Name spacecalBookingId"
_TRANSACTION_NS = uuid.UUID("2f0c8a47-5d1e-4f8a-b3a9-7e6d2c1b0a95")
_CALENDAR_RE = re.compile(r"calendars(?:\('|/)([^/']+)(?:'\))?/events$", re.IGNORECASE)


def transaction_id_for(idempotency_key: str) -> str:
    """Graph's `transactionId`: the key itself when it is a UUID, else a UUIDv5 of it,
    so the same key always gives the same transaction."""
    try:
        return str(uuid.UUID(idempotency_key))
    except ValueError:
        return str(uuid.uuid5(_TRANSACTION_NS, idempotency_key))


def calendar_of_resource(resource: str) -> str | None:
    """The calendar id in a subscription resource like `me/calendars/{id}/events`."""
    match = _CALENDAR_RE.search(resource.strip().rstrip("/"))
    return match.group(1) if match else None


def error_of(response: httpx2.Response) -> tuple[str | None, str]:
    """(code, message) of a Graph error body."""
    error = json_body(response).get("error")
    if not isinstance(error, dict):
        return None, response.reason_phrase or "error"
    code = error.get("code")
    return (str(code) if code else None), str(error.get("message") or "")


def _day(value: dict[str, Any]) -> date:
    return date.fromisoformat(str(value["dateTime"])[:10])


def _moment(value: dict[str, Any]) -> datetime:
    return parse_provider_datetime(str(value["dateTime"]), value.get("timeZone") or "UTC")


def _time(item: dict[str, Any]) -> EventTime:
    start, end = item.get("start") or {}, item.get("end") or {}
    if item.get("isAllDay"):
        # All-day events keep their own zone: the date part is the day, whatever zone.
        return EventTime.days(_day(start), _day(end))
    return EventTime.timed(_moment(start), _moment(end))


def _utc(value: Any) -> datetime | None:
    if not value:
        return None
    return parse_provider_datetime(str(value), "UTC")


def to_event(item: dict[str, Any]) -> CalendarEvent | None:
    """One delta item as a CalendarEvent; None for a series master (delta on a
    calendarView sends instances, but a master is never an event here)."""
    key = str(item["id"])
    if "@removed" in item:
        return CalendarEvent(key=key, status=EventStatus.CANCELLED)
    if item.get("type") == "seriesMaster":
        return None
    # Only occurrences and exceptions belong to a series (a single event's
    # seriesMasterId is null on Graph; the emulator fills in the event's own id).
    in_series = item.get("type") in ("occurrence", "exception")
    series = item.get("seriesMasterId") if in_series else None
    original_start = _utc(item.get("originalStart")) if in_series else None
    if original_start is not None and item.get("isAllDay"):
        original_start = datetime.combine(original_start.date(), time(0), tzinfo=UTC)
    if item.get("isCancelled"):
        status = EventStatus.CANCELLED
    elif str(item.get("showAs") or "").lower() == "tentative":
        status = EventStatus.TENTATIVE
    else:
        status = EventStatus.CONFIRMED
    return CalendarEvent(
        key=key,
        status=status,
        time=_time(item),
        series_id=str(series) if series else None,
        original_start=original_start,
        title=str(item.get("subject") or ""),
        description=body_text(item.get("body")),
        changed_at=_utc(item.get("lastModifiedDateTime")),
        busy=str(item.get("showAs") or "busy").lower() not in ("free", "workingelsewhere"),
    )


def time_body(moment: datetime, time_zone: str) -> dict[str, str]:
    """A Graph dateTimeTimeZone: naive local wall time plus the zone's name."""
    zone = resolve_time_zone(time_zone)
    local = moment.astimezone(zone).replace(tzinfo=None)
    return {"dateTime": local.isoformat(timespec="seconds"), "timeZone": zone.key}


def text_body(text: str) -> dict[str, str]:
    return {"contentType": "text", "content": text}


def event_body(event: EventWrite) -> dict[str, Any]:
    """Every field spacecal owns on an event it writes (create and full update)."""
    body: dict[str, Any] = {
        "subject": event.title,
        "body": text_body(event.description),
        "start": time_body(event.start, event.time_zone),
        "end": time_body(event.end, event.time_zone),
        "isAllDay": False,
        "showAs": "tentative" if event.tentative else "busy",
    }
    if event.marker is not None:
        body["singleValueExtendedProperties"] = [{"id": MARKER_PROPERTY_ID, "value": event.marker}]
    if event.block:
        # Busy, silent, nobody invited: a block only says the room is taken.
        body.update(showAs="busy", isReminderOn=False, attendees=[])
    return body


def marker_properties(marker: str) -> list[dict[str, str]]:
    """The opaque marker written, the legacy booking-id property emptied (upsert by id)."""
    return [
        {"id": MARKER_PROPERTY_ID, "value": marker},
        {"id": LEGACY_BOOKING_PROPERTY_ID, "value": ""},
    ]
