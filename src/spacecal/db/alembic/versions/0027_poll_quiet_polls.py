"""CalDAV polls: how many quiet polls since the last change (issue 20).

`connections.poll_quiet_polls` counts the unchanged polls since the calendar last
changed (reset to 0 by a change). The first `SPACECAL_CALDAV_POLL_ACTIVE_POLLS` quiet
polls keep the short interval, so a calendar a member is editing stays polled often;
after them the interval doubles as before (sync/polling.py).

Revision ID: 0027
Revises: 0024
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0027"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE connections ADD COLUMN IF NOT EXISTS"
        " poll_quiet_polls integer NOT NULL DEFAULT 0"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE connections DROP COLUMN IF EXISTS poll_quiet_polls")
