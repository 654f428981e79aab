"""Series instances beyond the booking horizon, remembered until the horizon reaches them.

A pull that returns an unlinked instance of a member's recurring series beyond
`MaxBookingDaysAhead` leaves it undecided (domain/decide.py defers it, with no mark).
`deferred_instances` keeps what the pull said about it (its time, status and text),
so it is decided on the day the horizon reaches it without another pull: the sweep
queues a reconcile for every connection holding one whose day has come, and that
reconcile decides it like a freshly pulled event. This holds for every provider,
windowed or not (Google, Graph, and later CalDAV and invitations). A row goes when
its instance is decided, changed into a cancellation, or missing from a full pull.

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0015"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "deferred_instances",
        sa.Column(
            "connection_id",
            sa.BigInteger(),
            sa.ForeignKey("connections.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("event_key", sa.String(1024), primary_key=True),
        sa.Column("series_key", sa.String(1024), nullable=False),
        sa.Column("start_time", TZ, nullable=False),
        sa.Column("end_time", TZ, nullable=False),
        sa.Column("all_day", sa.Boolean(), nullable=False),
        sa.Column("tentative", sa.Boolean(), nullable=False),
        sa.Column("original_start", TZ),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("changed_at", TZ),
        sa.Column("updated_at", TZ, nullable=False),
    )
    # The sweep looks for the earliest instances of every connection.
    op.create_index("deferred_instances_start", "deferred_instances", ["start_time"])


def downgrade() -> None:
    op.drop_index("deferred_instances_start", table_name="deferred_instances")
    op.drop_table("deferred_instances")
