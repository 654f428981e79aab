"""Index for searching connection records by resource.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("connections_provider_resource", "connections", ["provider", "resource_id"])


def downgrade() -> None:
    op.drop_index("connections_provider_resource", table_name="connections")
