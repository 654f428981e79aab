"""Outbound webhooks: the WebHook record (`/api/sys/webhooks`).

One row per subscriber URL and action. The secret is stored encrypted with the
TokenCipher (never returned); `error_count` counts consecutive failed deliveries and
`active` turns false once it reaches the configured limit, with `last_error` saying why.

Deliveries are procrastinate jobs deferred by row triggers on `bookings` and
`connections`, so every writer (records API, portal, sync commit, keep-alive, token
refresh, disconnect) is covered and the job commits or rolls back with the change.
The trigger stores a snapshot of the row (`to_jsonb`); the delivery task renders it
into the record's API shape (spacecal.outbound.render). Queue and task names here
must match spacecal.outbound.actions.

Since migration 0012 the trigger writes a job outbox row instead of deferring the
job itself (only jobs/ calls procrastinate); the dispatcher turns the rows into jobs.

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

    op.execute(DEFER_FUNCTION)
    op.execute(BOOKINGS_FUNCTION)
    op.execute(CONNECTIONS_FUNCTION)
    # WHEN clauses keep the hot paths (notification marks, writeback ids) out of plpgsql.
    for table, function, changed in (
        ("bookings", "spacecal_outbound_bookings", _BOOKING_CHANGED),
        ("connections", "spacecal_outbound_connections", _HEALTH_CHANGED),
    ):
        op.execute(
            f"CREATE TRIGGER {table}_outbound_write AFTER INSERT OR DELETE ON {table}"
            f" FOR EACH ROW EXECUTE FUNCTION {function}()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_outbound_update AFTER UPDATE ON {table}"
            f" FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION {function}()"
        )


_BOOKING_CHANGED = (
    "OLD.version IS DISTINCT FROM NEW.version OR OLD.cancelled_at IS DISTINCT FROM NEW.cancelled_at"
)
_HEALTH_CHANGED = "OLD.health IS DISTINCT FROM NEW.health"

# One delivery job per active webhook of the action; nothing (one index probe) when
# there is none. No `now()`: the job runs as soon as a worker takes it.
DEFER_FUNCTION = """
CREATE FUNCTION spacecal_outbound_defer(p_action text, p_record text, p_snapshot jsonb)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhooks WHERE active AND action = p_action) THEN
        RETURN;
    END IF;
    PERFORM procrastinate_defer_jobs_v1(ARRAY(
        SELECT ROW('outbound', 'spacecal.outbound.deliver', 0, NULL, NULL,
                   jsonb_build_object('webhook_id', w.id, 'action', p_action,
                                      'record', p_record, 'snapshot', p_snapshot),
                   NULL)::procrastinate_job_to_defer_v1
        FROM webhooks w WHERE w.active AND w.action = p_action ORDER BY w.id));
END
$$
"""

# Every booking change bumps `version`: a new version is a change to announce; a
# repeated DELETE of a cancelled booking (no new version) is not.
BOOKINGS_FUNCTION = """
CREATE FUNCTION spacecal_outbound_bookings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.cancelled_at IS NULL THEN
            PERFORM spacecal_outbound_defer('BookingCreate', 'Booking', to_jsonb(NEW));
        END IF;
    ELSIF TG_OP = 'UPDATE' THEN
        IF NEW.cancelled_at IS NOT NULL AND OLD.cancelled_at IS NULL THEN
            PERFORM spacecal_outbound_defer('BookingDelete', 'Booking', to_jsonb(NEW));
        ELSIF NEW.cancelled_at IS NULL AND NEW.version IS DISTINCT FROM OLD.version THEN
            PERFORM spacecal_outbound_defer('BookingUpdate', 'Booking', to_jsonb(NEW));
        END IF;
    ELSIF OLD.cancelled_at IS NULL THEN
        PERFORM spacecal_outbound_defer('BookingDelete', 'Booking', to_jsonb(OLD));
    END IF;
    RETURN NULL;
END
$$
"""

# Transitions of `health`, not states: a connection that keeps failing is announced
# once, when it starts. The Graph delta link stays out of the snapshot.
CONNECTIONS_FUNCTION = """
CREATE FUNCTION spacecal_outbound_connections() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM spacecal_outbound_defer('CoworkerCalendarDisconnect', 'Connection',
                                        to_jsonb(OLD) - 'delta_link');
    ELSIF TG_OP = 'INSERT' THEN
        IF NEW.health = 'healthy' THEN
            PERFORM spacecal_outbound_defer('CoworkerCalendarConnect', 'Connection',
                                            to_jsonb(NEW) - 'delta_link');
        END IF;
    ELSIF NEW.health IS DISTINCT FROM OLD.health THEN
        IF NEW.health = 'healthy'
           AND OLD.health IN ('new', 'provisioning', 'error', 'needs_reconnect') THEN
            PERFORM spacecal_outbound_defer('CoworkerCalendarConnect', 'Connection',
                                            to_jsonb(NEW) - 'delta_link');
        ELSIF NEW.health = 'needs_reconnect' THEN
            PERFORM spacecal_outbound_defer('CoworkerCalendarNeedsReconnect', 'Connection',
                                            to_jsonb(NEW) - 'delta_link');
        ELSIF NEW.health IN ('failing', 'error') AND OLD.health NOT IN ('failing', 'error') THEN
            PERFORM spacecal_outbound_defer('CoworkerCalendarSyncFail', 'Connection',
                                            to_jsonb(NEW) - 'delta_link');
        END IF;
    END IF;
    RETURN NULL;
END
$$
"""


def downgrade() -> None:
    for table in ("bookings", "connections"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_outbound_write ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_outbound_update ON {table}")
    op.execute("DROP FUNCTION IF EXISTS spacecal_outbound_connections()")
    op.execute("DROP FUNCTION IF EXISTS spacecal_outbound_bookings()")
    op.execute("DROP FUNCTION IF EXISTS spacecal_outbound_defer(text, text, jsonb)")
    op.drop_index("webhooks_active_action", table_name="webhooks")
    op.drop_table("webhooks")
