"""The pull of one reconcile, and what it says changed.

`pull_with_window` reads the provider (the delta from the stored cursor, or everything
in the sync window after a reset); `changes_to_decide` turns the result into the events
to decide: echoes of spacecal's own writes dropped, and after a full pull the linked
events it did not return made deletions. Apart from the job (`task.py`) so that what a
calendar's answer means is read in one place, without the transaction around it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial

from spacecal.domain import CalendarEvent, EventStatus
from spacecal.providers.base import CalendarProvider, PullResult, SyncReset, SyncWindow
from spacecal.providers.registry import capabilities
from spacecal.sync.naming import sync_window
from spacecal.sync.reconcile.target import LinkRow, SyncTarget
from spacecal.sync.reconcile.writeback import is_pending
from spacecal.sync.tokens import AccountTokens

log = logging.getLogger("spacecal.sync")


async def pull_with_window(
    provider: CalendarProvider,
    tokens: AccountTokens,
    target: SyncTarget,
    now: datetime,
    margin_days: int,
) -> tuple[PullResult, SyncWindow]:
    """The pull, and the window a full pull of a windowed provider covered (the one
    it is stored with, so the delta link and `sync_window_*` agree)."""
    assert target.calendar_id is not None
    days_ahead = target.business.max_booking_days_ahead
    window = sync_window(target.time_zone, days_ahead, now, margin_days=margin_days)
    pull = partial(provider.pull, calendar_id=target.calendar_id, window=window)
    if target.cursor is not None:
        try:
            return await tokens.call(partial(pull, cursor=target.cursor)), window
        except SyncReset:
            log.info("sync reset; full pull", extra={"connection_id": target.connection_id})
    return await tokens.call(partial(pull, cursor=None)), window


def changes_to_decide(
    pull: PullResult,
    links: dict[str, LinkRow],
    deferred: dict[str, CalendarEvent],
    target: SyncTarget,
    window: SyncWindow,
) -> list[CalendarEvent]:
    """The events to decide: echoes of our own writes dropped; after a full pull,
    linked events (and deferred instances) it did not return are deletions (inside
    the window it covered)."""
    events = [
        e
        for e in pull.events
        if not (
            e.key in links
            and links[e.key].written_etag is not None
            and pull.etags.get(e.key) == links[e.key].written_etag
        )
    ]
    # Google may report a deleted series by its id alone: every linked instance goes.
    cancelled_series = {e.key for e in pull.events if e.cancelled and e.key not in links}
    if cancelled_series:
        events += [
            CalendarEvent(key, EventStatus.CANCELLED)
            for key, link in links.items()
            if link.series_key in cancelled_series
        ]
        events += [
            CalendarEvent(key, EventStatus.CANCELLED)
            for key, instance in deferred.items()
            if instance.series_id in cancelled_series
        ]
    if pull.whole_series and not pull.full:
        events += _gone_from_whole_series(pull, links, deferred, window)
    windowed = capabilities(target.provider).windowed
    if pull.full:
        seen = {e.key for e in pull.events}
        for key, instance in deferred.items():
            assert instance.time is not None
            outside = instance.time.end <= window.start or instance.time.start >= window.end
            if key not in seen and not (windowed and outside):
                events.append(CalendarEvent(key, EventStatus.CANCELLED))
        for key, link in links.items():
            if key in seen or is_pending(key):
                continue
            end = link.booking.end if link.booking else link.refused_end
            start = link.booking.start if link.booking else link.refused_start
            if (
                windowed
                and start is not None
                and end is not None
                and (end <= window.start or start >= window.end)
            ):
                continue  # outside the delta window: its absence says nothing
            events.append(CalendarEvent(key, EventStatus.CANCELLED))
    return events


def _gone_from_whole_series(
    pull: PullResult,
    links: dict[str, LinkRow],
    deferred: dict[str, CalendarEvent],
    window: SyncWindow,
) -> list[CalendarEvent]:
    """Instances (linked or deferred) of a series the pull read whole that it did not
    return, inside the window the provider covered: deletions."""
    seen = {e.key for e in pull.events}

    def inside(start: datetime | None, end: datetime | None) -> bool:
        return start is not None and end is not None and start < window.end and end > window.start

    gone: list[CalendarEvent] = []
    for key, link in links.items():
        if link.series_key not in pull.whole_series or key in seen or is_pending(key):
            continue
        start = link.booking.start if link.booking else link.refused_start
        end = link.booking.end if link.booking else link.refused_end
        if inside(start, end):
            gone.append(CalendarEvent(key, EventStatus.CANCELLED))
    for key, instance in deferred.items():
        if instance.series_id not in pull.whole_series or key in seen:
            continue
        if instance.time is not None and inside(instance.time.start, instance.time.end):
            gone.append(CalendarEvent(key, EventStatus.CANCELLED))
    return gone
