"""Names and keys derived from spacecal's own data: the calendar's name, the
idempotency key of a booking's event, and the span a Graph delta covers. Shared by
provisioning, renewal, reconcile and write-back, so each derives them the same way."""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from spacecal.domain.opening_hours import local_minute_to_utc
from spacecal.providers.base import Capabilities, SyncWindow


def calendar_name(resource_name: str, business_name: str) -> str:
    return f"{resource_name} · {business_name}"


def idempotency_key(booking_id: int, calendar_id: str) -> str:
    """Stable per (booking, calendar), in base32hex (a valid Google event id).

    Keyed on the calendar rather than the connection row, so a calendar adopted again
    after a disconnect gets the same key and the provider answers with the old event.
    """
    digest = hashlib.sha256(f"spacecal:{booking_id}:{calendar_id}".encode()).digest()[:20]
    return base64.b32hexencode(digest).decode().lower().rstrip("=")


def block_key(marker: str, generation: int) -> str:
    """The idempotency key of a block: derived from its link's random marker, never from
    the booking, since the member reads it back (Google's event id, Graph's
    transactionId, a CalDAV UID) and booking ids are sequential. A new `generation`
    after the member deleted the block gives a new key (Graph's answer to a
    transactionId reused after a deletion is undocumented)."""
    seed = f"spacecal:block:{marker}:{generation}"
    digest = hashlib.sha256(seed.encode()).digest()[:20]
    return base64.b32hexencode(digest).decode().lower().rstrip("=")


def new_marker() -> str:
    """The opaque value of spacecal's event property: random, kept on the link (for
    humans and recovery), never derived from a booking, member or name."""
    return secrets.token_hex(16)


def webhook_urls(public_url: str, caps: Capabilities) -> tuple[str, str | None]:
    """Where the provider should deliver notifications and lifecycle events."""
    path = caps.webhook_path or ""
    lifecycle = public_url + caps.lifecycle_path if caps.lifecycle_path else None
    return public_url + path, lifecycle


#: Graph refuses a calendarView range longer than this (the emulator too).
GRAPH_MAX_WINDOW = timedelta(days=1825)


def sync_window(
    business_zone: str, days_ahead: int, now: datetime, *, margin_days: int
) -> SyncWindow:
    """[today − 1 day, today + MaxBookingDaysAhead + 1 + margin], days in the
    business's zone, at most Graph's 1,825 days long. The margin past the horizon is
    what lets a windowed provider see (and refuse at once) events beyond the horizon."""
    zone = ZoneInfo(business_zone)
    today = now.astimezone(zone).date()
    start = local_minute_to_utc(today - timedelta(days=1), 0, zone)
    end = local_minute_to_utc(today + timedelta(days=days_ahead + 1 + margin_days), 0, zone)
    return SyncWindow(start=start, end=min(end, start + GRAPH_MAX_WINDOW))
