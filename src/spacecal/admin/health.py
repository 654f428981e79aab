"""One connection's health as the console shows it, computed in SQL so the list can
filter, count and page on it.

The connection's health (db/conditions.py `health_expr`: the sync's condition, or a
failing renewal's) says what the last sync or renewal found; the console adds what
the other tables know: the member's account needing a reconnect, a push
subscription close to its expiry, a sync asked for or running. Checked in this order
(the first that holds wins, the most urgent first):

1. needs reconnect: the member's account lost its consent (or there is none);
2. failing: the last sync, renewal or provisioning failed, or the CalendarId is not
   verified as a calendar spacecal made (the list shows the error);
3. syncing: being set up;
4. expiring: push is on but the live subscription ends within
   `admin_expiring_soon_seconds` (or there is none): renewal is overdue;
5. syncing: a notification is waiting to be pulled, a resync was asked for, the
   provider throttled us, or a reconcile job is queued or running;
6. healthy.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    String,
    and_,
    case,
    cast,
    exists,
    literal,
    literal_column,
    or_,
    select,
)

from spacecal.db.conditions import AccountStatus, Health, health_expr
from spacecal.db.models import Connection, ProviderAccount
from spacecal.jobs import names
from spacecal.jobs.sql import JOBS as _jobs


class ConsoleState(StrEnum):
    """A connection's state as the console, the CLI and the doctor show it."""

    HEALTHY = "healthy"
    SYNCING = "syncing"
    NEEDS_RECONNECT = "needs_reconnect"
    FAILING = "failing"
    EXPIRING = "expiring"


HEALTHY = ConsoleState.HEALTHY
SYNCING = ConsoleState.SYNCING
NEEDS_RECONNECT = ConsoleState.NEEDS_RECONNECT
FAILING = ConsoleState.FAILING
EXPIRING = ConsoleState.EXPIRING
STATES = tuple(s.value for s in ConsoleState)  # plain text: CLI choices, query values
STATE_LABELS = {
    HEALTHY: "Healthy",
    SYNCING: "Syncing",
    NEEDS_RECONNECT: "Needs reconnect",
    FAILING: "Failing",
    EXPIRING: "Subscription expiring soon",
}
STATE_HELP = {
    HEALTHY: "In sync, push subscription live.",
    SYNCING: "A sync is queued, running or waiting out provider throttling.",
    NEEDS_RECONNECT: "The member must connect the account again in the portal; "
    "nothing syncs until then.",
    FAILING: "The last sync or renewal failed; it is retried with backoff.",
    EXPIRING: "Push is about to lapse (renewal is overdue): renew now, or look at the error.",
}


def reconcile_lock_of_connection() -> Any:
    """The queueing lock a reconcile of the row's connection holds (jobs/reconcile.py)."""
    return literal("reconcile:") + cast(Connection.id, String)


def reconcile_queued() -> Any:
    """A reconcile of the connection waits in the queue (the unique queueing lock)."""
    return exists().where(
        _jobs.c.status == literal_column("'todo'"),
        _jobs.c.queueing_lock == reconcile_lock_of_connection(),
    )


def reconcile_running() -> Any:
    """A reconcile of the connection runs now (found through its account's lock)."""
    return exists().where(
        _jobs.c.status == literal_column("'doing'"),
        _jobs.c.lock == literal("account:") + cast(Connection.provider_account_id, String),
        _jobs.c.queueing_lock == reconcile_lock_of_connection(),
        _jobs.c.task_name == names.RECONCILE,
    )


def active_reconciles() -> Any:
    """The queueing locks of reconcile jobs queued or running, one row each: join it
    (outer) on `reconcile_lock_of_connection()` to test many connections at once with
    one hash instead of a probe per row (the list and the summary do)."""
    return (
        select(_jobs.c.queueing_lock)
        .where(
            or_(
                _jobs.c.status == literal_column("'todo'"),
                _jobs.c.status == literal_column("'doing'"),
            ),
            _jobs.c.task_name == names.RECONCILE,
            _jobs.c.queueing_lock.is_not(None),
        )
        .distinct()
        .subquery("active_reconciles")
    )


def state_expr(now: datetime, soon: timedelta, busy: Any | None = None) -> Any:
    """The console's health of the row (a SQL expression over `connections` joined to
    its `provider_accounts` row, outer). `busy`: whether a reconcile is queued or
    running, when the caller joined `active_reconciles()`; by default two EXISTS
    probes of the job table per row."""
    if busy is None:
        busy = or_(reconcile_queued(), reconcile_running())
    health = health_expr()
    return case(
        (
            or_(
                ProviderAccount.status.is_(None),
                ProviderAccount.status != AccountStatus.ACTIVE.value,
                health == Health.NEEDS_RECONNECT.value,
            ),
            NEEDS_RECONNECT.value,
        ),
        # An unverified CalendarId (sync/reconcile/verify.py) fails: its error says why.
        (
            health.in_([Health.FAILING.value, Health.ERROR.value, Health.UNVERIFIED.value]),
            FAILING.value,
        ),
        (health.in_([Health.NEW.value, Health.PROVISIONING.value]), SYNCING.value),
        (
            and_(
                Connection.push_supported,
                Connection.calendar_id.is_not(None),
                or_(
                    Connection.subscription_expire_date.is_(None),
                    Connection.subscription_expire_date <= now + soon,
                ),
            ),
            EXPIRING.value,
        ),
        (
            or_(
                health == Health.THROTTLED.value,
                Connection.sync_requested_at.is_not(None),
                Connection.resync_requested,
                busy,
            ),
            SYNCING.value,
        ),
        else_=HEALTHY.value,
    )
