"""A windowed provider's sync window rolls daily (Graph's calendarView delta).

A calendarView delta link carries the window it was made for: [today − 1 day,
today + MaxBookingDaysAhead] on the day of its first round. Once the business's day
has moved on, the stored window start is older than today − 1, so a new round is due
(DESIGN, Sync window): the keep-alive job clears the delta link under the account
lock and queues a reconcile, whose full pull covers the new window. Google sync
tokens carry no window: only providers whose capabilities say `windowed` roll.
"""

from __future__ import annotations

from datetime import datetime

from spacecal.providers.base import SyncWindow
from spacecal.providers.registry import capabilities
from spacecal.sync.naming import sync_window


def window_due(
    provider: str,
    stored_start: datetime | None,
    business_zone: str,
    days_ahead: int,
    now: datetime,
) -> bool:
    """True when this connection's delta round was made for an earlier day."""
    if not capabilities(provider).windowed:
        return False
    if stored_start is None:
        return True
    return stored_start < sync_window(business_zone, days_ahead, now).start


def current_window(business_zone: str, days_ahead: int, now: datetime) -> SyncWindow:
    return sync_window(business_zone, days_ahead, now)
