"""State the sync core keeps so that what must happen is derivable from tables:
the time an event was refused at, the write owed to a calendar, and a connection's
failure count and backoff.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("event_links", sa.Column("refused_start", TZ))
    op.add_column("event_links", sa.Column("refused_end", TZ))
    op.add_column(
        "event_links",
        sa.Column("refused_all_day", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    # The calendar write this event is owed (mark, put back, unmark); NULL when none.
    op.add_column("event_links", sa.Column("pending_write", JSONB))
    op.add_column("event_links", sa.Column("pending_since", TZ))
    op.create_index(
        "event_links_pending",
        "event_links",
        ["connection_id"],
        postgresql_where=sa.text("pending_write IS NOT NULL"),
    )
    op.add_column(
        "connections",
        sa.Column("consecutive_failures", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("connections", sa.Column("retry_at", TZ))
    op.create_index("connections_last_sync", "connections", ["last_sync_at"])


def downgrade() -> None:
    op.drop_index("connections_last_sync", table_name="connections")
    op.drop_column("connections", "retry_at")
    op.drop_column("connections", "consecutive_failures")
    op.drop_index("event_links_pending", table_name="event_links")
    for column in (
        "pending_since",
        "pending_write",
        "refused_all_day",
        "refused_end",
        "refused_start",
    ):
        op.drop_column("event_links", column)
