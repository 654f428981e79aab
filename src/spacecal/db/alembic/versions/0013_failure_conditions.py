"""Renewal keeps its own failure condition beside the sync's; health is derived.

Sync and renewal used to share `connections.health` and `last_error`, telling whose
error it was by a text prefix ("Keeping the calendar's push alive failed: "). The
renewal now records its failures in `renewal_error` / `renewal_error_at` (beside its
`renewal_failures` and `renewal_retry_at`), and the health shown is derived from both
by `spacecal_connection_health(...)`, defined here once and used by the records API,
the portal, the console and the CLI (spacecal/db/conditions.py) and by the outbound
webhook trigger, which announces transitions of that derived health (a failing
renewal still sends CoworkerCalendarSyncFail, as it did when it wrote `health`).

Upgrading moves a renewal's error out of `last_error`; a connection that was failing
only because of it goes back to the sync's "healthy" (its derived health stays
"failing" until the renewal succeeds).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

PREFIX = "Keeping the calendar's push alive failed: "

# The renewal's condition is the one shown when it failed, the account does not need
# a reconnect, and the sync is not failing with a later error of its own. IMMUTABLE
# plain SQL: the planner inlines it into the queries that filter on it.
RENEWAL_SHOWN = """
CREATE FUNCTION spacecal_renewal_shown(
    health text, renewal_error text, renewal_error_at timestamptz, last_error_at timestamptz
) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT renewal_error IS NOT NULL AND health <> 'needs_reconnect'
       AND (health NOT IN ('failing', 'error') OR last_error_at IS NULL
            OR renewal_error_at >= last_error_at)
$$
"""
CONNECTION_HEALTH = """
CREATE FUNCTION spacecal_connection_health(
    health text, renewal_error text, renewal_error_at timestamptz, last_error_at timestamptz
) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN spacecal_renewal_shown(health, renewal_error, renewal_error_at,
                                            last_error_at)
                THEN 'failing' ELSE health END
$$
"""


def _health(row: str) -> str:
    return (
        f"spacecal_connection_health({row}.health, {row}.renewal_error,"
        f" {row}.renewal_error_at, {row}.last_error_at)"
    )


# 0008's function, with the derived health in place of the stored column.
CONNECTIONS_FUNCTION = f"""
CREATE OR REPLACE FUNCTION spacecal_outbound_connections() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    old_health text;
    new_health text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM spacecal_outbound_defer('CoworkerCalendarDisconnect', 'Connection',
                                        to_jsonb(OLD) - 'delta_link');
        RETURN NULL;
    END IF;
    new_health := {_health("NEW")};
    IF TG_OP = 'INSERT' THEN
        IF new_health = 'healthy' THEN
            PERFORM spacecal_outbound_defer('CoworkerCalendarConnect', 'Connection',
                                            to_jsonb(NEW) - 'delta_link');
        END IF;
        RETURN NULL;
    END IF;
    old_health := {_health("OLD")};
    IF new_health IS DISTINCT FROM old_health THEN
        IF new_health = 'healthy'
           AND old_health IN ('new', 'provisioning', 'error', 'needs_reconnect') THEN
            PERFORM spacecal_outbound_defer('CoworkerCalendarConnect', 'Connection',
                                            to_jsonb(NEW) - 'delta_link');
        ELSIF new_health = 'needs_reconnect' THEN
            PERFORM spacecal_outbound_defer('CoworkerCalendarNeedsReconnect', 'Connection',
                                            to_jsonb(NEW) - 'delta_link');
        ELSIF new_health IN ('failing', 'error') AND old_health NOT IN ('failing', 'error') THEN
            PERFORM spacecal_outbound_defer('CoworkerCalendarSyncFail', 'Connection',
                                            to_jsonb(NEW) - 'delta_link');
        END IF;
    END IF;
    RETURN NULL;
END
$$
"""

# 0008's function as it was (for the downgrade).
OLD_CONNECTIONS_FUNCTION = """
CREATE OR REPLACE FUNCTION spacecal_outbound_connections() RETURNS trigger
LANGUAGE plpgsql AS $$
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


def _update_trigger(changed: str) -> None:
    op.execute("DROP TRIGGER connections_outbound_update ON connections")
    op.execute(
        "CREATE TRIGGER connections_outbound_update AFTER UPDATE ON connections"
        f" FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION spacecal_outbound_connections()"
    )


def upgrade() -> None:
    op.add_column("connections", sa.Column("renewal_error", sa.Text()))
    op.add_column("connections", sa.Column("renewal_error_at", sa.DateTime(timezone=True)))
    op.execute(RENEWAL_SHOWN)
    op.execute(CONNECTION_HEALTH)
    op.execute(CONNECTIONS_FUNCTION)
    _update_trigger(f"{_health('OLD')} IS DISTINCT FROM {_health('NEW')}")
    # The derived health of the rows moved here does not change: no announcements.
    op.execute(
        sa.text(
            "UPDATE connections SET renewal_error = last_error,"
            " renewal_error_at = last_error_at, last_error = NULL, last_error_at = NULL,"
            " health = CASE WHEN health = 'failing' AND consecutive_failures = 0"
            " THEN 'healthy' ELSE health END"
            " WHERE starts_with(last_error, :prefix)"
        ).bindparams(prefix=PREFIX)
    )


def downgrade() -> None:
    op.execute(
        "UPDATE connections SET last_error = renewal_error,"
        " last_error_at = renewal_error_at, health = 'failing'"
        " WHERE spacecal_renewal_shown(health, renewal_error, renewal_error_at, last_error_at)"
    )
    _update_trigger("OLD.health IS DISTINCT FROM NEW.health")
    op.execute(OLD_CONNECTIONS_FUNCTION)
    op.execute("DROP FUNCTION spacecal_connection_health(text, text, timestamptz, timestamptz)")
    op.execute("DROP FUNCTION spacecal_renewal_shown(text, text, timestamptz, timestamptz)")
    op.drop_column("connections", "renewal_error_at")
    op.drop_column("connections", "renewal_error")
