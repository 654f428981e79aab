"""Sign-in, tokens and sessions can be limited and revoked (issue 17 items 2, 4, 6, 8).

- `login_counters`: the sign-in limiter's counts, shared by every API process. One row
  per key (account+address, address, account), a fixed window starting at its first
  attempt; an attempt reserves a slot before its password is verified.
- `api_tokens.chain` / `chain_started_at`: the refresh-token chain a token belongs to
  (one per password grant), so reuse of a spent refresh token revokes the whole chain
  and a chain has an absolute lifetime. Existing tokens each start their own chain.
- `api_users.generation`, `coworkers.session_generation`: bumped by a password change,
  deactivation, token revocation or sign-out; a console or portal session cookie, and
  a cached Basic credential, are good only for the generation they were made under.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "login_counters",
        sa.Column("key", sa.Text(), primary_key=True),
        sa.Column("window_start", TZ, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
    )
    op.create_index("ix_login_counters_window_start", "login_counters", ["window_start"])
    op.add_column("api_tokens", sa.Column("chain", sa.LargeBinary()))
    op.add_column("api_tokens", sa.Column("chain_started_at", TZ))
    op.execute("UPDATE api_tokens SET chain = token_hash, chain_started_at = created_at")
    op.alter_column("api_tokens", "chain", nullable=False)
    op.alter_column("api_tokens", "chain_started_at", nullable=False)
    op.create_index("ix_api_tokens_chain", "api_tokens", ["chain"])
    op.add_column(
        "api_users",
        sa.Column("generation", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column(
        "coworkers",
        sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_column("coworkers", "session_generation")
    op.drop_column("api_users", "generation")
    op.drop_index("ix_api_tokens_chain", table_name="api_tokens")
    op.drop_column("api_tokens", "chain_started_at")
    op.drop_column("api_tokens", "chain")
    op.drop_index("ix_login_counters_window_start", table_name="login_counters")
    op.drop_table("login_counters")
