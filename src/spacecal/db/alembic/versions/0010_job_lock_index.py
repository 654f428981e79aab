"""An index for procrastinate's fetch of jobs that share a lock.

procrastinate's `procrastinate_fetch_job_v2` skips a job when another job with the
same `lock` is running or queued ahead of it (a NOT EXISTS on `lock`). Its own
indexes lead with `id` (or cover only running jobs), so each of those checks reads
the whole queue index: a fetch over N queued jobs costs O(N), and a worker fetches one
job at a time. With 2,000 queued keep-alive jobs (spacecal locks every job of one
provider account) a fetch took 25-40 ms on the embedded server and up to 600 ms on
PostgreSQL 15 with stale statistics, which capped renewal at ~30 jobs/s however many
ran at once. With this index each check is one probe: ~2 ms per fetch on that queue.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-21
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

INDEX = "spacecal_procrastinate_jobs_lock_queued"


def upgrade() -> None:
    op.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON procrastinate_jobs"
        " (lock, priority DESC, id) WHERE status IN ('todo', 'doing')"
    )


def downgrade() -> None:
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")
