"""A windowed provider's sync window (Graph's calendarView delta), and when it rolls.

A calendarView delta link carries the window it was made for. spacecal makes that
window [today − 1 day, today + MaxBookingDaysAhead + 1 + margin] (local days of the
business; `sync_window_margin_days`; at most 1,825 days in all, Graph's limit), so an
Outlook event beyond the booking horizon is seen, and refused with the reason, at
once, like Google's (Google sync tokens carry no window at all).

The window is re-based (a new delta round: the keep-alive job clears the delta link
under the account lock and queues a reconcile, whose full pull covers the new window)
once less than half the margin is left past the horizon, so not every day: with the
default margin of 365 days, about twice a year. Whatever lies past the stored end
when the window is re-based is still at least half a margin beyond the horizon, so it
is seen, and refused, before the horizon can reach it. A full pull after a reset
(410) re-bases the window too (sync/reconcile/task.py stores the window it pulled).

Series instances beyond the horizon do not wait for a roll: they are remembered and
decided on the day the horizon reaches them, for every provider
(sync/reconcile/deferred.py, found by the sweep).
"""

from __future__ import annotations

from datetime import datetime

from spacecal.providers.base import SyncWindow
from spacecal.providers.registry import capabilities
from spacecal.sync.naming import sync_window


def window_due(
    provider: str,
    stored_start: datetime | None,
    stored_end: datetime | None,
    business_zone: str,
    days_ahead: int,
    margin_days: int,
    now: datetime,
) -> bool:
    """True when this connection's delta round must be re-based: none recorded yet,
    or less than half the margin left past the horizon (a longer horizon or margin
    set since counts too)."""
    if not capabilities(provider).windowed:
        return False
    if stored_start is None or stored_end is None:
        return True
    return (
        stored_end < sync_window(business_zone, days_ahead, now, margin_days=margin_days // 2).end
    )


def current_window(
    business_zone: str, days_ahead: int, margin_days: int, now: datetime
) -> SyncWindow:
    return sync_window(business_zone, days_ahead, now, margin_days=margin_days)
