"""The stored states' values, and a connection's health derived in one place.

Each loop that can fail keeps its own condition, so none has to guess whose error a
shared column holds (they used to arbitrate on `last_error.startswith(...)`):

- sync (reconcile, provisioning, consent): `connections.health` (a `Health`),
  `last_error`, `last_error_at`, `consecutive_failures`, `retry_at`;
- renewal (keep-alive): `renewal_error`, `renewal_error_at`, `renewal_failures`,
  `renewal_retry_at`;
- leftover stops: `subscription_generations.stop_failures`, `stop_retry_at`; notes
  owed to kept calendars: `detached_calendars.attempts`, `retry_at`, `last_error`;
- deliveries: `webhooks.error_count`, `last_error`.

What a connection's health *is* (the API's `Health` and `LastError`, the portal,
the console and the CLI, which add what the job table and the account know on top:
admin/health.py) comes from `health_expr` and `error_expr` here: a needed reconnect
first, then a failing renewal (unless the sync is failing too and failed later),
then what the sync found. The rule itself is one SQL function,
`spacecal_connection_health` (migration 0013), because the outbound
webhook trigger announces transitions of that same derived health.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, ColumnElement, String, case, func

from spacecal.db.models import Connection


class Health(StrEnum):
    """Values of `connections.health` (the sync loop's condition) and of the derived
    health shown as a record's `Health`."""

    NEW = "new"
    PROVISIONING = "provisioning"
    HEALTHY = "healthy"
    FAILING = "failing"
    THROTTLED = "throttled"
    NEEDS_RECONNECT = "needs_reconnect"
    ERROR = "error"  # setting up the calendar failed, or a stored id is unusable
    # The CalendarId was not verified as a calendar spacecal made for this account
    # (sync/reconcile/verify.py): nothing of it is read or written.
    UNVERIFIED = "unverified"


class AccountStatus(StrEnum):
    """Values of `provider_accounts.status`."""

    ACTIVE = "active"
    NEEDS_RECONNECT = "needs_reconnect"
    DISCONNECTED = "disconnected"


class GenerationStatus(StrEnum):
    """Values of `subscription_generations.status`."""

    LIVE = "live"
    STOPPING = "stopping"
    STOPPED = "stopped"


def _columns(table: Any) -> Any:
    return Connection.__table__.c if table is None else table.c


def _args(table: Any) -> tuple[Any, ...]:
    c = _columns(table)
    return (c.health, c.renewal_error, c.renewal_error_at, c.last_error_at)


def renewal_shown(table: Any = None) -> ColumnElement[bool]:
    """Whether the renewal's condition is the one to show: it failed, the account
    does not need a reconnect, and the sync is not failing with a later error."""
    return func.spacecal_renewal_shown(*_args(table), type_=Boolean)


def health_expr(table: Any = None) -> ColumnElement[str]:
    """A connection's health: the sync's condition, or failing while the renewal is.
    `table`: the `connections` table or an alias of it (default: the model's)."""
    return func.spacecal_connection_health(*_args(table), type_=String)


def error_expr(table: Any = None) -> ColumnElement[str]:
    """The error behind `health_expr` (None when there is none)."""
    c = _columns(table)
    return case((renewal_shown(table), c.renewal_error), else_=c.last_error)


def error_at_expr(table: Any = None) -> ColumnElement[Any]:
    """When the error of `error_expr` happened."""
    c = _columns(table)
    return case((renewal_shown(table), c.renewal_error_at), else_=c.last_error_at)
