"""The poll schedule of providers without push (CalDAV; DESIGN "CalDAV").

Nobody tells spacecal that such a calendar changed, so it asks, on a schedule kept
in the connection row: `poll_next_at` (due once passed), `poll_interval_seconds`,
`poll_quiet_polls` (unchanged polls since the last change) and `last_poll_at`.
After each poll:

- something changed (or the first poll): the interval goes back to
  `caldav_poll_seconds` and the quiet count to 0;
- nothing changed: the count goes up; the first `caldav_poll_active_polls` quiet
  polls keep the short interval (a member editing a calendar makes changes minutes
  apart: one quiet poll between two edits must not halve how often it is polled),
  after them the interval doubles at each poll, up to `caldav_poll_max_seconds`;
- the next poll is now + interval, moved by up to `caldav_poll_jitter` of the
  interval either way, so calendars connected together do not poll together.

The arithmetic is SQL (`_schedule`), so recording a poll is one UPDATE of the row,
never a read and a write. The sweep (sync/upkeep/sweep.py) defers a reconcile for
every connection whose poll is due NOW; nothing schedules a job in the future (it
would hold the connection's queueing lock and the lock of the account's later jobs).
Every branch here is on `Capabilities.delivery`, never on a provider's name.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Float,
    Integer,
    Update,
    and_,
    bindparam,
    case,
    func,
    literal,
    or_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from spacecal.config import Settings
from spacecal.db.models import Connection
from spacecal.providers.base import Delivery
from spacecal.providers.registry import providers_where


@cache
def poll_providers() -> tuple[str, ...]:
    """The providers spacecal polls (no push); the registry is fixed at import."""
    return providers_where(lambda c: c.delivery is Delivery.POLL)


def is_polled(provider: str) -> bool:
    return provider in poll_providers()


def poll_due(now: datetime) -> ColumnElement[bool]:
    """A condition on `Connection`: a polled calendar whose poll time has passed
    (or that has none yet)."""
    return and_(
        Connection.provider.in_(poll_providers()),
        or_(Connection.poll_next_at.is_(None), Connection.poll_next_at <= now),
    )


def schedule_params(settings: Settings, now: datetime) -> dict[str, Any]:
    """The bound parameters of the schedule's expressions (`_schedule`)."""
    short = float(settings.caldav_poll_seconds)
    return {
        "poll_now": now,
        "poll_short": short,
        "poll_cap": max(float(settings.caldav_poll_max_seconds), short),
        "poll_active": settings.caldav_poll_active_polls,
        "poll_jitter": settings.caldav_poll_jitter,
    }


@cache
def _schedule(changed: bool) -> tuple[tuple[str, Any], ...]:
    # Built once: building these expressions per poll cost more CPU than the poll's
    # REPORT (docs/performance.md); the values travel as parameters.
    now = bindparam("poll_now", type_=DateTime(timezone=True))
    short = bindparam("poll_short", type_=Float)
    cap = bindparam("poll_cap", type_=Float)
    active = bindparam("poll_active", type_=Integer)
    jitter_fraction = bindparam("poll_jitter", type_=Float)
    first = Connection.poll_interval_seconds.is_(None)
    quiet: ColumnElement[int]
    interval: ColumnElement[float]
    if changed:
        quiet, interval = literal(0), short
    else:
        quiet = case((first, 0), else_=Connection.poll_quiet_polls + 1)
        doubled = func.least(func.greatest(Connection.poll_interval_seconds * 2.0, short), cap)
        interval = case(
            (or_(first, Connection.poll_quiet_polls + 1 <= active), short), else_=doubled
        )
    jitter = 1.0 + jitter_fraction * (2.0 * func.random() - 1.0)
    return (
        ("last_poll_at", now),
        ("poll_quiet_polls", quiet),
        ("poll_interval_seconds", func.round(interval)),
        ("poll_next_at", now + func.make_interval(0, 0, 0, 0, 0, 0, interval * jitter)),
    )


async def record_poll(
    engine: AsyncEngine,
    settings: Settings,
    connection_id: int,
    *,
    changed: bool,
    now: datetime,
    synced: bool = False,
) -> None:
    """Record one poll of a polled connection and schedule the next: one statement
    (`engine`: the autocommit one, one round trip). `synced`: the poll also counts as
    the connection's sync (a quiet poll that ends the reconcile: reconcile/owed.py)."""
    params = {"poll_connection": connection_id, **schedule_params(settings, now)}
    async with engine.begin() as conn:
        await conn.execute(_update(changed, synced), params)


@cache
def _update(changed: bool, synced: bool = False) -> Update:
    """The UPDATE recording a poll (`synced`: a quiet poll, which also counts as a
    sync: owed.py)."""
    values = dict(_schedule(changed))
    if synced:
        values["last_sync_at"] = bindparam("poll_now", type_=DateTime(timezone=True))
    # Asynchronous commit for this statement's own transaction (the engine is the
    # autocommit one): waiting for the WAL flush was most of a quiet poll's time
    # (~2.5 ms on the benchmark's server; docs/performance.md). A crash can lose the
    # last few polls' records; the connection is then polled again early, which a
    # poll is always safe to be.
    return (
        update(Connection)
        .where(
            Connection.id == bindparam("poll_connection"),
            func.set_config("synchronous_commit", "off", True) == "off",
        )
        .values(**values)
    )
