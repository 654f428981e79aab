"""Google Calendar v3 wire format: event JSON <-> spacecal values, error bodies, and
the client-chosen event ids that make creation idempotent.

Kept apart from the HTTP calls so the mapping can be read (and checked) on its own."""

from __future__ import annotations

import base64
import hashlib
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
from spacecal.providers.base import CalendarFacts, EventWrite
from spacecal.providers.http import json_body

# The private property holding spacecal's opaque marker (EventWrite.marker).
MARKER_PROPERTY = "spacecal"
# Events written before markers carry the booking id here; `marker_patch` removes it.
LEGACY_BOOKING_PROPERTY = "spacecalBookingId"
_MIN_ID, _MAX_ID = 5, 1024


def event_id_for(idempotency_key: str) -> str:
    """The event id for an idempotency key: base32hex (a–v, 0–9) of its UTF-8 bytes,
    so the same key always names the same event and a repeat answers 409.

    Keys too short or too long for Google's 5–1024 characters use the base32hex of
    their SHA-256 instead (still deterministic)."""
    raw = idempotency_key.encode()
    encoded = base64.b32hexencode(raw).decode().rstrip("=").lower()
    if _MIN_ID <= len(encoded) <= _MAX_ID:
        return encoded
    digest = hashlib.sha256(raw).digest()
    return base64.b32hexencode(digest).decode().rstrip("=").lower()


def error_of(response: httpx2.Response) -> tuple[str | None, str]:
    """(reason, message) of a Calendar API error body."""
    error = json_body(response).get("error")
    if not isinstance(error, dict):
        return None, response.reason_phrase or "error"
    reason: str | None = None
    items = error.get("errors")
    if isinstance(items, list) and items and isinstance(items[0], dict):
        found = items[0].get("reason")
        reason = str(found) if found else None
    return reason, str(error.get("message") or "")


def _time_of(value: dict[str, Any]) -> tuple[datetime | None, date | None]:
    if value.get("dateTime"):
        return parse_provider_datetime(str(value["dateTime"]), value.get("timeZone")), None
    if value.get("date"):
        return None, date.fromisoformat(str(value["date"]))
    return None, None


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, dict):
        return None
    moment, day = _time_of(value)
    if day is not None:
        return datetime.combine(day, time(0), tzinfo=UTC)
    return moment


def _changed_at(item: dict[str, Any]) -> datetime | None:
    updated = item.get("updated")
    return parse_provider_datetime(str(updated)) if updated else None


def to_event(item: dict[str, Any]) -> CalendarEvent | None:
    """One `events.list` item as a CalendarEvent; None for a series master (which
    `singleEvents=true` should never return, but a master is not an event here)."""
    key = str(item["id"])
    series_id = item.get("recurringEventId")
    original = _moment(item.get("originalStartTime"))
    status = str(item.get("status") or "confirmed")
    if status == "cancelled":
        return CalendarEvent(
            key=key,
            status=EventStatus.CANCELLED,
            series_id=str(series_id) if series_id else None,
            original_start=original,
            changed_at=_changed_at(item),
        )
    if item.get("recurrence"):
        return None
    start_dt, start_day = _time_of(item.get("start") or {})
    end_dt, end_day = _time_of(item.get("end") or {})
    if start_day is not None and end_day is not None:
        when = EventTime.days(start_day, end_day)
    elif start_dt is not None and end_dt is not None:
        when = EventTime.timed(start_dt, end_dt)
    else:
        raise ValueError(f"event {key!r} has no usable start/end")
    return CalendarEvent(
        key=key,
        status=EventStatus.TENTATIVE if status == "tentative" else EventStatus.CONFIRMED,
        time=when,
        series_id=str(series_id) if series_id else None,
        original_start=original,
        title=str(item.get("summary") or ""),
        description=str(item.get("description") or ""),
        changed_at=_changed_at(item),
        busy=item.get("transparency") != "transparent",
    )


def time_body(moment: datetime, time_zone: str) -> dict[str, str]:
    """A timed `start`/`end`: local wall time with offset plus the IANA zone name."""
    zone = resolve_time_zone(time_zone)
    return {"dateTime": moment.astimezone(zone).isoformat(), "timeZone": zone.key}


def event_body(event: EventWrite) -> dict[str, Any]:
    """The full writable body of an event spacecal writes (insert and PUT)."""
    body: dict[str, Any] = {
        "summary": event.title,
        "description": event.description,
        "start": time_body(event.start, event.time_zone),
        "end": time_body(event.end, event.time_zone),
        "status": "tentative" if event.tentative else "confirmed",
    }
    if event.marker is not None:
        body["extendedProperties"] = {"private": {MARKER_PROPERTY: event.marker}}
    if event.block:
        # Busy, silent, nobody invited: a block only says the room is taken.
        body.update(transparency="opaque", reminders={"useDefault": False}, attendees=[])
    return body


def marker_patch(marker: str) -> dict[str, Any]:
    """PATCH merges private properties key by key, and a null value removes a key: the
    opaque marker in, the legacy booking id out."""
    return {"private": {MARKER_PROPERTY: marker, LEGACY_BOOKING_PROPERTY: None}}


def facts_of(item: dict[str, Any], calendar_id: str, account_email: str) -> CalendarFacts:
    """A calendarList entry as verification reads it (sync/reconcile/verify.py): seen at
    all under `calendar.app.created` is the marker."""
    role = str(item.get("accessRole") or "")
    return CalendarFacts(
        name=str(item.get("summary") or ""),
        marked=True,
        owned=role == "owner",
        can_edit=role in ("owner", "writer"),
        default=bool(item.get("primary")) or calendar_id.lower() == account_email.lower(),
    )
