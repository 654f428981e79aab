"""Notification marks and hourly activity counts.

A notification commits only a mark on its connection (`sync_requested_at`,
`notifications_pending`); the worker turns marks into reconcile jobs in batches, so
intake does not pay for a job insert and its NOTIFY on every request.
`activity_hourly` keeps counts per hour, business, provider and kind (notification,
sync, booking_from_calendar, refusal) for the console's charts: small, and not
pruned with the sync history.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("connections", sa.Column("sync_requested_at", TZ))
    op.add_column(
        "connections",
        sa.Column("notifications_pending", sa.Integer(), nullable=False, server_default="0"),
    )
    # The trace id of the first notification behind a mark, so logs can follow one
    # change from webhook to job to booking to write-back.
    op.add_column("connections", sa.Column("sync_requested_trace", sa.String(64)))
    op.create_index(
        "connections_sync_requested",
        "connections",
        ["sync_requested_at"],
        postgresql_where=sa.text("sync_requested_at IS NOT NULL"),
    )
    op.create_table(
        "activity_hourly",
        sa.Column("hour", TZ, nullable=False),
        sa.Column("business_id", sa.BigInteger(), nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("hour", "business_id", "provider", "kind"),
    )


def downgrade() -> None:
    op.drop_table("activity_hourly")
    op.drop_index("connections_sync_requested", table_name="connections")
    op.drop_column("connections", "sync_requested_trace")
    op.drop_column("connections", "notifications_pending")
    op.drop_column("connections", "sync_requested_at")
