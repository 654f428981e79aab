"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-21 11:28:36.943204
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_users",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("roles", postgresql.ARRAY(sa.String(length=100)), nullable=False),
        sa.Column("full_admin", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_on", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    op.create_table(
        "businesses",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("max_booking_days_ahead", sa.Integer(), nullable=False),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("unique_id", sa.UUID(), nullable=False),
        sa.Column("created_on", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_on", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=True),
        sa.Column("system_id", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("unique_id"),
    )
    op.create_table(
        "spacecal_meta",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('access', 'refresh')", name="api_tokens_kind"),
        sa.ForeignKeyConstraint(["user_id"], ["api_users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index(op.f("ix_api_tokens_expires_at"), "api_tokens", ["expires_at"], unique=False)
    op.create_index(op.f("ix_api_tokens_user_id"), "api_tokens", ["user_id"], unique=False)
    op.create_table(
        "coworkers",
        sa.Column("business_id", sa.BigInteger(), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("unique_id", sa.UUID(), nullable=False),
        sa.Column("created_on", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_on", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=True),
        sa.Column("system_id", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["business_id"], ["businesses.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("unique_id"),
    )
    op.create_index(op.f("ix_coworkers_business_id"), "coworkers", ["business_id"], unique=False)
    op.create_index(op.f("ix_coworkers_email"), "coworkers", ["email"], unique=False)
    op.create_table(
        "resources",
        sa.Column("business_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("resource_type", sa.String(length=16), nullable=False),
        sa.Column("visible", sa.Boolean(), nullable=False),
        sa.Column("bookable", sa.Boolean(), nullable=False),
        sa.Column("all_day_bookable", sa.Boolean(), nullable=False),
        sa.Column("slot_step_minutes", sa.Integer(), nullable=False),
        sa.Column("min_booking_minutes", sa.Integer(), nullable=True),
        sa.Column("max_booking_minutes", sa.Integer(), nullable=True),
        sa.Column("opening_hours", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("google_calendar_id", sa.String(length=1024), nullable=True),
        sa.Column("office365_calendar_id", sa.String(length=1024), nullable=True),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("unique_id", sa.UUID(), nullable=False),
        sa.Column("created_on", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_on", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=True),
        sa.Column("system_id", sa.String(length=200), nullable=True),
        sa.CheckConstraint("resource_type IN ('room', 'desk')", name="resources_type_known"),
        sa.CheckConstraint("slot_step_minutes > 0", name="resources_step_positive"),
        sa.ForeignKeyConstraint(["business_id"], ["businesses.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("unique_id"),
    )
    op.create_index(op.f("ix_resources_business_id"), "resources", ["business_id"], unique=False)
    op.create_table(
        "bookings",
        sa.Column("resource_id", sa.BigInteger(), nullable=False),
        sa.Column("coworker_id", sa.BigInteger(), nullable=True),
        sa.Column("from_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("to_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("tentative", sa.Boolean(), nullable=False),
        sa.Column("google_calendar_id", sa.String(length=1024), nullable=True),
        sa.Column("google_event_id", sa.String(length=1024), nullable=True),
        sa.Column("office365_event_id", sa.String(length=1024), nullable=True),
        sa.Column("repeat_series_unique_id", sa.UUID(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("unique_id", sa.UUID(), nullable=False),
        sa.Column("created_on", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_on", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=True),
        sa.Column("system_id", sa.String(length=200), nullable=True),
        sa.CheckConstraint(
            "source IN ('api', 'portal', 'google', 'microsoft')", name="bookings_source_known"
        ),
        sa.CheckConstraint("to_time > from_time", name="bookings_positive_span"),
        sa.ForeignKeyConstraint(["coworker_id"], ["coworkers.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["resource_id"], ["resources.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("unique_id"),
    )
    op.create_index(
        "bookings_coworker_resource", "bookings", ["coworker_id", "resource_id"], unique=False
    )
    op.create_index(
        "bookings_resource_time", "bookings", ["resource_id", "from_time"], unique=False
    )
    op.create_table(
        "provider_accounts",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("coworker_id", sa.BigInteger(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("refresh_token_enc", sa.LargeBinary(), nullable=True),
        sa.Column("access_token_enc", sa.LargeBinary(), nullable=True),
        sa.Column("access_token_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scopes", postgresql.ARRAY(sa.String(length=200)), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "provider IN ('google', 'microsoft')", name="provider_accounts_provider"
        ),
        sa.CheckConstraint(
            "status IN ('active', 'needs_reconnect', 'disconnected')",
            name="provider_accounts_status",
        ),
        sa.ForeignKeyConstraint(["coworker_id"], ["coworkers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("coworker_id", "provider", name="provider_accounts_one_per_member"),
    )
    op.create_table(
        "connections",
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("resource_id", sa.BigInteger(), nullable=False),
        sa.Column("coworker_id", sa.BigInteger(), nullable=True),
        sa.Column("name", sa.String(length=400), nullable=False),
        sa.Column("subscription_id", sa.String(length=400), nullable=True),
        sa.Column("calendar_id", sa.String(length=1024), nullable=True),
        sa.Column("subscription_expire_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("watch_resource_id", sa.String(length=400), nullable=True),
        sa.Column("event_sync_token", sa.Text(), nullable=True),
        sa.Column("provider_account_id", sa.BigInteger(), nullable=True),
        sa.Column("delta_link", sa.Text(), nullable=True),
        sa.Column("sync_window_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sync_window_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("health", sa.String(length=20), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_notification_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("push_supported", sa.Boolean(), nullable=False),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("unique_id", sa.UUID(), nullable=False),
        sa.Column("created_on", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_on", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=True),
        sa.Column("system_id", sa.String(length=200), nullable=True),
        sa.CheckConstraint("provider IN ('google', 'microsoft')", name="connections_provider"),
        sa.ForeignKeyConstraint(["coworker_id"], ["coworkers.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(
            ["provider_account_id"], ["provider_accounts.id"], ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(["resource_id"], ["resources.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("unique_id"),
    )
    op.create_index(
        "connections_coworker_resource", "connections", ["coworker_id", "resource_id"], unique=False
    )
    op.create_index(
        "connections_provider_expiry",
        "connections",
        ["provider", "subscription_expire_date"],
        unique=False,
    )
    op.create_index("connections_provider_id", "connections", ["provider", "id"], unique=False)
    op.create_index(
        op.f("ix_connections_provider_account_id"),
        "connections",
        ["provider_account_id"],
        unique=False,
    )
    op.create_table(
        "event_links",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("connection_id", sa.BigInteger(), nullable=False),
        sa.Column("event_key", sa.String(length=1024), nullable=False),
        sa.Column("series_key", sa.String(length=1024), nullable=True),
        sa.Column("booking_id", sa.BigInteger(), nullable=True),
        sa.Column("written_etag", sa.String(length=400), nullable=True),
        sa.Column("booking_version", sa.Integer(), nullable=True),
        sa.Column("refused_reason", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["booking_id"], ["bookings.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["connection_id"], ["connections.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("connection_id", "event_key", name="event_links_unique_event"),
    )
    op.create_index("event_links_booking", "event_links", ["booking_id"], unique=False)
    op.create_table(
        "subscription_generations",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("connection_id", sa.BigInteger(), nullable=True),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("subscription_id", sa.String(length=400), nullable=False),
        sa.Column("watch_resource_id", sa.String(length=400), nullable=True),
        sa.Column("secret", sa.String(length=256), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('live', 'stopping', 'stopped')", name="subgen_status"),
        sa.ForeignKeyConstraint(["connection_id"], ["connections.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider", "subscription_id", name="subgen_unique_id"),
    )
    op.create_index(
        op.f("ix_subscription_generations_connection_id"),
        "subscription_generations",
        ["connection_id"],
        unique=False,
    )
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("connection_id", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("full_sync", sa.Boolean(), nullable=False),
        sa.Column("changes_pulled", sa.Integer(), nullable=False),
        sa.Column("writes", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["connection_id"], ["connections.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_sync_runs_connection_id"), "sync_runs", ["connection_id"], unique=False
    )
    # No two live bookings of one resource may overlap, whatever races the
    # application loses. int8range equality stands in for btree_gist, which the
    # embedded server does not ship.
    op.execute(
        "ALTER TABLE bookings ADD CONSTRAINT bookings_no_overlap EXCLUDE USING gist "
        "(int8range(resource_id, resource_id, '[]') WITH =, "
        "tstzrange(from_time, to_time) WITH &&) WHERE (cancelled_at IS NULL)"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_sync_runs_connection_id"), table_name="sync_runs")
    op.drop_table("sync_runs")
    op.drop_index(
        op.f("ix_subscription_generations_connection_id"), table_name="subscription_generations"
    )
    op.drop_table("subscription_generations")
    op.drop_index("event_links_booking", table_name="event_links")
    op.drop_table("event_links")
    op.drop_index(op.f("ix_connections_provider_account_id"), table_name="connections")
    op.drop_index("connections_provider_id", table_name="connections")
    op.drop_index("connections_provider_expiry", table_name="connections")
    op.drop_index("connections_coworker_resource", table_name="connections")
    op.drop_table("connections")
    op.drop_table("provider_accounts")
    op.drop_index("bookings_resource_time", table_name="bookings")
    op.drop_index("bookings_coworker_resource", table_name="bookings")
    op.drop_table("bookings")
    op.drop_index(op.f("ix_resources_business_id"), table_name="resources")
    op.drop_table("resources")
    op.drop_index(op.f("ix_coworkers_email"), table_name="coworkers")
    op.drop_index(op.f("ix_coworkers_business_id"), table_name="coworkers")
    op.drop_table("coworkers")
    op.drop_index(op.f("ix_api_tokens_user_id"), table_name="api_tokens")
    op.drop_index(op.f("ix_api_tokens_expires_at"), table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_table("spacecal_meta")
    op.drop_table("businesses")
    op.drop_table("api_users")
