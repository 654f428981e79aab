"""procrastinate's job tables, so `spacecal db upgrade` sets up everything.

The SQL is the schema file shipped with the locked procrastinate version. A later
procrastinate upgrade adds its own migration files here as new revisions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from __future__ import annotations

from alembic import op
from procrastinate.schema import SchemaManager

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # text() escapes % for the driver itself; the schema goes in verbatim.
    op.execute(SchemaManager.get_schema())


def downgrade() -> None:
    for table in (
        "procrastinate_events",
        "procrastinate_periodic_defers",
        "procrastinate_jobs",
        "procrastinate_workers",
    ):
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    op.execute("DROP TYPE IF EXISTS procrastinate_job_status CASCADE")
    op.execute("DROP TYPE IF EXISTS procrastinate_job_event_type CASCADE")
