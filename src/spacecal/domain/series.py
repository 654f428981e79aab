"""RepeatSeriesUniqueId for bookings made from a member's recurring event.

Nexudus ties the bookings of one series with a UUID. The provider's series id
(Google `recurringEventId`, Graph `seriesMasterId`) is only unique within one
calendar, so the UUID is derived from both: the same series always yields the
same id (re-decided, re-synced, on any worker), two calendars never share one.
"""

from __future__ import annotations

import uuid

SERIES_NAMESPACE = uuid.UUID("6f1d1b5e-6c1a-5d0e-9a57-2b0f5c1e7a3d")


def repeat_series_unique_id(calendar_id: str, series_id: str) -> uuid.UUID:
    """A stable UUID for one recurring series of one calendar."""
    return uuid.uuid5(SERIES_NAMESPACE, f"{calendar_id}\n{series_id}")
