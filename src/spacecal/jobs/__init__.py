"""The job boundary: the only package that knows procrastinate (DESIGN, "Only one
package knows procrastinate").

- names: every stored queue and task name;
- registry: the `task` / `periodic_task` decorators the modules above register through;
- queue: deferring in the caller's transaction (one, a batch, postpone, outbox);
- batch: a running job taking more queued jobs of its kind, under their own locks;
- reconcile: the reconcile job's locks and arguments (DESIGN, Jobs);
- app, worker, periodic: building the procrastinate app, running a worker,
  schedules and stalled-job recovery;
- sql: every statement against procrastinate's schema; status: reading it;
- internals: the one private procrastinate attribute spacecal uses.

Its schema is frozen in migration 0004 (db/alembic/sql/), and database triggers
write outbox rows (migration 0012) that the dispatcher drains into jobs.
This package imports nothing from sync/ or outbound/: they are above it.
"""

from __future__ import annotations

from spacecal.jobs import names
from spacecal.jobs.queue import (
    ANALYZE_AFTER_JOBS,
    JobRow,
    defer,
    defer_many,
    drain_outbox,
    postpone,
    refresh_statistics,
)
from spacecal.jobs.registry import every, periodic_task, registered, task

__all__ = [
    "ANALYZE_AFTER_JOBS",
    "JobRow",
    "defer",
    "defer_many",
    "drain_outbox",
    "every",
    "names",
    "periodic_task",
    "postpone",
    "refresh_statistics",
    "registered",
    "task",
]
