"""Providers' per-account limits: a read-only pause, paced calendar creation, waiting set-ups.

- `provider_accounts.writes_paused_until`: the provider said the account is over its
  usage limits (Google `quotaExceeded`: calendars read-only for hours); no process
  writes to it before then (reads go on).
- `provider_accounts.calendar_pace_at`: the pacing of calendar creation per account
  (a generic cell rate: the theoretical time of the next creation).
- `connections.setup_after`: a set-up that waits (the pause, or the pace); the
  periodic resume finishes it from then on, level-triggered.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE provider_accounts ADD COLUMN writes_paused_until timestamptz,"
        " ADD COLUMN calendar_pace_at timestamptz"
    )
    op.execute("ALTER TABLE connections ADD COLUMN setup_after timestamptz")
    op.execute(
        "CREATE INDEX connections_setup_after ON connections (setup_after)"
        " WHERE setup_after IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX connections_setup_after")
    op.execute("ALTER TABLE connections DROP COLUMN setup_after")
    op.execute(
        "ALTER TABLE provider_accounts DROP COLUMN writes_paused_until,"
        " DROP COLUMN calendar_pace_at"
    )
