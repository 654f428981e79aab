"""Outbound webhooks: the WebHook record (`/api/sys/webhooks`).

One row per subscriber URL and action. The secret is stored encrypted with the
TokenCipher (never returned); `error_count` counts consecutive failed deliveries and
`active` turns false once it reaches the configured limit, with `last_error` saying why.
Deliveries themselves are procrastinate jobs deferred in the transaction of the change.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("unique_id", sa.UUID(), nullable=False),
        sa.Column("created_on", TZ, nullable=False),
        sa.Column("updated_on", TZ, nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=True),
        sa.Column("system_id", sa.String(length=200), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("secret_enc", sa.LargeBinary(), nullable=True),
        sa.Column("last_trigger", TZ, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("error_count", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("unique_id"),
    )
    # Every change looks up the active hooks of one action.
    op.create_index(
        "webhooks_active_action",
        "webhooks",
        ["action"],
        postgresql_where=sa.text("active"),
    )


def downgrade() -> None:
    op.drop_index("webhooks_active_action", table_name="webhooks")
    op.drop_table("webhooks")
