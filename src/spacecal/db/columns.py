"""Which column holds a provider's part of a row.

The Nexudus record shapes give each provider its own fields (a Google connection's
`EventSyncToken`, a booking's `GoogleEventId` / `Office365EventId`), so the same
thing lives in a different column per provider. This is the one mapping; sync reads
and writes through it instead of branching on the provider's name."""

from __future__ import annotations

from typing import Any

# Where a connection keeps its pull cursor (Google nextSyncToken, Graph deltaLink,
# CalDAV sync-token: shown as the CalDAV record's SyncToken).
CURSOR_COLUMN: dict[str, str] = {
    "google": "event_sync_token",
    "microsoft": "delta_link",
    "caldav": "event_sync_token",
}

# Where a booking records the id of the event it came from, per provider.
BOOKING_EVENT_ID_COLUMN: dict[str, str] = {
    "google": "google_event_id",
    "microsoft": "office365_event_id",
    "caldav": "caldav_event_id",
}

# Where a booking records the calendar of that event (Nexudus has it for Google only).
BOOKING_CALENDAR_COLUMN: dict[str, str] = {"google": "google_calendar_id"}


def cursor_of(row: Any) -> str | None:
    """The stored cursor of a connection row that carries every cursor column."""
    value: str | None = getattr(row, CURSOR_COLUMN[row.provider])
    return value


def clear_cursor(provider: str) -> dict[str, object]:
    """Values that make the next reconcile a full pull (DESIGN, Full resync)."""
    return {CURSOR_COLUMN[provider]: None}
