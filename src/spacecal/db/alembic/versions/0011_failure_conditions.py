"""Renewal keeps its own failure condition beside the sync's.

Sync and renewal used to share `connections.health` and `last_error`, telling whose
error it was by a text prefix ("Keeping the calendar's push alive failed: "). The
renewal now records its failures in `renewal_error` / `renewal_error_at` (beside its
`renewal_failures` and `renewal_retry_at`), and the health shown is derived from both
(spacecal/db/conditions.py). Upgrading moves a renewal's error out of `last_error`;
a connection that was failing only because of it goes back to the sync's "healthy".

Revision ID: 0011_failure_conditions
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_failure_conditions"
down_revision = "0010"
branch_labels = None
depends_on = None

PREFIX = "Keeping the calendar's push alive failed: "


def upgrade() -> None:
    op.add_column("connections", sa.Column("renewal_error", sa.Text()))
    op.add_column("connections", sa.Column("renewal_error_at", sa.DateTime(timezone=True)))
    op.execute(
        sa.text(
            "UPDATE connections SET renewal_error = last_error,"
            " renewal_error_at = last_error_at, last_error = NULL, last_error_at = NULL,"
            " health = CASE WHEN health = 'failing' AND consecutive_failures = 0"
            " THEN 'healthy' ELSE health END"
            " WHERE starts_with(last_error, :prefix)"
        ).bindparams(prefix=PREFIX)
    )


def downgrade() -> None:
    op.execute(
        "UPDATE connections SET last_error = renewal_error,"
        " last_error_at = renewal_error_at, health = 'failing'"
        " WHERE renewal_error IS NOT NULL AND health <> 'needs_reconnect'"
        " AND (last_error_at IS NULL OR renewal_error_at >= last_error_at)"
    )
    op.drop_column("connections", "renewal_error_at")
    op.drop_column("connections", "renewal_error")
