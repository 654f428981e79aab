"""The poll schedule of providers without push (CalDAV; DESIGN "CalDAV").

Nobody tells spacecal that such a calendar changed, so it asks, on a schedule kept
in the connection row: `poll_next_at` (due once passed), `poll_interval_seconds`
and `last_poll_at`. After each reconcile of a poll connection:

- something changed: the interval goes back to `caldav_poll_seconds`;
- nothing changed: it doubles, up to `caldav_poll_max_seconds`;
- the next poll is now + interval, moved by up to `caldav_poll_jitter` of the
  interval either way, so calendars connected together do not poll together.

The sweep (sync/upkeep/sweep.py) defers a reconcile for every connection whose poll
is due NOW; nothing schedules a job in the future (it would hold the connection's
queueing lock and the lock of the account's later jobs). Every branch here is on
`Capabilities.delivery`, never on a provider's name.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from spacecal.config import Settings
from spacecal.db.models import Connection
from spacecal.providers.base import Delivery
from spacecal.providers.registry import providers_where

_rng = random.SystemRandom()


def poll_providers() -> tuple[str, ...]:
    """The providers spacecal polls (no push)."""
    return providers_where(lambda c: c.delivery is Delivery.POLL)


def is_polled(provider: str) -> bool:
    return provider in poll_providers()


def next_interval(previous: float | None, changed: bool, settings: Settings) -> float:
    """The interval after a poll: short after a change, doubled while quiet, capped."""
    short = settings.caldav_poll_seconds
    cap = max(settings.caldav_poll_max_seconds, short)
    if changed or previous is None:
        return short
    return min(max(previous, short) * 2, cap)


def next_poll_at(
    now: datetime, interval: float, jitter: float, rng: random.Random | None = None
) -> datetime:
    """now + interval, moved by up to `jitter` × interval either way."""
    spread = interval * jitter
    offset = (rng or _rng).uniform(-spread, spread) if spread > 0 else 0.0
    return now + timedelta(seconds=interval + offset)


def poll_due(now: datetime) -> ColumnElement[bool]:
    """A condition on `Connection`: a polled calendar whose poll time has passed
    (or that has none yet)."""
    return and_(
        Connection.provider.in_(poll_providers()),
        or_(Connection.poll_next_at.is_(None), Connection.poll_next_at <= now),
    )


async def record_poll(
    engine: AsyncEngine,
    settings: Settings,
    connection_id: int,
    *,
    changed: bool,
    now: datetime,
) -> datetime:
    """Write the schedule after one reconcile of a polled connection; returns the
    next poll time."""
    async with engine.begin() as conn:
        previous = await conn.scalar(
            select(Connection.poll_interval_seconds)
            .where(Connection.id == connection_id)
            .with_for_update()
        )
        interval = next_interval(previous, changed, settings)
        at = next_poll_at(now, interval, settings.caldav_poll_jitter)
        await conn.execute(
            update(Connection)
            .where(Connection.id == connection_id)
            .values(poll_next_at=at, poll_interval_seconds=round(interval), last_poll_at=now)
        )
    return at
