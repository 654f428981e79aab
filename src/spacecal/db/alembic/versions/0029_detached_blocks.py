"""Availability blocks in kept calendars.

`detached_calendars.block_event_ids`: the block events a disconnected calendar still
holds; the leftovers job deletes them before it writes the calendar's note
(sync/upkeep/detached_calendars.py). The column has a constant default, so adding
it rewrites nothing.

Revision ID: 0029
Revises: 0027
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0029"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE detached_calendars"
        " ADD COLUMN block_event_ids jsonb NOT NULL DEFAULT '[]'::jsonb"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE detached_calendars DROP COLUMN block_event_ids")
