"""The actions a WebHook can subscribe to, and the names the database side uses.

Booking actions are Nexudus's own (its "Booking Create/Update/Delete" webhooks; the
API spells them without spaces). Nexudus has none for calendar connections; ours
follow the same `<Record><Verb>` style: `CoworkerCalendar` covers both connection
records (CoworkerGoogleCalendar, CoworkerMsOfficeCalendar, CoworkerCalDavCalendar), and
the body says which.

The strings below also appear in the trigger functions of migrations 0008 and 0012:
a rename needs a migration. The delivery task's and queue's names are in
jobs/names.py (DELIVER, OUTBOUND_QUEUE).
"""

from __future__ import annotations

BOOKING_CREATE = "BookingCreate"
BOOKING_UPDATE = "BookingUpdate"
BOOKING_DELETE = "BookingDelete"
CALENDAR_CONNECT = "CoworkerCalendarConnect"
CALENDAR_DISCONNECT = "CoworkerCalendarDisconnect"
CALENDAR_NEEDS_RECONNECT = "CoworkerCalendarNeedsReconnect"
CALENDAR_SYNC_FAIL = "CoworkerCalendarSyncFail"

# Action -> when it fires (docs/webhooks.md says the same at more length).
ACTIONS: dict[str, str] = {
    BOOKING_CREATE: "a booking was made (API, portal or a member's calendar)",
    BOOKING_UPDATE: "a live booking changed (new version)",
    BOOKING_DELETE: "a booking was cancelled or removed",
    CALENDAR_CONNECT: "a calendar connection became healthy for the first time, or again "
    "after a reconnect",
    CALENDAR_DISCONNECT: "a calendar connection was removed",
    CALENDAR_NEEDS_RECONNECT: "the member's consent was lost: they must connect again",
    CALENDAR_SYNC_FAIL: "a calendar connection started failing (sync or set-up)",
}
