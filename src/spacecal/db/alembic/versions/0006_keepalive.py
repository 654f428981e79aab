"""Keep-alive state: what renewal, lifecycle handling, the window roll and renames
must still do, derivable from the tables (level-triggered), and the account of each
subscription generation, so a channel whose connection row is gone can still be
stopped.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column(
        "subscription_generations",
        sa.Column(
            "provider_account_id",
            sa.BigInteger(),
            sa.ForeignKey("provider_accounts.id", ondelete="SET NULL"),
        ),
    )
    op.execute(
        "UPDATE subscription_generations g SET provider_account_id = c.provider_account_id"
        " FROM connections c WHERE c.id = g.connection_id"
    )
    op.create_index(
        "subgen_open",
        "subscription_generations",
        ["status", "expires_at"],
        postgresql_where=sa.text("status IN ('live', 'stopping')"),
    )
    for flag in ("renew_requested", "resync_requested", "rename_pending"):
        op.add_column(
            "connections",
            sa.Column(flag, sa.Boolean(), nullable=False, server_default=sa.false()),
        )
    op.add_column(
        "connections",
        sa.Column("renewal_failures", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("connections", sa.Column("renewal_retry_at", TZ))


def downgrade() -> None:
    for column in (
        "renewal_retry_at",
        "renewal_failures",
        "rename_pending",
        "resync_requested",
        "renew_requested",
    ):
        op.drop_column("connections", column)
    op.drop_index("subgen_open", table_name="subscription_generations")
    op.drop_column("subscription_generations", "provider_account_id")
