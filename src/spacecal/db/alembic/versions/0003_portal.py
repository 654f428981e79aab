"""Members' portal: one-time sign-in links and OAuth connect states.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    # A sign-in link an admin issues: stored hashed, single use, short-lived.
    op.create_table(
        "member_sign_in_links",
        sa.Column("token_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column(
            "coworker_id",
            sa.BigInteger(),
            sa.ForeignKey("coworkers.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("used_at", TZ),
    )
    # One OAuth connect attempt: the state is signed and single use; the PKCE
    # verifier is kept encrypted until the callback.
    op.create_table(
        "oauth_states",
        sa.Column("state_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column(
            "coworker_id",
            sa.BigInteger(),
            sa.ForeignKey("coworkers.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("code_verifier_enc", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("used_at", TZ),
        sa.CheckConstraint("provider IN ('google', 'microsoft')", name="oauth_states_provider"),
    )


def downgrade() -> None:
    op.drop_table("oauth_states")
    op.drop_table("member_sign_in_links")
