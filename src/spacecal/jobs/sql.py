"""Every piece of SQL that touches procrastinate's schema, in one place.

procrastinate's tables and functions are its own: they change with its versions
(a `procrastinate_defer_jobs_v2` may replace `_v1`). Keeping all of spacecal's SQL
against them here means an upgrade is checked in one module:
`tests/jobs/test_sql.py` reads every statement below for the procrastinate names it
uses and checks each is declared in FUNCTIONS, TYPES or TABLES, and that each of
those exists after `spacecal db upgrade`.

Times: a job's run time is `now() + make_interval(secs => :delay)` (DESIGN, Time):
procrastinate compares `scheduled_at` with PostgreSQL's clock, never spacecal's.
"""

from __future__ import annotations

from sqlalchemy import String, column, table, text

#: Functions spacecal calls, with their argument signature (regprocedure syntax).
FUNCTIONS = {
    "procrastinate_defer_jobs_v1": "procrastinate_job_to_defer_v1[]",
    "procrastinate_finish_job_v1": "bigint, procrastinate_job_status, boolean",
}
#: Types spacecal names (casts, composite rows).
TYPES = ("procrastinate_job_to_defer_v1", "procrastinate_job_status")
#: Tables spacecal reads or writes directly.
TABLES = (
    "procrastinate_jobs",
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_workers",
)
#: spacecal's own table in front of procrastinate (migration 0012).
OUTBOX = "job_outbox"

# One job, in the caller's transaction; a NULL delay means "now".
DEFER_ONE = text(
    "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, :priority, :lock,"
    " :queueing_lock, CAST(:args AS jsonb),"
    " now() + make_interval(secs => CAST(:delay AS double precision)))"
    "]::procrastinate_job_to_defer_v1[])"
)

# Many jobs of one task in one statement: one array, one insert (no delay).
DEFER_MANY = text(
    "SELECT procrastinate_defer_jobs_v1(ARRAY(SELECT ROW(:queue, :task, :priority, j.lock,"
    " j.queueing_lock, j.args, NULL)::procrastinate_job_to_defer_v1"
    " FROM unnest(CAST(:locks AS text[]), CAST(:queueing_locks AS text[]),"
    " CAST(:args AS jsonb[])) AS j(lock, queueing_lock, args)))"
)

# Which of these queueing locks have a job waiting (the unique index's condition).
QUEUED_LOCKS = text(
    "SELECT queueing_lock FROM procrastinate_jobs"
    " WHERE status = 'todo' AND queueing_lock = ANY(CAST(:locks AS text[]))"
)

# Push an already queued job later (throttling: wait out Retry-After).
POSTPONE = text(
    "UPDATE procrastinate_jobs"
    " SET scheduled_at = now() + make_interval(secs => CAST(:delay AS double precision))"
    " WHERE queueing_lock = :queueing_lock AND status = 'todo'"
    " AND (scheduled_at IS NULL"
    "      OR scheduled_at < now() + make_interval(secs => CAST(:delay AS double precision)))"
)

ANALYZE_JOBS = text("ANALYZE procrastinate_jobs")

# The outbox (migration 0012): rows database triggers wrote instead of calling
# procrastinate. Taken oldest first, deleted and deferred in one statement;
# SKIP LOCKED lets several dispatchers drain it side by side.
DRAIN_OUTBOX = text(
    "WITH taken AS (DELETE FROM job_outbox WHERE id IN"
    " (SELECT id FROM job_outbox ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED)"
    " RETURNING id, queue_name, task_name, args)"
    " SELECT coalesce(cardinality(procrastinate_defer_jobs_v1(ARRAY("
    " SELECT ROW(queue_name, task_name, 0, NULL, NULL, args, NULL)"
    "::procrastinate_job_to_defer_v1 FROM taken ORDER BY id))), 0)"
)

# --- reading the queue (metrics, doctor, console, pruning) ----------------------------

JOB_COUNTS = text(
    "SELECT status::text, count(*) FROM procrastinate_jobs"
    " WHERE status IN ('todo', 'doing') GROUP BY status"
)

WORKERS_ALIVE = text(
    "SELECT count(*) FROM procrastinate_workers"
    " WHERE last_heartbeat > now() - make_interval(secs => :s)"
)

# Jobs that could run now, and when the oldest of them was deferred.
RUNNABLE = text(
    "SELECT count(*), min(e.at) FROM procrastinate_jobs j"
    " LEFT JOIN procrastinate_events e ON e.job_id = j.id AND e.type = 'deferred'"
    " WHERE j.status = 'todo'"
    " AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())"
)

RUNNING = text("SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing'")

# procrastinate_events cascades with its job. A job's age is its last event's time;
# a job with no events (deleted history) falls back to its scheduled time. The few jobs
# procrastinate's periodic bookkeeping still points at (no cascade there) are kept:
# procrastinate replaces those rows itself.
PRUNE_FINISHED = text(
    "DELETE FROM procrastinate_jobs j"
    " WHERE j.status IN ('succeeded', 'failed', 'cancelled', 'aborted')"
    " AND NOT EXISTS (SELECT 1 FROM procrastinate_periodic_defers p WHERE p.job_id = j.id)"
    " AND COALESCE((SELECT max(e.at) FROM procrastinate_events e WHERE e.job_id = j.id),"
    "              j.scheduled_at, '-infinity'::timestamptz)"
    " < now() - make_interval(secs => :age_seconds)"
)

#: The job table for SQLAlchemy expressions (the console's health states).
#: `status` is procrastinate's enum type: compare it with literal columns.
JOBS = table(
    "procrastinate_jobs",
    column("status"),
    column("lock", String),
    column("queueing_lock", String),
    column("task_name", String),
)


# Claiming queued jobs into a running one (jobs/batch.py), by the lock rule of
# procrastinate_fetch_job_v2 (frozen in db/alembic/sql), for many at once: no job with
# the same lock running, none waiting ahead of it (higher priority, or the same
# priority and queued first). Two claimed in one statement never share a lock: the
# later one sees the earlier one waiting ahead.
CLAIM_QUEUED = text(
    "WITH candidate AS ("
    " SELECT jobs.id FROM procrastinate_jobs AS jobs"
    " WHERE jobs.status = 'todo' AND jobs.task_name = :task"
    " AND jobs.queueing_lock LIKE :prefix"
    " AND (jobs.scheduled_at IS NULL OR jobs.scheduled_at <= now())"
    " AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs AS other"
    "  WHERE jobs.lock IS NOT NULL AND other.lock = jobs.lock"
    "  AND (other.status = 'doing' OR (other.status = 'todo'"
    "   AND (other.priority > jobs.priority"
    "    OR (other.priority = jobs.priority AND other.id < jobs.id)))))"
    " ORDER BY jobs.priority DESC, jobs.id LIMIT :n"
    " FOR UPDATE OF jobs SKIP LOCKED)"
    " UPDATE procrastinate_jobs AS j SET status = 'doing', worker_id = :worker"
    " FROM candidate WHERE j.id = candidate.id"
    " RETURNING j.id, j.args"
)
FINISH_CLAIMED = text(
    "SELECT procrastinate_finish_job_v1(f.id, CAST(f.status AS procrastinate_job_status),"
    " false) FROM unnest(CAST(:ids AS bigint[]), CAST(:statuses AS text[])) AS f(id, status)"
)
