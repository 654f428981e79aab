"""Request budgets shared by every process (sync/pacing.py).

`request_pace`: one row per budget scope (`google:account:<id>`, `google:project`,
the same for `microsoft`), holding the theoretical time of the scope's next request
(a generic cell rate). No foreign key: a project scope has no account, and a row of
a deleted account is harmless (its time passes; prune removes past rows).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE TABLE request_pace ("
        " scope text NOT NULL,"
        " pace_at timestamptz NOT NULL,"
        " CONSTRAINT request_pace_pkey PRIMARY KEY (scope))"
    )


def downgrade() -> None:
    op.execute("DROP TABLE request_pace")
