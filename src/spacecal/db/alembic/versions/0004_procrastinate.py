"""procrastinate's job tables, so `spacecal db upgrade` sets up everything.

The SQL is frozen data: `db/alembic/sql/procrastinate_3.10.0.sql`, the schema file
of procrastinate 3.10.0 (the version pinned exactly in pyproject.toml) as it was
when this revision was written. It is never computed from the procrastinate
installed at migration time: a patch upgrade would otherwise give fresh databases a
different schema from upgraded ones. `tests/db/test_procrastinate_schema.py`
compares what the frozen revisions build with what the installed procrastinate's
`SchemaManager.get_schema()` builds; after an upgrade of procrastinate it fails
until a new revision applies procrastinate's own migration files for the step.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = Path(__file__).parent.parent / "sql" / "procrastinate_3.10.0.sql"


def upgrade() -> None:
    # text() escapes % for the driver itself; the schema goes in verbatim.
    op.execute(SCHEMA.read_text(encoding="utf-8"))


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
