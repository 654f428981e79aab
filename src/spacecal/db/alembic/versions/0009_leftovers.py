"""Leftovers of disconnected connections, retried with backoff.

`detached_calendars`: calendars of connections disconnected because their resource
was made unbookable or deleted. The calendar is kept; a job writes a note on it
(Google: its description; Graph, whose calendars have no description: a name
suffix). The row stays until the note is written, with its attempts and next try.

`subscription_generations.stop_failures` / `stop_retry_at`: a channel or
subscription of a deleted connection that could not be stopped is tried again only
after a growing wait, not on every keep-alive pass.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column(
        "subscription_generations",
        sa.Column("stop_failures", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("subscription_generations", sa.Column("stop_retry_at", TZ))
    op.create_table(
        "detached_calendars",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column(
            "provider_account_id",
            sa.BigInteger(),
            sa.ForeignKey("provider_accounts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("calendar_id", sa.String(1024), nullable=False),
        sa.Column("name", sa.String(400), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("retry_at", TZ),
        sa.Column("last_error", sa.Text()),
    )
    op.create_index("detached_calendars_account", "detached_calendars", ["provider_account_id"])


def downgrade() -> None:
    op.drop_index("detached_calendars_account", table_name="detached_calendars")
    op.drop_table("detached_calendars")
    op.drop_column("subscription_generations", "stop_retry_at")
    op.drop_column("subscription_generations", "stop_failures")
